#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import HAProxyControl
public import KVStores
public import Logging
public import ServiceLifecycle
import Synchronization

/// The Vamp Gateway Agent as a library: keeps a real HAProxy running on the configuration
/// stored under one KV key, with seamless reloads and a last known good configuration.
///
/// `run()` takes over the HAProxy master left running on its work folder (without a reload when it runs the file on
/// disk), or starts one on the last good configuration on disk (or the base alone), before the first KV read; it
/// never leaves two masters on the folder. Then for every change of the key (changes during an apply become one) it
/// composes base + user fragments + KV text, leaves out each gateway whose new port cannot be bound (probed before
/// HAProxy sees it), does nothing when the bytes are unchanged, sets the weights at runtime when only weights
/// changed, else swaps the file in atomically and reloads (master-worker, `SIGUSR2`). Sections the master refuses
/// are found with `haproxy -c` and their gateway left out; the others are applied. An apply that failed or left a
/// gateway out that may yet be served is tried again with backoff. HAProxy is restarted with backoff if it dies. KV
/// outages only delay updates: the watch reconnects by itself and HAProxy keeps serving meanwhile.
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
    /// Gateway parts `haproxy -c` refused, by base sections + fragments + the part's text: left out at once the next
    /// time the same part comes (without a refused reload), until its text changes.
    let refusals = Mutex<[String: String]>([:])
    /// Set when a take-over reload did not come up: what the master runs is not known, so the next apply reloads
    /// even when the text equals the file on disk.
    let runningUnknown = Mutex(false)
    /// Pulse's reader of HAProxy's counters while Pulse runs, for the read before a reload.
    let pulseCounters = Mutex<PulseCounterReader?>(nil)

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
            coalesceWindow: configuration.coalesceWindow,
            retry: .init(initial: configuration.applyRetryInitial, limit: configuration.applyRetryLimit)))
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
    /// supervisor, the applier, the store watcher and, when configured, the status server, the log
    /// forwarder and Pulse's once-a-second loop (and its pusher to `vamp-server`). Each reports what happens to
    /// the state machine and carries out what it decides. A graceful
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
        let (retryCommands, retries) = AsyncStream<(Duration, Int)>.makeStream()
        let executor = AgentExecutor(agent: self, applier: applier, supervisor: supervisor, retries: retries)
        defer {
            applier.finish()
            supervisor.finish()
            retries.finish()
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: HAProxySupervisor(executor: executor, commands: supervisorCommands)),
            .init(service: ConfigurationApplier(executor: executor, commands: applierCommands)),
            .init(service: RetryTimer(executor: executor, commands: retryCommands)),
            .init(service: StoreWatcher(executor: executor)),
        ]
        // The log forwarder and the status server are optional: when one fails (a busy port)
        // it is logged, counted and shown in /health, and HAProxy keeps serving.
        let pulse = pulseParts()
        defer { pulse.backlog?.finish() }
        if configuration.logPort != nil || configuration.logSocket != nil {
            services.append(.init(
                service: SideService(name: "log forwarder", executor: executor) { [self] in
                    try await LogForwarder(
                        listenPort: configuration.logPort, socketPath: configuration.logSocket, logstash: configuration.logstash,
                        capacity: configuration.logBufferCapacity, retryTimeout: configuration.retryTimeout, metrics: metrics,
                        pulse: pulse.recorder, logger: logger
                    ).run()
                },
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        services += pulse.services
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
                $0.leftOutGateways = Dictionary(state.leftOut.map { ($0.name, $0.reason) }, uniquingKeysWith: { first, _ in first })
                $0.applyRetries = state.retries
            }
            return actions
        }
    }

    /// The state machine's current state (for tests and the embedding server).
    package var state: AgentStateMachine { machine.withLock { $0 } }

    /// Puts the last good configuration in place for a (re)start: the file on disk, or the base
    /// alone when there is none or it no longer validates. For a new master (`launching`), the gateways whose
    /// address cannot be bound are taken out of it, so one busy port does not keep HAProxy from starting.
    func prepareConfigurationFile(launching: Bool) async throws {
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
        if launching { try leaveOutUnbindableGatewaysOnDisk() }
    }

    /// Takes the gateways whose TCP address cannot be bound out of the file on disk (before a new master starts on
    /// it: HAProxy would refuse to start at all). The KV text puts them back once their port is free.
    func leaveOutUnbindableGatewaysOnDisk() throws {
        let text = try String(contentsOf: configurationFile, encoding: .utf8)
        guard let marker = text.lastRange(of: GatewaySections.generatedMarker) else { return }
        let sections = GatewaySections(String(text[marker.upperBound...]))
        let failed = BindProbe.unbindable(sections.blocks.flatMap { TCPAddress.binds(inLines: $0.lines) })
        guard !failed.isEmpty else { return }
        var leftOut = Set<String>()
        for block in sections.blocks {
            guard let address = TCPAddress.binds(inLines: block.lines).first(where: { failed[$0] != nil }) else { continue }
            leftOut.insert(block.name)
            logger.error("a gateway is left out of HAProxy's start: its address cannot be bound; the other gateways are started", metadata: [
                "vamp.gateway": "\(block.label)", "vamp.error": "cannot bind \(address): \(failed[address] ?? "")",
            ])
        }
        let candidate = sections.candidate(prefix: String(text[..<marker.lowerBound]), leavingOut: leftOut)
        try Data(candidate.text.utf8).write(to: configurationFile, options: .atomic)
    }

    /// Base + user fragments: what comes before the generated text.
    func composedPrefix() throws -> String {
        var text = base
        if let fragments = configuration.fragmentsDirectory {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: fragments.path))?.filter { $0.hasSuffix(".cfg") }.sorted() ?? []
            for name in names {
                text += "\n# fragment \(name)\n" + (try String(contentsOf: fragments.appendingPathComponent(name), encoding: .utf8)) + "\n"
            }
        }
        return text
    }

    /// Base + user fragments + generated text.
    func compose(kv: String) throws -> String {
        GatewaySections(kv).candidate(prefix: try composedPrefix()).text
    }

    /// Writes the status key, when one is configured: JSON with `state` (`applied`, `partial` when gateways are
    /// left out, `failed`), `error`, `left_out` (gateway → why) and `time`.
    func writeStatus(error: String?, leftOut: [AgentStateMachine.LeftOut]) async {
        guard let key = configuration.statusKey else { return }
        let status = AgentStatus(
            state: error == nil ? "applied" : leftOut.isEmpty ? "failed" : "partial", error: error,
            leftOut: leftOut.isEmpty ? nil : Dictionary(leftOut.map { ($0.name, $0.reason) }, uniquingKeysWith: { first, _ in first }),
            time: Date().formatted(.iso8601))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(status) else { return }
        do {
            try await store.set(key, value: Array(data))
        } catch {
            logger.warning("cannot write the agent status to the KV store", metadata: ["vamp.kv.error": "\(error)"])
        }
    }
}

/// The status key's JSON.
struct AgentStatus: Encodable {
    var state: String
    var error: String?
    var leftOut: [String: String]?
    var time: String

    enum CodingKeys: String, CodingKey {
        case state, error, time
        case leftOut = "left_out"
    }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension GatewayAgent {
    /// Stops every HAProxy master an agent with `configuration` left serving on its work directory (see
    /// ``GatewayAgentConfiguration/leavesHAProxyRunning``), found in `/proc` by the configuration file they run, so a
    /// second master that a restart killed at the wrong moment left behind is stopped too: SIGTERM, SIGKILL after
    /// 5 s. Returns their pids (empty when none runs). Stop the agent first, or it starts HAProxy again.
    public static func stopHAProxyMastersLeftRunning(configuration: GatewayAgentConfiguration) async -> [Int32] {
        await GatewayAgent(configuration: configuration, store: InMemoryKeyValueStore()).haproxy.stopAll()
    }

    /// Stops every HAProxy master an agent with `configuration` left serving (``stopHAProxyMastersLeftRunning(configuration:)``)
    /// and returns the lowest pid, or nil when none ran.
    public static func stopHAProxyLeftRunning(configuration: GatewayAgentConfiguration) async -> Int32? {
        await stopHAProxyMastersLeftRunning(configuration: configuration).first
    }
}
