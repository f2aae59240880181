#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET /health` (200 while HAProxy runs and the last configuration applied with every gateway, else 503, with a
/// JSON body naming the gateways left out) and `GET /metrics` (Prometheus text) of a gateway agent.
struct StatusServer {
    let host: String
    let port: Int
    let agent: GatewayAgent

    func run() async throws {
        let metrics = agent.metrics
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(StatusHandler(metrics: metrics))
                }
            }
            .bind(host: host, port: port).get()
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

final class StatusHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let metrics: AgentMetrics

    init(metrics: AgentMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let status: HTTPResponseStatus
        let body: String
        let contentType: String
        switch request.uri.split(separator: "?").first.map(String.init) ?? "" {
        case "/health":
            let snapshot = metrics.snapshot
            let health = Health(snapshot)
            status = health.isHealthy ? .ok : .serviceUnavailable
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            body = ((try? encoder.encode(health)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
            contentType = "application/json"
        case "/metrics":
            status = .ok
            body = metrics.prometheus()
            contentType = "text/plain; version=0.0.4"
        default:
            status = .notFound
            body = "not found\n"
            contentType = "text/plain"
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The `/health` body.
struct Health: Encodable {
    var haproxy: String
    var reloads: Int
    var lastError: String?
    var failedServices: [String: String]
    /// Gateways of the text HAProxy does not serve, with why.
    var leftOut: [String: String]
    /// `reachable`, `unreachable` or `connecting` (before the first attempt ended).
    var store: String
    var storeError: String?
    /// Pulse's figures while it runs (nil: off).
    var pulse: PulseHealth?

    init(_ snapshot: AgentMetrics.Snapshot) {
        haproxy = snapshot.haproxyRunning ? "running" : "down"
        reloads = snapshot.reloads
        lastError = snapshot.lastError
        failedServices = snapshot.failedServices
        leftOut = snapshot.leftOutGateways
        store = switch snapshot.storeReachable {
        case true?: "reachable"
        case false?: "unreachable"
        case nil: "connecting"
        }
        storeError = snapshot.storeError
        pulse = PulseHealth(snapshot)
    }

    /// 200 only while HAProxy runs, the text in the store is applied and the store answers: an
    /// unreachable store means the agent cannot know it serves the current configuration.
    var isHealthy: Bool { haproxy == "running" && lastError == nil && store != "unreachable" }

    enum CodingKeys: String, CodingKey {
        case haproxy, reloads, store, pulse
        case lastError = "last_error"
        case leftOut = "left_out"
        case failedServices = "failed_services"
        case storeError = "store_error"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(haproxy, forKey: .haproxy)
        try container.encode(reloads, forKey: .reloads)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(failedServices, forKey: .failedServices)
        try container.encode(leftOut, forKey: .leftOut)
        try container.encode(store, forKey: .store)
        try container.encode(storeError, forKey: .storeError)
        try container.encodeIfPresent(pulse, forKey: .pulse)
    }
}
