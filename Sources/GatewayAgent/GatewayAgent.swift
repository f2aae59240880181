import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import KVStores
public import Logging
public import ServiceLifecycle
import Synchronization

/// The Vamp Gateway Agent as a library: keeps a real HAProxy running on the configuration
/// stored under one KV key, with seamless reloads and a last known good configuration.
///
/// `run()` starts HAProxy on the last good configuration on disk (or the base alone) before
/// the first KV read, then for every change of the key (changes during an apply become one):
/// composes base + user fragments + KV text, does nothing when the bytes are unchanged, sets
/// the weights at runtime when only weights changed, else swaps the file in atomically and
/// reloads (master-worker, `SIGUSR2`). A configuration the master refuses is rolled back (and
/// checked with `haproxy -c` to say why); so is a reload whose new worker does not come up.
/// HAProxy is restarted with backoff if it dies. KV outages only delay updates: the watch
/// reconnects by itself and HAProxy keeps serving meanwhile.
///
/// The decisions are those of a state machine (`AgentStateMachine`, a value tested with plain
/// events); this class and its swift-service-lifecycle services (the HAProxy supervisor, the
/// applier, the store watcher, the optional status server and log forwarder) carry them out.
public final class GatewayAgent: Service, Sendable {
    /// The settings.
    public let configuration: GatewayAgentConfiguration
    /// The counters.
    public let metrics = AgentMetrics()
    let store: any KeyValueStore
    let logger: Logger
    let haproxy: HAProxyMaster
    /// The decisions, fed by the services one event at a time.
    private let machine: Mutex<AgentStateMachine>
    /// The clock the state machine's instants come from.
    let clock: @Sendable () -> ContinuousClock.Instant

    /// Creates an agent watching `configuration.key` in `store`.
    public init(configuration: GatewayAgentConfiguration, store: any KeyValueStore, logger: Logger = Logger(label: "vamp.gateway-agent")) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.haproxy = HAProxyMaster(
            executable: configuration.haproxyExecutable,
            configurationFile: configuration.workDirectory.appendingPathComponent("haproxy.cfg"),
            masterSocket: configuration.workDirectory.appendingPathComponent("master.sock").path,
            pidFile: configuration.workDirectory.appendingPathComponent("haproxy.pid"),
            output: configuration.haproxyOutput, workDirectory: configuration.workDirectory, socketDirectory: configuration.socketDirectory,
            keptSockets: Set([configuration.logSocket].compactMap { $0 }), leavesRunning: configuration.leavesHAProxyRunning,
            retireGrace: (configuration.hardStopAfter ?? .seconds(30)) + .seconds(5), logger: logger)
        self.machine = Mutex(AgentStateMachine(
            backoff: .init(initial: configuration.restartBackoffInitial, limit: configuration.restartBackoffLimit, reset: configuration.restartBackoffReset),
            coalesceWindow: configuration.coalesceWindow))
        self.clock = { ContinuousClock.now }
    }

    var configurationFile: URL { configuration.workDirectory.appendingPathComponent("haproxy.cfg") }
    /// The configuration that ran before the last apply, for a start after the agent stopped mid-apply.
    var previousFile: URL { configuration.workDirectory.appendingPathComponent("haproxy.cfg.previous") }

    var base: String {
        configuration.baseConfiguration
            ?? GatewayAgentConfiguration.defaultBaseConfiguration(
                logPort: configuration.logPort, logSocket: configuration.logSocket, hardStopAfter: configuration.hardStopAfter)
    }

    /// Runs until the task is cancelled, then stops HAProxy (or leaves it serving, when
    /// ``GatewayAgentConfiguration/leavesHAProxyRunning``).
    ///
    /// The long-running parts are swift-service-lifecycle `Service`s in one `ServiceGroup`: the HAProxy
    /// supervisor, the applier, the store watcher and, when configured, the status server and the log
    /// forwarder. Each reports what happens to the state machine and carries out what it decides. A graceful
    /// shutdown (or cancellation) stops them in reverse order, HAProxy last; the optional parts' failures are
    /// recorded and never end the group; the watch ending (a key the store refuses) ends it with an error.
    public func run() async throws {
        // A key no store accepts would end the watch at once; refuse it before HAProxy starts.
        try KeyPath.validate(configuration.key)
        // Owner-only (0700): the configuration, the pid file, HAProxy's log and the sockets are the agent's alone.
        try OwnerOnlyFolder.prepare(configuration.workDirectory)
        try OwnerOnlyFolder.prepare(configuration.socketDirectory)
        let (applierCommands, applier) = AsyncStream<AgentExecutor.ApplierCommand>.makeStream()
        let (supervisorCommands, supervisor) = AsyncStream<AgentExecutor.SupervisorCommand>.makeStream()
        let executor = AgentExecutor(agent: self, applier: applier, supervisor: supervisor)
        defer {
            applier.finish()
            supervisor.finish()
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: HAProxySupervisor(executor: executor, commands: supervisorCommands, leftBehind: haproxy.leftBehindMaster())),
            .init(service: ConfigurationApplier(executor: executor, commands: applierCommands)),
            .init(service: StoreWatcher(executor: executor)),
        ]
        // The log forwarder and the status server are optional: when one fails (a busy port)
        // it is logged, counted and shown in /health, and HAProxy keeps serving.
        if configuration.logPort != nil || configuration.logSocket != nil {
            services.append(.init(
                service: SideService(name: "log forwarder", executor: executor) { [self] in
                    try await LogForwarder(
                        listenPort: configuration.logPort, socketPath: configuration.logSocket, logstash: configuration.logstash,
                        capacity: configuration.logBufferCapacity, retryTimeout: configuration.retryTimeout, metrics: metrics, logger: logger
                    ).run()
                },
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        if let status = configuration.statusAddress {
            services.append(.init(
                service: SideService(name: "status server", executor: executor) { [self] in
                    try await StatusServer(host: status.host, port: status.port, agent: self).run()
                },
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        executor.send(.started)
        var groupLogger = logger
        groupLogger.logLevel = max(logger.logLevel, .notice)
        do {
            try await ServiceGroup(configuration: .init(services: services, logger: groupLogger)).run()
        } catch is CancellationError {
        }
    }

    /// Hands `event` to the state machine, mirrors its state into the metrics, and returns the actions.
    func decide(_ event: AgentStateMachine.Event) -> [AgentStateMachine.Action] {
        machine.withLock { machine in
            let actions = machine.handle(event, now: clock())
            let state = machine
            metrics.update {
                $0.haproxyRunning = state.haproxyRunning
                $0.haproxyStartError = state.haproxyStartError
                $0.lastError = state.lastError
                if let applied = state.applied { $0.appliedConfiguration = applied }
                $0.storeReachable = state.storeReachable
                $0.storeError = state.storeError
                $0.storeErrors = state.storeErrors
                $0.outageFailures = state.outageFailures
                $0.failedServices = state.failedServices
                $0.lastRestartDelaySeconds = state.lastRestartDelay.secondsValue
            }
            return actions
        }
    }

    /// The state machine's current state (for tests and the embedding server).
    package var state: AgentStateMachine { machine.withLock { $0 } }

    /// Puts the last good configuration in place for a (re)start: the file on disk, or the base
    /// alone when there is none or it no longer validates.
    func prepareConfigurationFile() async throws {
        if !FileManager.default.fileExists(atPath: configurationFile.path) {
            try Data(compose(kv: "").utf8).write(to: configurationFile, options: .atomic)
        } else if let alerts = try await haproxy.validate(configurationFile) {
            if FileManager.default.fileExists(atPath: previousFile.path), try await haproxy.validate(previousFile) == nil {
                logger.error("the configuration on disk does not validate; starting on the previous one", metadata: ["vamp.haproxy.alerts": "\(alerts)"])
                try Data(contentsOf: previousFile).write(to: configurationFile, options: .atomic)
            } else {
                logger.error("the configuration on disk no longer validates; starting on the base sections", metadata: ["vamp.haproxy.alerts": "\(alerts)"])
                try Data(compose(kv: "").utf8).write(to: configurationFile, options: .atomic)
            }
        }
    }

    /// Base + user fragments + generated text.
    func compose(kv: String) throws -> String {
        var text = base
        if let fragments = configuration.fragmentsDirectory {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: fragments.path))?.filter { $0.hasSuffix(".cfg") }.sorted() ?? []
            for name in names {
                text += "\n# fragment \(name)\n" + (try String(contentsOf: fragments.appendingPathComponent(name), encoding: .utf8)) + "\n"
            }
        }
        return text + "\n# generated by Vamp\n" + kv + (kv.hasSuffix("\n") || kv.isEmpty ? "" : "\n")
    }

    /// Applies one configuration from the store and returns the outcome for the state machine: its
    /// counters and the log are written here, health and the status key follow from the event.
    func apply(_ kv: String) async -> AgentStateMachine.Event {
        let started = ContinuousClock.now
        let composed: String
        do {
            composed = try compose(kv: kv)
        } catch {
            return .applyFailed(kv, reason: "cannot read the user fragments: \(error)")
        }
        let current = (try? String(contentsOf: configurationFile, encoding: .utf8)) ?? ""
        let plan = AgentStateMachine.plan(running: current, candidate: composed)
        if plan == .unchanged {
            // The store holds the running text again (e.g. after a refused one was reverted):
            // the last apply result is for this text, which is applied.
            metrics.update { $0.unchanged += 1 }
            return .applySucceeded(kv, .unchanged)
        }
        let candidate = configuration.workDirectory.appendingPathComponent("haproxy.cfg.new")
        do {
            try Data(composed.utf8).write(to: candidate)
            // A change of weights only (a canary step, the common case) needs no reload: the
            // running worker takes `set server … weight` through the master CLI, and the file is
            // swapped so a later reload or restart runs the same. Any other answer: a full reload.
            if case .setWeights(let commands) = plan, haproxy.isReady, await haproxy.setWeights(commands) {
                try Data(current.utf8).write(to: previousFile, options: .atomic)
                guard rename(candidate.path, configurationFile.path) == 0 else {
                    throw GatewayAgentError("cannot move \(candidate.path) to \(configurationFile.path): errno \(errno)")
                }
                let seconds = (ContinuousClock.now - started).secondsValue
                metrics.update {
                    $0.weightUpdates += 1
                    $0.lastReloadSeconds = seconds
                }
                logger.info("changed weights without a reload", metadata: ["vamp.reload.seconds": "\(seconds)", "vamp.haproxy.commands": "\(commands)"])
                return .applySucceeded(kv, .weights)
            }
            // No `haproxy -c` first: the master parses the file on reload anyway, and a file it
            // refuses leaves the old workers serving (counted in `show proc`'s `[failed: N]`), so a
            // second parse would only add its time to every change. The running file is kept as
            // the previous good one in case the agent stops before the master answered.
            try Data(current.utf8).write(to: previousFile, options: .atomic)
            let before = await haproxy.masterState()
            // rename(2) swaps the file atomically: HAProxy never sees a half-written one.
            guard rename(candidate.path, configurationFile.path) == 0 else {
                throw GatewayAgentError("cannot move \(candidate.path) to \(configurationFile.path): errno \(errno)")
            }
            haproxy.signalReload()
            let signalled = ContinuousClock.now
            let outcome = await haproxy.waitForReload(
                previous: before?.worker, failedBefore: before?.failedReloads, timeout: configuration.reloadTimeout)
            if outcome == .newWorker {
                let seconds = (ContinuousClock.now - started).secondsValue
                metrics.update {
                    $0.reloads += 1
                    $0.reloadSecondsSum += seconds
                    $0.lastReloadSeconds = seconds
                }
                logger.info("reloaded HAProxy", metadata: [
                    "vamp.reload.seconds": "\(seconds)", "vamp.reload.worker_seconds": "\((ContinuousClock.now - signalled).secondsValue)",
                ])
                return .applySucceeded(kv, .reload)
            }
            if Task.isCancelled {
                // The agent is stopping (and HAProxy with it) before the master answered: the file
                // stays, and the next start checks it with `haproxy -c` (falling back to the
                // previous good file).
                return .applyFailed(kv, reason: "the agent stopped before HAProxy answered the reload")
            }
            if !haproxy.isRunning {
                try? Data(current.utf8).write(to: configurationFile, options: .atomic)
                return .applyFailed(kv, reason: "HAProxy exited during the reload; it is restarted on the previous configuration")
            }
            // Back to the running text, then find out why (only on this slow path).
            let refused = configuration.workDirectory.appendingPathComponent("haproxy.cfg.refused")
            try Data(composed.utf8).write(to: refused)
            let after = await haproxy.masterState()
            try Data(current.utf8).write(to: configurationFile, options: .atomic)
            haproxy.signalReload()
            _ = await haproxy.waitForReload(previous: after?.worker, failedBefore: after?.failedReloads, timeout: configuration.reloadTimeout)
            if outcome == .refused, let alerts = try await haproxy.validate(refused) {
                metrics.update { $0.failedValidations += 1 }
                return .applyFailed(kv, reason: "haproxy refused the new configuration; keeping the running one:\n\(alerts)")
            }
            metrics.update { $0.failedReloads += 1 }
            // A detached master (`-D`) writes nothing after its start (its output is /dev/null), so
            // the refused file is kept for `haproxy -c -f` by hand.
            return .applyFailed(kv, reason: outcome == .refused
                ? "the HAProxy master refused the new configuration although `haproxy -c` accepts it (a detached master's "
                    + "own messages are not kept; the file is \(refused.path), HAProxy's output at start is in "
                    + "\(configuration.haproxyOutput?.path ?? "the agent's standard error")); went back to the previous configuration"
                : "the new HAProxy worker did not come up within \(configuration.reloadTimeout) (the file is \(refused.path)); "
                    + "went back to the previous configuration")
        } catch {
            return .applyFailed(kv, reason: "applying the configuration failed: \(error)")
        }
    }

    /// The master CLI commands that turn `old` into `new` when the two differ only in the
    /// `weight` of `server` lines (same lines otherwise, same order), raised weights first; nil for
    /// any other change.
    static func weightChanges(from old: String, to new: String) -> [String]? {
        let before = old.split(separator: "\n", omittingEmptySubsequences: false)
        let after = new.split(separator: "\n", omittingEmptySubsequences: false)
        guard before.count == after.count else { return nil }
        var section: Substring?
        var raised: [String] = [], lowered: [String] = []
        for (was, now) in zip(before, after) {
            if let first = was.first, first != " ", first != "\t" {
                let words = was.split(separator: " ")
                section = words.count >= 2 && (words[0] == "backend" || words[0] == "listen") ? words[1] : nil
            }
            if was == now { continue }
            guard let section, let (server, previous, rest) = serverWeight(was), let (sameServer, weight, sameRest) = serverWeight(now),
                  server == sameServer, rest == sameRest, (0...256).contains(weight)
            else { return nil }
            let command = "set server \(section)/\(server) weight \(weight)"
            if weight > previous { raised.append(command) } else { lowered.append(command) }
        }
        // Raise first: between two commands some server must keep a weight, or requests get a 503.
        let commands = raised + lowered
        return commands.isEmpty ? nil : commands
    }

    /// A `server NAME … weight N …` line: the name, the weight and the line without the weight.
    static func serverWeight(_ line: Substring) -> (Substring, Int, [Substring])? {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 4, words[0] == "server", let index = words.firstIndex(of: "weight"), index + 1 < words.count,
              let weight = Int(words[index + 1])
        else { return nil }
        words[index + 1] = "_"
        return (words[1], weight, words)
    }

    /// Writes the status key (JSON: state, error, time), when one is configured.
    func writeStatus(state: String, error: String?) async {
        guard let key = configuration.statusKey else { return }
        var object: [String: Any] = ["state": state, "time": ISO8601DateFormatter().string(from: Date())]
        if let error { object["error"] = error }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        do {
            try await store.set(key, value: Array(data))
        } catch {
            logger.warning("cannot write the agent status to the KV store", metadata: ["vamp.kv.error": "\(error)"])
        }
    }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension GatewayAgent {
    /// Stops the HAProxy master an agent with `configuration` left serving (see
    /// ``GatewayAgentConfiguration/leavesHAProxyRunning``): SIGTERM, SIGKILL after 5 s. Returns its pid, or nil
    /// when none runs on that work directory. Stop the agent first, or it starts HAProxy again.
    public static func stopHAProxyLeftRunning(configuration: GatewayAgentConfiguration) async -> Int32? {
        let master = GatewayAgent(configuration: configuration, store: InMemoryKeyValueStore()).haproxy
        guard let pid = master.leftBehindMaster() else { return nil }
        await master.stop(pid)
        if HAProxyMaster.pid(in: master.pidFile) == pid { try? FileManager.default.removeItem(at: master.pidFile) }
        return pid
    }
}
