import KVStores
import Logging
import ServiceLifecycle

/// Carries out the ``AgentStateMachine``'s actions: hands each event to the machine and routes what it
/// decides to the service that does it (an apply or a status write to the ``ConfigurationApplier``, a start
/// or a restart wait to the ``HAProxySupervisor``) or logs it. Never waits: the services' inboxes are
/// unbounded streams, and each service does its commands one after the other.
struct AgentExecutor: Sendable {
    /// A command of the applier.
    enum ApplierCommand: Sendable {
        /// Apply this text.
        case apply(String)
        /// Wait, then report ``AgentStateMachine/Event/applyTimerFired``.
        case wait(Duration)
        /// Write the status key.
        case writeStatus(error: String?)
    }

    /// A command of the supervisor.
    enum SupervisorCommand: Sendable {
        /// Start HAProxy and watch it until it exits.
        case start
        /// Wait, then report ``AgentStateMachine/Event/restartTimerFired``.
        case restart(after: Duration)
    }

    let agent: GatewayAgent
    let applier: AsyncStream<ApplierCommand>.Continuation
    let supervisor: AsyncStream<SupervisorCommand>.Continuation

    var logger: Logger { agent.logger }
    var key: String { agent.configuration.key }

    /// Hands `event` to the state machine and carries out its actions.
    func send(_ event: AgentStateMachine.Event) {
        for action in agent.decide(event) {
            switch action {
            case .startHAProxy:
                supervisor.yield(.start)
            case .scheduleRestart(let delay):
                logger.warning("restarting HAProxy on the last good configuration", metadata: ["vamp.backoff": "\(delay)"])
                supervisor.yield(.restart(after: delay))
            case .scheduleApply(let delay):
                applier.yield(.wait(delay))
            case .apply(let text):
                applier.yield(.apply(text))
            case .writeStatus(let error):
                applier.yield(.writeStatus(error: error))
            case .logApplyFailed(let reason):
                logger.error("the configuration was not applied", metadata: ["vamp.kv.key": "\(key)", "vamp.error": "\(reason)"])
            case .logKeyDeleted:
                logger.warning("the configuration key does not exist; keeping the running configuration", metadata: ["vamp.kv.key": "\(key)"])
            case .logStoreReachable:
                logger.notice("the KV store is reachable again", metadata: ["vamp.kv.key": "\(key)"])
            case .logStoreUnreachable(let error, let failures):
                logger.warning(
                    "the KV store is unreachable; HAProxy keeps serving the running configuration, retrying with backoff",
                    metadata: ["vamp.kv.key": "\(key)", "vamp.kv.error": "\(error)", "vamp.kv.failures": "\(failures)"])
            }
        }
    }
}

/// Runs `body` until graceful shutdown or cancellation; either ends it quietly.
func untilShutdown(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await cancelWhenGracefulShutdown(body)
    } catch is CancellationError {
    }
}

/// Keeps HAProxy running: starts it (or takes over the master a previous agent left on the work folder),
/// reports when its worker serves and when it exits, and waits out the restart delays the state machine
/// decides. Cancelled (the agent stops), it stops HAProxy, or leaves it serving when
/// ``GatewayAgentConfiguration/leavesHAProxyRunning``.
struct HAProxySupervisor: Service {
    let executor: AgentExecutor
    let commands: AsyncStream<AgentExecutor.SupervisorCommand>
    /// The master left behind on this work folder, taken over on the first start.
    let leftBehind: Int32?

    func run() async throws {
        try await untilShutdown { [executor, commands, leftBehind] in
            var leftBehind = leftBehind
            for await command in commands {
                switch command {
                case .start:
                    let adopted = leftBehind
                    leftBehind = nil
                    await Self.start(executor, adopting: adopted)
                case .restart(let delay):
                    try await Task.sleep(for: delay)
                    executor.send(.restartTimerFired)
                }
                if Task.isCancelled { return }
            }
        }
    }

    /// One master's life: the file put in place, HAProxy started, until it exits.
    static func start(_ executor: AgentExecutor, adopting leftBehind: Int32?) async {
        let agent = executor.agent
        guard !Task.isCancelled else { return }
        do {
            try await agent.prepareConfigurationFile()
            agent.metrics.update { $0.haproxyStarts += 1 }
            let ended = try await agent.haproxy.run(adopting: leftBehind) { _ in executor.send(.haproxyReady) }
            if Task.isCancelled { return }
            agent.logger.error("HAProxy exited", metadata: ["vamp.haproxy.status": "\(ended)"])
            executor.send(.haproxyExited(ended))
        } catch {
            if Task.isCancelled { return }
            agent.logger.error("HAProxy did not start", metadata: ["vamp.error": "\(error)"])
            executor.send(.haproxyStartFailed("\(error)"))
        }
    }
}

/// Applies the texts the state machine picks, one at a time, and writes the status key.
struct ConfigurationApplier: Service {
    let executor: AgentExecutor
    let commands: AsyncStream<AgentExecutor.ApplierCommand>

    func run() async throws {
        try await untilShutdown { [executor, commands] in
            for await command in commands {
                switch command {
                case .apply(let text):
                    let outcome = await executor.agent.apply(text)
                    if Task.isCancelled { return }
                    executor.send(outcome)
                case .wait(let delay):
                    try await Task.sleep(for: delay)
                    executor.send(.applyTimerFired)
                case .writeStatus(let error):
                    await executor.agent.writeStatus(state: error == nil ? "applied" : "failed", error: error)
                }
            }
        }
    }
}

/// Watches the key in the store and reports its values and the store's reachability. The watch ending
/// while the agent runs (the store refused the key or the watch) is an error that ends the agent.
struct StoreWatcher: Service {
    let executor: AgentExecutor

    func run() async throws {
        try await untilShutdown { [executor] in
            let agent = executor.agent
            let key = agent.configuration.key
            for await event in agent.store.watch(key).events() {
                switch event {
                case .change(.value(let entry)):
                    agent.metrics.update { $0.updates += 1 }
                    executor.send(.valueArrived(String(decoding: entry.value, as: UTF8.self)))
                case .change(.deleted):
                    executor.send(.keyDeleted)
                case .reachable:
                    executor.send(.storeReachable)
                case .unreachable(let error):
                    executor.send(.storeUnreachable(error))
                }
            }
            if !Task.isCancelled {
                agent.metrics.update { $0.watchEnded = true }
                throw GatewayAgentError("the watch of key '\(key)' ended; the store refused the key or the watch")
            }
        }
    }
}

/// An optional part of the agent (status server, log forwarder): its failure is logged and reported to the
/// state machine (shown in `/health`), never thrown, so HAProxy keeps serving without it.
struct SideService: Service {
    let name: String
    let executor: AgentExecutor
    let body: @Sendable () async throws -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown(body)
        } catch {
            if Task.isCancelled || error is CancellationError { return }
            executor.logger.error("the \(name) failed; HAProxy keeps serving without it", metadata: ["vamp.error": "\(error)"])
            executor.send(.sideServiceFailed(name: name, error: "\(error)"))
        }
    }
}
