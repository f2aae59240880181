import Foundation
import GatewayAgent
import Hummingbird
import KVStores
import Logging
import ServiceLifecycle
import Synchronization
import VampCore

/// The gateway agent inside `vamp-server`: watches the key the synchroniser writes, in the very same store
/// instance, and keeps HAProxy on it. It leaves HAProxy serving when the server stops (SIGTERM or SIGKILL), and
/// the next start on the same work directory takes that master over and reloads it (no connection refused), so
/// restarting the server never stops the traffic. A failure of the agent is logged and shown in `GET /info`; it
/// never ends the server's service group.
final class EmbeddedGatewayAgent: Service, Sendable {
    let agent: GatewayAgent
    let failure: Mutex<String?>
    let logger: Logger

    init(settings: EmbeddedAgentSettings, executable: String, key: String, store: any KeyValueStore, logger: Logger) {
        var configuration = GatewayAgentConfiguration(
            key: key,
            workDirectory: settings.workDirectory,
            haproxyExecutable: executable,
            haproxyOutput: settings.workDirectory.appendingPathComponent("haproxy.log"),
            logPort: settings.logPort,
            logSocket: settings.logSocket,
            logstash: settings.logstash,
            statusAddress: settings.status)
        configuration.leavesHAProxyRunning = true
        self.agent = GatewayAgent(configuration: configuration, store: store, logger: logger)
        self.failure = Mutex(nil)
        self.logger = logger
    }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { [agent] in try await agent.run() }
        } catch is CancellationError {
            return
        } catch {
            failure.withLock { $0 = "\(error)" }
            logger.error("the embedded gateway agent stopped; the API keeps serving and HAProxy, if it runs, keeps its configuration", metadata: [
                "vamp.error": "\(error)",
            ])
        }
        // Returning would end the server's service group: wait for its shutdown instead.
        try? await gracefulShutdown()
    }

    /// The `gateway_agent` section of `GET /info`: the agent's live state.
    var status: [String: Any] {
        let snapshot = agent.metrics.snapshot
        var object: [String: Any] = [
            "embedded": true,
            "haproxy": snapshot.haproxyRunning ? "running" : "down",
            "reloads": snapshot.reloads,
            "work_directory": agent.configuration.workDirectory.path,
            "key": agent.configuration.key,
            "store": snapshot.storeReachable.map { $0 ? "reachable" : "unreachable" } ?? "connecting",
        ]
        if let error = failure.withLock({ $0 }) { object["error"] = error }
        if let lastError = snapshot.lastError { object["last_error"] = lastError }
        if let startError = snapshot.haproxyStartError { object["haproxy_error"] = startError }
        if !snapshot.failedServices.isEmpty { object["failed_services"] = snapshot.failedServices }
        object["healthy"] = snapshot.haproxyRunning && snapshot.lastError == nil && snapshot.storeReachable != false
            && failure.withLock({ $0 }) == nil
        return object
    }
}

/// The API's routes, with the embedded agent's live state put in the `gateway_agent` section of
/// `GET /api/v1/info` (the API's own section holds only the settings, read once at start).
struct AgentInformationResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let routes: RouterResponder<BasicRequestContext>
    let agent: EmbeddedGatewayAgent?
    /// The default namespace, whose gateways the agent serves.
    let vamp: Vamp

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let response = try await routes.respond(to: request, context: context)
        guard let agent, request.method == .get, request.uri.path == "/api/v1/info", response.status == .ok else { return response }
        let asked = request.uri.queryParameters.getAll("on").map { String($0) }
        guard asked.isEmpty || asked.contains("gateway_agent") || asked.contains("gateway-agent") else { return response }
        let collected = BodyCollector()
        try await response.body.write(collected)
        // `configuration`: `applied` when HAProxy runs the text of the gateways as they are now (what `vamp ... --wait`
        // waits for), `pending` while a change is on its way to it.
        var status = agent.status
        if let rendered = try? await vamp.gatewayConfiguration().text {
            status["configuration"] = agent.agent.metrics.snapshot.appliedConfiguration == rendered ? "applied" : "pending"
        }
        guard var object = (try? JSONSerialization.jsonObject(with: collected.data)) as? [String: Any],
              let data = try? JSONSerialization.data(withJSONObject: { object["gateway_agent"] = status; return object }(),
                                                     options: [.sortedKeys, .withoutEscapingSlashes])
        else { return response }
        var answered = response
        answered.headers[.contentLength] = nil
        answered.body = ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        return answered
    }
}

/// Collects a response body in memory (a small one: `/info`).
struct BodyCollector: ResponseBodyWriter {
    final class Bytes: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }
    let storage = Bytes()
    var data: Data { storage.bytes.withLock { Data($0) } }

    func write(_ part: ByteBuffer) async throws {
        storage.bytes.withLock { $0 += part.readableBytesView }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
