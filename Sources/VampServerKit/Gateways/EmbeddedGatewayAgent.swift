import Foundation
import GatewayAgent
import KVStores
import Logging
import ServiceLifecycle
import Synchronization
import VampCore
import VampModel
import VampPulse

/// The gateway agent inside `vamp-server`: watches the key the synchroniser writes, in the very same store
/// instance, and keeps HAProxy on it. It leaves HAProxy serving when the server stops (SIGTERM or SIGKILL), and
/// the next start on the same work directory takes that master over and reloads it (no connection refused), so
/// restarting the server never stops the traffic. A failure of the agent is logged and shown in `GET /info`; it
/// never ends the server's service group.
final class EmbeddedGatewayAgent: ServiceLifecycle.Service, Sendable {
    let agent: GatewayAgent
    let failure: Mutex<String?>
    let logger: Logger

    /// `pulseSink` receives the agent's Pulse buckets once a second (the server's window); nil: Pulse counts for the
    /// agent's own metrics only.
    init(
        settings: EmbeddedAgentSettings, executable: String, key: String, store: any KeyValueStore, logger: Logger,
        pulseSink: (@Sendable ([PulseBucket]) async -> Void)? = nil
    ) {
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
        configuration.pulse = .init(enabled: settings.pulse, sink: pulseSink)
        if let note = settings.logNote { logger.warning("\(note)") }
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

    /// The `gateway_agent` section of `GET /info`: the agent's live state, and `configuration`: `applied` when
    /// HAProxy runs the text of the gateways as they are now (what `vamp ... --wait` waits for), `partial` when it runs
    /// that text but for the gateways in `left_out` (gateway → why: a port it cannot bind, sections it refuses; the
    /// agent tries a busy port again with backoff), `pending` while a change is on its way to it.
    func information(gateways vamp: Vamp) async -> JSONValue {
        let snapshot = agent.metrics.snapshot
        var object: [String: JSONValue] = [
            "embedded": .bool(true),
            "haproxy": .string(snapshot.haproxyRunning ? "running" : "down"),
            "reloads": .number(String(snapshot.reloads)),
            "work_directory": .string(agent.configuration.workDirectory.path),
            "key": .string(agent.configuration.key),
            "store": .string(snapshot.storeReachable.map { $0 ? "reachable" : "unreachable" } ?? "connecting"),
        ]
        let failure = failure.withLock { $0 }
        if let failure { object["error"] = .string(failure) }
        if let lastError = snapshot.lastError { object["last_error"] = .string(lastError) }
        if let startError = snapshot.haproxyStartError { object["haproxy_error"] = .string(startError) }
        if !snapshot.failedServices.isEmpty { object["failed_services"] = .object(snapshot.failedServices.mapValues(JSONValue.string)) }
        if !snapshot.leftOutGateways.isEmpty { object["left_out"] = .object(snapshot.leftOutGateways.mapValues(JSONValue.string)) }
        object["healthy"] = .bool(snapshot.haproxyRunning && snapshot.lastError == nil && snapshot.storeReachable != false && failure == nil)
        if let rendered = try? await vamp.gatewayConfiguration().stored {
            object["configuration"] = .string(
                snapshot.appliedConfiguration != rendered ? "pending" : snapshot.leftOutGateways.isEmpty ? "applied" : "partial")
        }
        return .object(object)
    }
}
