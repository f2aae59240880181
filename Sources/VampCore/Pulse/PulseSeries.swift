import Metrics
import Synchronization
import VampPulse

/// The Prometheus series of the gateways' figures, through swift-metrics (the server's factory exports them at
/// `/metrics`): per gateway and per route, `..._requests_total` by status class and `..._response_time_seconds` (a
/// histogram of the total time `Tt`). The labels are gateways and routes that exist: a series of a gateway or route
/// that is gone is removed (``keep(_:)``), so the label sets stay bounded.
final class PulseSeries: Sendable {
    struct Subject: Hashable {
        var gateway: String
        var route: String?
    }

    struct Series {
        var requests: [String: Counter] = [:]
        var responseTime: Timer
    }

    static let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"]
    private let series = Mutex<[Subject: Series]>([:])

    init() {}

    /// Adds an entry's requests to its gateway's or route's series.
    func record(_ entry: PulseBucket.Entry, names: PulseNames) {
        let subject: Subject
        if let gateway = names.gateways[entry.key.frontend] {
            subject = Subject(gateway: gateway, route: nil)
        } else if let route = names.routes[entry.key.frontend] {
            subject = Subject(gateway: route.gateway, route: route.route)
        } else {
            return
        }
        let figures = entry.figures
        series.withLock { all in
            var current = all[subject] ?? Series(responseTime: Timer(label: Self.name(subject, "response_time_seconds"), dimensions: Self.labels(subject)))
            var counted: UInt64 = 0
            for (index, count) in figures.statuses.enumerated() where count > 0 {
                counted += count
                Self.counter(&current, subject, Self.classes[index]).increment(by: Int64(clamping: count))
            }
            if figures.requests > counted { Self.counter(&current, subject, "none").increment(by: Int64(clamping: figures.requests - counted)) }
            for (milliseconds, count) in figures.totalTime.recorded {
                for _ in 0..<count { current.responseTime.recordMilliseconds(Int64(clamping: milliseconds)) }
            }
            all[subject] = current
        }
    }

    static func counter(_ series: inout Series, _ subject: Subject, _ status: String) -> Counter {
        if let counter = series.requests[status] { return counter }
        let counter = Counter(label: name(subject, "requests_total"), dimensions: labels(subject) + [("status", status)])
        series.requests[status] = counter
        return counter
    }

    static func name(_ subject: Subject, _ suffix: String) -> String {
        subject.route == nil ? "vamp_gateway_\(suffix)" : "vamp_route_\(suffix)"
    }

    static func labels(_ subject: Subject) -> [(String, String)] {
        [("gateway", subject.gateway)] + (subject.route.map { [("route", $0)] } ?? [])
    }

    /// Removes the series of gateways and routes `names` does not have.
    func keep(_ names: PulseNames) {
        let gone: [Series] = series.withLock { all in
            let stale = all.keys.filter { subject in
                if let route = subject.route { return names.frontend(gateway: subject.gateway, route: route) == nil }
                return names.frontend(gateway: subject.gateway) == nil
            }
            return stale.compactMap { all.removeValue(forKey: $0) }
        }
        for series in gone {
            for counter in series.requests.values { counter.destroy() }
            series.responseTime.destroy()
        }
    }
}
