import Foundation
import HTTPTypes
import Hummingbird
import VampCore
import VampPulse
import Yams

/// Pulse over HTTP: `POST /pulse`, where separate gateway agents send their one-second buckets (a token with the
/// role `agent` may do this and nothing else), and `GET /metrics/...?window=60s`, the figures of a gateway, route,
/// deployment, cluster or service over a window, in JSON or YAML.
struct PulseHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    /// What an agent sends.
    struct Delivery: Decodable {
        var buckets: [PulseBucket]
    }

    /// The most buckets one request may carry: an agent's backlog of a minute, from a few agents behind one relay.
    static let maximumBuckets = 600

    /// `POST /pulse`: keeps the buckets; 202 with how many were kept and how many refused (a clock far from the
    /// server's).
    func receive(_ request: Request) async throws -> Response {
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send {\"buckets\": [...]} as a gateway agent does")
        }
        let delivery: Delivery
        do {
            delivery = try JSONDecoder().decode(Delivery.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw OperationError(.invalid, "the pulse buckets do not read: \(Self.describe(error))")
        }
        guard delivery.buckets.count <= Self.maximumBuckets else {
            throw OperationError(.invalid, "\(delivery.buckets.count) buckets in one request; send at most \(Self.maximumBuckets)")
        }
        let outcome = await vamp.pulse.receive(delivery.buckets)
        return APIAnswer.json(["accepted": outcome.accepted, "refused": outcome.refused], status: .accepted)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? context.debugDescription : "at \(path.hasPrefix(".") ? String(path.dropFirst()) : path): \(context.debugDescription)"
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): return path(context)
        case .keyNotFound(let key, let context): return "\(path(context)) (the field '\(key.stringValue)' is missing)"
        @unknown default: return "\(error)"
        }
    }

    // MARK: Figures over a window

    /// The window of `?window=`: `60s`, `5m`, or seconds; a longer one than Pulse keeps is cut to what it keeps.
    func window(_ request: Request) throws(OperationError) -> Duration {
        let text = request.uri.queryParameters["window"].map(String.init) ?? "60s"
        let retention = vamp.pulse.configuration.window.retention
        var digits = Substring(text)
        var unit: Int64 = 1
        if digits.hasSuffix("s") { digits = digits.dropLast() } else if digits.hasSuffix("m") { digits = digits.dropLast(); unit = 60 }
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy(\.isASCII), let value = Int64(digits), value > 0 else {
            throw OperationError(.invalid, "query parameter window is '\(QueryParameters.shown(text))'; use a duration such as 60s or 5m (vamp-server keeps \(retention)s)")
        }
        return .seconds(min(value * unit, retention))
    }

    /// What `GET /metrics/...?window=` answers: the subject, the window and its figures, with those of the
    /// gateway's routes or the route's instances.
    struct FiguresAnswer: Encodable {
        var window: Int64
        var gateway: String?
        var route: String?
        var deployment: String?
        var cluster: String?
        var service: String?
        var figures: PulseSummary
        var routes: [String: PulseSummary]?
        var instances: [String: PulseSummary]?
    }

    /// `GET /metrics/gateways/{g}[/routes/{r}]?window=` and `/metrics/deployments/{d}[/clusters/{c}[/services/{s}]]?window=`.
    func figures(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let window = try window(request)
        let seconds = Int64(window.components.seconds)
        let path = SystemHandlers.path(context)
        guard let first = path.first, path.count >= 2 else { return Response(status: .notFound) }
        let pulse = vamp.pulse
        // The names are those of the gateways as rendered now.
        _ = try await vamp.gatewayConfiguration()
        let rest = Array(path.dropFirst())
        let answer: FiguresAnswer
        switch first {
        case "gateways":
            if let index = rest.lastIndex(of: "routes"), index > 0, index < rest.count - 1 {
                let gateway = rest[..<index].joined(separator: "/"), route = rest[(index + 1)...].joined(separator: "/")
                guard let figures = await pulse.figures(gateway: gateway, route: route, window: window) else { return Response(status: .notFound) }
                let instances = await pulse.instanceFigures(gateway: gateway, route: route, window: window)
                answer = FiguresAnswer(
                    window: seconds, gateway: gateway, route: route, figures: PulseSummary(figures, window: seconds),
                    instances: instances.mapValues { PulseSummary($0, window: seconds) })
            } else {
                let gateway = rest.joined(separator: "/")
                guard let figures = await pulse.figures(gateway: gateway, window: window) else { return Response(status: .notFound) }
                var routes: [String: PulseSummary] = [:]
                for route in await pulse.names.routes(of: gateway) {
                    if let figures = await pulse.figures(gateway: gateway, route: route, window: window) { routes[route] = PulseSummary(figures, window: seconds) }
                }
                answer = FiguresAnswer(window: seconds, gateway: gateway, figures: PulseSummary(figures, window: seconds), routes: routes)
            }
        case "deployments":
            guard rest.count == 1 || (rest.count == 3 && rest[1] == "clusters") || (rest.count == 5 && rest[1] == "clusters" && rest[3] == "services") else {
                return Response(status: .notFound)
            }
            let cluster = rest.count >= 3 ? rest[2] : nil, service = rest.count == 5 ? rest[4] : nil
            guard let figures = await pulse.figures(deployment: rest[0], cluster: cluster, service: service, window: window) else {
                return Response(status: .notFound)
            }
            answer = FiguresAnswer(window: seconds, deployment: rest[0], cluster: cluster, service: service, figures: PulseSummary(figures, window: seconds))
        default:
            return Response(status: .notFound)
        }
        return try Self.render(answer, request)
    }

    static func render(_ answer: FiguresAnswer, _ request: Request) throws -> Response {
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        let text: String
        if format == .yaml {
            text = try YAMLEncoder().encode(answer)
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            text = String(decoding: try encoder.encode(answer), as: UTF8.self)
        }
        return Response(status: .ok, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
