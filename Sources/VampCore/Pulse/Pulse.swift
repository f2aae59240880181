import Foundation
import Metrics
public import VampConcurrency
public import VampPulse

/// What the gateways see, on the server: the buckets every gateway agent sends (``receive(_:)``), merged exactly in a
/// bounded window (`VampPulse.PulseWindow`), read per gateway, route, instance, service, cluster or deployment by the names
/// the gateways were last rendered with. The figures behind `GET /api/v1/metrics/...?window=`, the health, metrics
/// and allocation events, the SLA monitor and the Prometheus series.
public actor Pulse {
    /// Settings of Pulse.
    public struct Configuration: Sendable {
        /// What the window keeps (ten minutes by default: the last minute by second and agent, the rest in 10 s slots).
        public var window: PulseWindow.Configuration
        /// How often the health, metrics and allocation events are published (`vamp.pulse.period`, 5 s).
        public var period: Duration
        /// The window the health of the events covers (`vamp.operation.health.window`, 30 s).
        public var healthWindow: Duration
        /// The window the metrics events cover (`vamp.operation.metrics.window`, 30 s).
        public var metricsWindow: Duration
        /// A health below this share of answers without a 5xx reads 0 (`vamp.pulse.health.floor`, 0: health is the
        /// share itself; 1 gives Vamp 0.9.5's rule, any 5xx in the window is 0).
        public var healthFloor: Double

        /// Creates a configuration.
        public init(
            window: PulseWindow.Configuration = .init(), period: Duration = .seconds(5),
            healthWindow: Duration = .seconds(30), metricsWindow: Duration = .seconds(30), healthFloor: Double = 0
        ) {
            self.window = window
            self.period = period
            self.healthWindow = healthWindow
            self.metricsWindow = metricsWindow
            self.healthFloor = min(max(healthFloor, 0), 1)
        }
    }

    /// The settings.
    public nonisolated let configuration: Configuration
    let clock: any VampClock
    var window: PulseWindow
    /// The names of the gateways as last rendered.
    public private(set) var names = PulseNames()
    /// Buckets received since the start, and lines in them from frontends no gateway has (counted, not shown).
    public private(set) var received: (buckets: UInt64, unknownRequests: UInt64) = (0, 0)
    let series: PulseSeries
    /// Totals for `/metrics`: what HAProxy counted and what the agents logged for the same frontends (a difference
    /// that lasts is log lines lost on the way), lines the agents could not read, buckets refused.
    let totals = (
        haproxy: Counter(label: "vamp_pulse_haproxy_requests_total"),
        logged: Counter(label: "vamp_pulse_logged_requests_total"),
        unparsed: Counter(label: "vamp_pulse_unparsed_lines_total"),
        refused: Counter(label: "vamp_pulse_refused_buckets_total"),
        unknown: Counter(label: "vamp_pulse_unknown_requests_total"))

    /// Creates an empty Pulse.
    public init(configuration: Configuration = Configuration(), clock: any VampClock = SystemClock()) {
        self.configuration = configuration
        self.clock = clock
        self.window = PulseWindow(configuration: configuration.window)
        self.series = PulseSeries()
    }

    var nowSecond: Int64 { Int64(clock.now.timeIntervalSince1970.rounded(.down)) }

    /// The last `duration` of complete seconds (the current second is still being counted by the agents).
    func seconds(_ duration: Duration) -> ClosedRange<Int64> {
        let now = nowSecond
        let length = max(1, Int64(duration.components.seconds))
        return (now - length)...(now - 1)
    }

    /// Keeps the buckets an agent sent; returns how many were kept and how many refused (a second too far from the
    /// server's clock).
    @discardableResult
    public func receive(_ buckets: [PulseBucket]) -> (accepted: Int, refused: Int) {
        let now = nowSecond
        var accepted = 0, refused = 0
        for bucket in buckets {
            received.buckets += 1
            switch window.insert(bucket, now: now) {
            case .accepted:
                accepted += 1
                var logged: UInt64 = 0
                for entry in bucket.entries {
                    if names.knows(entry.key) {
                        series.record(entry, names: names)
                    } else {
                        received.unknownRequests += entry.figures.requests
                        totals.unknown.increment(by: Int64(clamping: entry.figures.requests))
                    }
                    if bucket.haproxyCounts != nil { logged += entry.figures.requests }
                }
                totals.logged.increment(by: Int64(clamping: logged))
                totals.haproxy.increment(by: Int64(clamping: bucket.haproxyCounts?.values.reduce(0, +) ?? 0))
                totals.unparsed.increment(by: Int64(clamping: bucket.unparsed))
            case .replaced:
                // A retry of a second already counted: the window holds it once, the running totals too.
                accepted += 1
            case .ahead, .tooOld:
                refused += 1
                totals.refused.increment()
            }
        }
        return (accepted, refused)
    }

    /// Takes the names of the gateways as rendered now; the Prometheus series of gateways and routes that are gone are
    /// removed.
    public func update(names: PulseNames) {
        guard names != self.names else { return }
        self.names = names
        series.keep(names)
    }

    // MARK: Reading

    /// The figures of gateway `gateway` (or of its route `route`) over the last `window`; `nil` when no such gateway
    /// or route is served.
    public func figures(gateway: String, route: String? = nil, window duration: Duration) -> PulseFigures? {
        guard let frontend = route.map({ names.frontend(gateway: gateway, route: $0) }) ?? names.frontend(gateway: gateway) else { return nil }
        return window.figures(seconds(duration)) { $0.frontend == frontend }
    }

    /// The figures of `route` of `gateway` over the given whole seconds (since 1970), or `nil` when the route is not
    /// served: a reader that keeps its own position (a release) counts every second once.
    public func figures(gateway: String, route: String, seconds: ClosedRange<Int64>) -> PulseFigures? {
        guard let frontend = names.frontend(gateway: gateway, route: route) else { return nil }
        return window.figures(seconds) { $0.frontend == frontend }
    }

    /// The current second of Pulse's clock (since 1970); the agents are still counting it.
    public var currentSecond: Int64 { nowSecond }

    /// The figures of each instance (by name) of `route` of `gateway` over the last `window`.
    public func instanceFigures(gateway: String, route: String, window duration: Duration) -> [String: PulseFigures] {
        guard let frontend = names.frontend(gateway: gateway, route: route) else { return [:] }
        let servers = names.instances[frontend] ?? [:]
        var figures: [String: PulseFigures] = [:]
        for (key, value) in window.figuresByKey(seconds(duration)) where key.frontend == frontend {
            guard let instance = servers[key.server] else { continue }
            figures[instance, default: PulseFigures()].add(value)
        }
        return figures
    }

    /// The figures of a deployment's cluster port gateways (`deployment/cluster/port`), narrowed to a cluster and to a
    /// service's routes when given; `nil` when none is served.
    public func figures(deployment: String, cluster: String? = nil, service: String? = nil, window duration: Duration) -> PulseFigures? {
        let frontends = self.frontends(deployment: deployment, cluster: cluster, service: service)
        guard !frontends.isEmpty else { return nil }
        return window.figures(seconds(duration)) { frontends.contains($0.frontend) }
    }

    /// The frontends that count a deployment's (cluster's, service's) requests: its cluster gateways', or, for a
    /// service, its routes in them (one per port).
    func frontends(deployment: String, cluster: String?, service: String?) -> Set<String> {
        var frontends = Set<String>()
        for (frontend, gateway) in names.gateways {
            let parts = gateway.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == deployment, cluster.map({ parts[1] == $0 }) ?? true else { continue }
            if service == nil { frontends.insert(frontend) }
        }
        if let service {
            for (frontend, route) in names.routes {
                let gateway = route.gateway.split(separator: "/", omittingEmptySubsequences: false)
                let path = route.route.split(separator: "/", omittingEmptySubsequences: false)
                guard gateway.count == 3, gateway[0] == deployment, cluster.map({ gateway[1] == $0 }) ?? true,
                      path.count == 4, path[2] == service else { continue }
                frontends.insert(frontend)
            }
        }
        return frontends
    }

    /// What came in over the last `window`, to see lost lines: the requests HAProxy counted and the lines the agents
    /// counted (both from the agents that read HAProxy's counters), and the lines that could not be read.
    public func accounting(window duration: Duration) -> (unparsed: UInt64, haproxy: UInt64, counted: UInt64) {
        let accounting = window.accounting(seconds(duration))
        return (accounting.unparsed, accounting.haproxy.values.reduce(0, +), accounting.counted.values.reduce(0, +))
    }

    /// Buckets refused (an agent's clock too far from the server's) since the start.
    public var refused: PulseWindow.Counters { window.counters }

    /// Forgets what is past the window's retention (called by the publisher at every period).
    public func compact() { window.compact(now: nowSecond) }
}

extension Pulse {
    /// The figures of every served gateway and route over the health and metrics windows, for ``PulseEvents``.
    public func windows() -> (gateways: [String: PulseEvents.Windows], routes: [PulseNames.RouteName: PulseEvents.Windows]) {
        let health = window.figuresByKey(seconds(configuration.healthWindow))
        let metrics = window.figuresByKey(seconds(configuration.metricsWindow))
        var gateways: [String: PulseEvents.Windows] = [:]
        var routes: [PulseNames.RouteName: PulseEvents.Windows] = [:]
        for (_, gateway) in names.gateways { gateways[gateway] = PulseEvents.Windows(health: PulseFigures(), metrics: PulseFigures()) }
        for (_, route) in names.routes { routes[route] = PulseEvents.Windows(health: PulseFigures(), metrics: PulseFigures()) }
        for (figures, isHealth) in [(health, true), (metrics, false)] {
            for (key, value) in figures {
                if let gateway = names.gateways[key.frontend] {
                    if isHealth { gateways[gateway]?.health.add(value) } else { gateways[gateway]?.metrics.add(value) }
                } else if let route = names.routes[key.frontend] {
                    if isHealth { routes[route]?.health.add(value) } else { routes[route]?.metrics.add(value) }
                }
            }
        }
        return (gateways, routes)
    }
}
