import KVStores
import Logging
import ServiceLifecycle
import Synchronization

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
        case writeStatus(error: String?, leftOut: [AgentStateMachine.LeftOut])
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
    /// The retry waits: (wait, generation).
    let retries: AsyncStream<(Duration, Int)>.Continuation

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
            case .writeStatus(let error, let leftOut):
                applier.yield(.writeStatus(error: error, leftOut: leftOut))
            case .scheduleRetry(let delay, let generation):
                retries.yield((delay, generation))
            case .logLeftOut(let leftOut):
                for gateway in leftOut {
                    logger.error("a gateway is left out of HAProxy's configuration; the other gateways are applied", metadata: [
                        "vamp.kv.key": "\(key)", "vamp.gateway": "\(gateway.name)", "vamp.error": "\(gateway.reason)",
                        "vamp.retry": "\(gateway.retryable ? "with backoff" : "when the text changes")",
                    ])
                }
            case .logServedAgain(let names):
                logger.notice("gateways left out before are served again", metadata: ["vamp.kv.key": "\(key)", "vamp.gateways": "\(names)"])
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

/// Keeps HAProxy running: takes over the master a previous agent left on the work folder (stopping any other
/// master of the folder) or starts one, reports when its worker serves and when it exits, and waits out the restart
/// delays the state machine decides. Cancelled (the agent stops), it stops HAProxy, or leaves it serving when
/// ``GatewayAgentConfiguration/leavesHAProxyRunning``.
struct HAProxySupervisor: Service {
    let executor: AgentExecutor
    let commands: AsyncStream<AgentExecutor.SupervisorCommand>

    func run() async throws {
        try await untilShutdown { [executor, commands] in
            for await command in commands {
                switch command {
                case .start:
                    await Self.start(executor)
                case .restart(let delay):
                    try await Task.sleep(for: delay)
                    executor.send(.restartTimerFired)
                }
                if Task.isCancelled { return }
            }
        }
    }

    /// One master's life: the masters of the folder surveyed, one taken over (no reload when it runs the file on
    /// disk) or the file put in place and HAProxy started, until it exits.
    static func start(_ executor: AgentExecutor) async {
        let agent = executor.agent
        guard !Task.isCancelled else { return }
        do {
            let survey = await agent.haproxy.survey()
            let runsFile = survey.answering.map { agent.haproxy.runsFileOnDisk(master: $0, worker: survey.worker) } ?? false
            let plan = TakeoverPlan.decide(masters: survey.masters, answering: survey.answering, runsFileOnDisk: runsFile)
            if case .adopt(_, reload: false) = plan.start {
                // The master runs the file on disk: neither `haproxy -c` nor a reload.
                agent.metrics.update { $0.takeoversWithoutReload += 1 }
            } else {
                try await agent.prepareConfigurationFile(launching: plan.start == .launch)
            }
            agent.metrics.update { $0.haproxyStarts += 1 }
            let ended = try await agent.haproxy.run(plan) { master, worker, runsFile in
                if runsFile {
                    agent.haproxy.recordLoaded(master: master, worker: worker)
                } else {
                    agent.runningUnknown.withLock { $0 = true }
                }
                executor.send(.haproxyReady)
            }
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
                case .writeStatus(let error, let leftOut):
                    await executor.agent.writeStatus(error: error, leftOut: leftOut)
                }
            }
        }
    }
}

/// Waits out the retry delays the state machine decides and reports each with its generation; a wait that a newer
/// one superseded still ends, and the machine ignores it (only the newest generation counts). A shutdown ends them.
struct RetryTimer: Service {
    let executor: AgentExecutor
    let commands: AsyncStream<(Duration, Int)>

    func run() async throws {
        try await untilShutdown { [executor, commands] in
            await withDiscardingTaskGroup { group in
                for await (delay, generation) in commands {
                    // (Not `cancelAll()` here: that cancels the group, and every wait added after it would end at once.)
                    group.addTask {
                        do { try await Task.sleep(for: delay) } catch { return }
                        executor.send(.retryTimerFired(generation: generation))
                    }
                }
                group.cancelAll()
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
