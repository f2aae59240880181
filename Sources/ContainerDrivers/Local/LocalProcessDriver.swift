public import Foundation
public import Logging
import ServiceLifecycle
import Subprocess
import SystemPackage
import VampConcurrency
import VampModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs breeds of deployable type `command` (alias `cmd`) as processes on this machine, `scale.instances` of them per
/// service, each on its own ports on 127.0.0.1.
///
/// An instance's definition runs through `/bin/sh -c` in the configured working directory, in a session of its own (so
/// it survives the server), with the specification's environment plus `PORT` (the first breed port's number),
/// `PORT_<NAME>` per breed port and the server's `PATH` and `HOME`. Its ports are chosen once and kept for the
/// instance's life. Standard output and error go to `<directory>/logs/<service key>/<instance name>.log`.
///
/// An instance is `deployed` while its process runs and it is up: its HTTP health checks pass, or without any, every
/// port accepts a connection. A process that exits is restarted on the same ports after a backoff (100 ms doubling to
/// 10 s, reset once it stayed up 10 s); a command that fails at once keeps being restarted, and the reconciler's
/// timeout decides when the service has failed.
///
/// A workflow's daemon (an identity made by ``ServiceIdentity/workflow(_:breed:)``) runs the same way: its records say
/// `kind: workflow`, its instances are named `workflow-<name>-<index>`, and it never shares records with a deployment of
/// the same name.
///
/// Ownership is recorded in `<directory>/services/`: one record per service and one per instance (pid, process start
/// time, ports, digest, what to run, `kind` for a workflow; a record without `kind` is a service's). The driver reads
/// its records on first use; a driver made on the same directory after a restart of the server adopts the processes
/// that still run and restarts the others. The driver never stops processes when it stops.
///
/// The driver is a `Service`: creating it reads and starts nothing. Its supervision (each instance's process watched
/// and restarted, readiness probes, each service's convergence, the adoption of what an earlier driver left) runs in
/// ``run()`` and stops when that ends; the processes keep running. Called before ``run()`` starts, ``deploy(_:update:)``
/// records the service and queues its convergence, which begins with ``run()``; ``undeploy(_:)`` stops the processes
/// at once (it needs no background work); ``services()`` answers from the records: an instance whose process still runs
/// is adopted when the records are read, and counts as deployed when its record says it was up (so that a restart of
/// the server does not take its traffic away), until its probe, which starts with ``run()``, says otherwise. Once
/// ``run()`` has ended, deploy and undeploy fail with a transient error.
///
/// How processes are watched: a process the driver started is its child, awaited through swift-subprocess (which reaps
/// it, so no zombie stays, and reports the exit status) in the one task that is not a child of ``run()``: cancelling
/// swift-subprocess's wait kills the child, which must outlive the driver, so that wait ends only with the process and
/// the supervisor merely stops listening to it. An adopted process, not a child, is watched by polling `kill(pid, 0)`
/// and its start time. Each instance's state is a `LocalInstanceLife`.
public actor LocalProcessDriver: ContainerDriver {
    /// The driver's settings.
    public struct Configuration: Sendable {
        /// Where the commands run; `nil`: the driver's state directory.
        public var workingDirectory: URL?
        /// Between SIGTERM and SIGKILL when an instance is stopped.
        public var gracePeriod: Duration
        /// The wait before the first restart after an exit; it doubles with every exit in a row.
        public var initialRestartDelay: Duration
        /// The longest wait before a restart.
        public var maximumRestartDelay: Duration
        /// An instance that stayed up this long starts again from ``initialRestartDelay`` after its next exit.
        public var restartDelayReset: Duration
        /// During an update, how long a replacement that is not up yet is waited for before the old instance is
        /// stopped anyway.
        public var replacementWait: Duration
        /// How often an adopted process (not a child of this server) is checked.
        public var pollInterval: Duration
        /// Ports never given to an instance: the gateways' range (`vamp.operation.gateway.port-range`), which lies in
        /// Linux's ephemeral range that free ports come from, so that HAProxy can always bind a gateway's port.
        public var excludedPorts: [ClosedRange<Int>] = []

        /// Creates a configuration; every setting has a default.
        public init(
            workingDirectory: URL? = nil, gracePeriod: Duration = .seconds(5), initialRestartDelay: Duration = .milliseconds(100),
            maximumRestartDelay: Duration = .seconds(10), restartDelayReset: Duration = .seconds(10),
            replacementWait: Duration = .seconds(60), pollInterval: Duration = .milliseconds(500)
        ) {
            self.workingDirectory = workingDirectory
            self.gracePeriod = gracePeriod
            self.initialRestartDelay = initialRestartDelay
            self.maximumRestartDelay = maximumRestartDelay
            self.restartDelayReset = restartDelayReset
            self.replacementWait = replacementWait
            self.pollInterval = pollInterval
        }
    }

    /// `command`: the original's `cmd` is accepted as its alias (``ContainerDriver/runs(_:)``).
    public nonisolated let deployableTypes: Set<String> = ["command"]

    private let directory: URL
    private let workingDirectory: URL
    private let configuration: Configuration
    private let policy: LocalInstanceLife.Policy
    private let logger: Logger
    private let store: LocalRecordStore
    private let serverEnvironment: [String: String]
    private let work = BackgroundWork()
    private let notices = Broadcast<Void>()
    private var phase = Phase.unread
    private var running: [ServiceIdentity: ServiceState] = [:]
    private var reservedPorts: Set<Int> = []

    private enum Phase {
        /// The records have not been read.
        case unread
        /// The records are read; the supervision waits for ``run()``.
        case open
        /// ``run()`` runs the supervision.
        case running
        /// ``run()`` has ended: nothing is supervised, nothing more is recorded.
        case stopped
    }

    private struct ServiceState {
        var record: LocalServiceRecord
        var instances: [Int: InstanceState] = [:]
        var convergence: BackgroundWork.Job?
    }

    private struct InstanceState {
        var record: LocalInstanceRecord
        /// This instance's life: a later instance with the same number has another token.
        let token = UUID()
        let createdAt = ContinuousClock.now
        var life = LocalInstanceLife()
        var supervisor: BackgroundWork.Job?
        var probe: BackgroundWork.Job?
    }

    /// Creates the driver on its state directory; nothing is read or started until it is used or run.
    /// - Parameters:
    ///   - directory: The state directory (records and logs); created when missing.
    ///   - logger: Where exits, restarts and readiness changes are logged (`vamp.*` metadata).
    ///   - configuration: Working directory, grace period, restart backoff, waits.
    public init(directory: URL, logger: Logger, configuration: Configuration = Configuration()) {
        self.directory = directory
        self.workingDirectory = configuration.workingDirectory ?? directory
        self.configuration = configuration
        self.policy = LocalInstanceLife.Policy(
            initialDelay: configuration.initialRestartDelay, maximumDelay: configuration.maximumRestartDelay, reset: configuration.restartDelayReset)
        self.logger = logger
        self.store = LocalRecordStore(directory: directory)
        self.serverEnvironment = ProcessInfo.processInfo.environment
    }

    // MARK: - Service

    /// Supervises the recorded instances until cancelled or shut down gracefully: adopts the processes that still run,
    /// restarts the others, finishes unfinished updates and scalings, then keeps every service at its specification.
    /// When it ends, the supervision stops and the processes keep running.
    /// - Throws: ``ContainerDriverError`` when the state directory cannot be created.
    public func run() async throws {
        guard phase == .unread || phase == .open else { return }
        try open()
        phase = .running
        logger.info("local driver running", metadata: ["vamp.directory": "\(directory.path)", "vamp.services": "\(running.count)"])
        await cancelWhenGracefulShutdown { [work] in await work.run() }
        phase = .stopped
        running = [:]
        reservedPorts = []
        notices.finish()
        logger.info("local driver stopped; its processes keep running", metadata: ["vamp.directory": "\(directory.path)"])
    }

    /// Reads the records once: an instance whose process still runs is adopted at once (up if its record says it was,
    /// so that a restart of the server does not take its traffic away), and every recorded instance gets its
    /// supervisor and every service its convergence, which start with ``run()``.
    private func open() throws(ContainerDriverError) {
        guard phase == .unread else { return }
        do {
            try store.prepare()
        } catch {
            throw ContainerDriverError("cannot create the local driver's state directory \(directory.path): \(error)", cause: error)
        }
        let (loaded, problems) = store.load()
        for problem in problems { logger.warning("unreadable local driver record skipped", metadata: ["vamp.file": "\(problem)"]) }
        for (service, instances) in loaded {
            var state = ServiceState(record: service)
            for record in instances {
                state.instances[record.index] = InstanceState(record: record)
                reservedPorts.formUnion(record.ports.values)
            }
            running[service.id] = state
            for (index, instance) in state.instances.sorted(by: { $0.key < $1.key }) {
                let record = instance.record
                if let pid = record.pid, let startTime = record.startTime, LocalProcesses.isAlive(pid: pid, startTime: startTime) {
                    perform(transition(service.id, index, instance.token, .adopted(pid: pid, wasUp: record.up == true)), service.id, index, instance.token)
                    logger.info("adopted a running instance", metadata: metadata(record).merging(["vamp.up": "\(record.up == true)"]) { $1 })
                }
                startSupervisor(service.id, index)
            }
            converge(service.id)
        }
        phase = .open
    }

    /// Throws when ``run()`` has ended; reads the records on first use.
    private func openForChanges() throws(ContainerDriverError) {
        guard phase != .stopped else {
            throw ContainerDriverError("the local driver on \(directory.path) has stopped; a driver made on its directory adopts its processes")
        }
        try open()
    }

    // MARK: - ContainerDriver

    /// A new subscription: a notice when an instance exits, comes up or goes down, or is stopped.
    public nonisolated func changeNotices() -> AsyncStream<Void> { notices.subscribe() }

    /// Type `local`; the state and working directories, counts of services and instances, the instances that exited and
    /// are not up again (`restarting`, with the last exit status), and every instance's log file.
    public func info() async throws(ContainerDriverError) -> ContainerDriverInfo {
        if phase == .unread { try open() }
        let instances = running.values.flatMap { state in state.instances.values.map { (state.record.id, $0) } }
        let now = ContinuousClock.now
        var restarting: [JSONValue] = []
        var logs: [String: JSONValue] = [:]
        for (id, instance) in instances.sorted(by: { ($0.0, $0.1.record.index) < ($1.0, $1.1.record.index) }) {
            let key = id.kind == .workflow ? "workflow/\(id.deployment)/\(instance.record.name)" : "\(id.deployment)/\(id.cluster)/\(instance.record.name)"
            logs[key] = .string(instance.record.logFile)
            // Exited and not up again since: waiting for its restart, or restarted and not up yet.
            let life = instance.life
            if life.exitsInARow > 0, !life.isUp {
                let next = if case .exited(let restartAt) = life.state { "restart in \(max(.zero, restartAt - now))" } else { "restarted, not up yet" }
                restarting.append(.string("\(key): \(life.lastExit ?? "exited"), \(life.exitsInARow) exits in a row, \(next)"))
            }
        }
        return ContainerDriverInfo(type: "local", details: [
            "directory": .string(directory.path),
            "working_directory": .string(workingDirectory.path),
            "running": .bool(phase == .running),
            "services": .number(Double(running.count)),
            "instances": .number(Double(instances.count)),
            "up": .number(Double(instances.filter { $0.1.life.isUp }.count)),
            "restarting": .array(restarting),
            "logs": .object(logs),
        ])
    }

    /// Every service on record, adopted ones included, with its instances (`<cluster>-<service>-<index>`,
    /// `127.0.0.1`, ports by breed port name).
    public func services() async throws(ContainerDriverError) -> [RuntimeService] {
        if phase == .unread { try open() }
        return running.values.sorted { $0.record.id < $1.record.id }.map { state in
            RuntimeService(
                id: state.record.id, digest: state.record.digest, desiredInstances: state.record.desiredInstances,
                instances: state.instances.values.sorted { $0.record.index < $1.record.index }.map {
                    Instance(name: $0.record.name, host: "127.0.0.1", ports: $0.record.ports, deployed: $0.life.isUp)
                })
        }
    }

    /// Records what the service should run and starts converging to it: missing instances started, instances of
    /// another digest replaced one at a time (the replacement first), extra ones stopped, highest numbers first.
    /// `update` makes no difference: a service that already runs is always brought to the specification. Before
    /// ``run()`` starts, the convergence waits for it.
    /// - Throws: A permanent ``ContainerDriverError`` for a breed whose deployable is not a command, or a health check
    ///   on a port the breed does not have; a transient one once ``run()`` has ended.
    public func deploy(_ service: ServiceSpecification, update: Bool) async throws(ContainerDriverError) {
        guard let deployable = service.breed.deployable else {
            throw ContainerDriverError("breed \(service.breed.name) has no deployable: the local driver runs commands", permanent: true)
        }
        guard runs(deployable) else {
            throw ContainerDriverError(
                "breed \(service.breed.name) has deployable type \(deployable.type); the local driver runs only command (cmd)",
                permanent: true)
        }
        let command = deployable.definition.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !command.isEmpty else {
            throw ContainerDriverError("breed \(service.breed.name) has an empty command", permanent: true)
        }
        let portNames = Set(service.breed.ports.map(\.name))
        if let check = service.healthChecks.first(where: { !portNames.contains($0.port) }) {
            throw ContainerDriverError(
                "breed \(service.breed.name): the health check of \(check.path) names port \(check.port), which the breed does not have "
                    + "(its ports: \(portNames.sorted().joined(separator: ", ")))",
                permanent: true)
        }
        try openForChanges()
        let record = LocalServiceRecord(
            id: service.id, digest: service.digest, desiredInstances: max(0, service.scale.instances),
            launch: LocalLaunch(service, command: command))
        do {
            try store.write(record)
        } catch {
            throw ContainerDriverError("cannot record service \(service.id) in \(directory.path): \(error)", cause: error)
        }
        if running[service.id] == nil { running[service.id] = ServiceState(record: record) } else { running[service.id]?.record = record }
        // Each instance keeps what it runs until it is replaced; the number of instances is the service's.
        for (index, instance) in running[service.id]?.instances ?? [:] where instance.record.desiredInstances != record.desiredInstances {
            running[service.id]?.instances[index]?.record.desiredInstances = record.desiredInstances
            if let updated = running[service.id]?.instances[index]?.record { save(updated) }
        }
        logger.info(
            "deploy", metadata: metadata(service.id).merging([
                "vamp.digest": "\(record.digest)", "vamp.instances": "\(record.desiredInstances)", "vamp.update": "\(update)",
            ]) { $1 })
        converge(service.id)
    }

    /// Stops every instance of the service (SIGTERM to its process group, SIGKILL after the grace period) and removes
    /// its records. Returns when the processes are gone; a service that does not run is not an error.
    /// - Throws: A transient ``ContainerDriverError`` once ``run()`` has ended.
    public func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError) {
        try openForChanges()
        guard let state = running[service] else {
            store.removeService(service)
            return
        }
        work.cancel(state.convergence)
        running[service]?.convergence = nil
        logger.info("undeploy", metadata: metadata(service))
        await withTaskGroup(of: Void.self) { group in
            for instance in state.instances.values {
                let (index, token) = (instance.record.index, instance.token)
                group.addTask { await self.stopInstance(service, index, token) }
            }
        }
        // A deploy while stopping makes the service wanted again; otherwise it is forgotten.
        if let current = running[service], current.record == state.record, current.instances.isEmpty {
            running[service] = nil
            store.removeService(service)
        }
    }

    // MARK: - Convergence

    /// Starts the service's convergence loop unless it runs; the loop reads the latest record on every pass.
    private func converge(_ id: ServiceIdentity) {
        guard phase != .stopped, let state = running[id], state.convergence == nil else { return }
        running[id]?.convergence = work.start { await self.convergeLoop(id) }
    }

    private func convergeLoop(_ id: ServiceIdentity) async {
        while !Task.isCancelled, phase != .stopped, let state = running[id] {
            let now = ContinuousClock.now
            let slots = state.instances.values.filter { !$0.life.isStopping }.map {
                LocalProcessPlan.Slot(
                    index: $0.record.index, digest: $0.record.digest,
                    ready: $0.life.isUp || now - $0.createdAt >= configuration.replacementWait)
            }
            let step = LocalProcessPlan.step(desired: state.record.desiredInstances, digest: state.record.digest, instances: slots)
            if step.done {
                running[id]?.convergence = nil
                return
            }
            for action in step.actions {
                switch action {
                case .start(let index):
                    await startInstance(id, index)
                case .stop(let index):
                    guard let instance = running[id]?.instances[index] else { continue }
                    let token = instance.token
                    perform(transition(id, index, token, .stop), id, index, token)
                    // Stopping takes up to the grace period; the loop goes on meanwhile.
                    work.start { await self.stopInstance(id, index, token) }
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !Task.isCancelled, running[id] != nil { running[id]?.convergence = nil }
    }

    private func startInstance(_ id: ServiceIdentity, _ index: Int) async {
        guard let service = running[id]?.record else { return }
        var ports: [String: Int] = [:]
        for name in service.launch.ports {
            var port: Int?
            for _ in 0..<50 {
                guard let candidate = try? await LocalProcesses.freePort() else { continue }
                if !reservedPorts.contains(candidate), !configuration.excludedPorts.contains(where: { $0.contains(candidate) }) {
                    port = candidate
                    break
                }
            }
            guard let port else {
                logger.error("no free port for a new instance", metadata: metadata(id))
                reservedPorts.subtract(ports.values)
                return
            }
            reservedPorts.insert(port)
            ports[name] = port
        }
        // An undeploy cancels the convergence while the ports were looked for: start nothing then.
        guard !Task.isCancelled, phase != .stopped, let current = running[id], current.instances[index] == nil else {
            reservedPorts.subtract(ports.values)
            return
        }
        let name = LocalProcessPlan.instanceName(id, index: index)
        let record = LocalInstanceRecord(
            id: id, index: index, name: name, pid: nil, startTime: nil,
            ports: ports, digest: current.record.digest, desiredInstances: current.record.desiredInstances,
            launch: current.record.launch, logFile: store.logFile(id, name: name).path)
        running[id]?.instances[index] = InstanceState(record: record)
        save(record)
        startSupervisor(id, index)
    }

    /// SIGTERM to the instance's process group, SIGKILL after the grace period, then its records go. A process an
    /// earlier driver left and that is not supervised yet (before ``run()``) is stopped all the same.
    private func stopInstance(_ id: ServiceIdentity, _ index: Int, _ token: UUID) async {
        guard let instance = instance(id, index, token) else { return }
        let pid = instance.life.pid ?? instance.record.pid.flatMap { pid in
            instance.record.startTime.flatMap { LocalProcesses.isAlive(pid: pid, startTime: $0) ? pid : nil }
        }
        perform(transition(id, index, token, .stop), id, index, token)
        if let pid {
            LocalProcesses.signalGroup(pid, SIGTERM)
            if await !waitUntilGone(pid, within: configuration.gracePeriod) {
                logger.warning("instance ignored SIGTERM; killing it", metadata: metadata(instance.record))
                LocalProcesses.signalGroup(pid, SIGKILL)
                _ = await waitUntilGone(pid, within: .seconds(2))
            }
        }
        if Task.isCancelled { return }
        guard let current = self.instance(id, index, token) else { return }
        work.cancel(current.supervisor)
        running[id]?.instances[index] = nil
        reservedPorts.subtract(instance.record.ports.values)
        if phase != .stopped { store.removeInstance(id, index: index) }
        logger.info("instance stopped", metadata: metadata(instance.record))
        notices.signal()
    }

    /// Waits until nothing of process group `pid` is left, its leader reaped too (a zombie still counts as a member: a
    /// child is reaped by the task that awaits it); false when something is still there after `timeout` or on
    /// cancellation.
    private func waitUntilGone(_ pid: Int32, within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while LocalProcesses.groupExists(pid) {
            guard !Task.isCancelled, ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    // MARK: - Supervision

    private func startSupervisor(_ id: ServiceIdentity, _ index: Int) {
        guard let token = running[id]?.instances[index]?.token else { return }
        running[id]?.instances[index]?.supervisor = work.start { await self.supervise(id, index, token) }
    }

    /// Runs the instance until it is stopped or the driver stops: adopts its recorded process when that still runs,
    /// otherwise starts it; restarts it after every exit, with backoff.
    private func supervise(_ id: ServiceIdentity, _ index: Int, _ token: UUID) async {
        var mayAdopt = true
        while !Task.isCancelled, let instance = instance(id, index, token), !instance.life.isStopping {
            let exit: String?
            if mayAdopt, let pid = instance.record.pid, let startTime = instance.record.startTime,
                LocalProcesses.isAlive(pid: pid, startTime: startTime)
            {
                // Adopted when the records were read, unless it was not running then.
                if instance.life.pid != pid { processStarted(id, index, token, pid: pid, startTime: startTime) }
                while !Task.isCancelled, LocalProcesses.isAlive(pid: pid, startTime: startTime) {
                    try? await Task.sleep(for: configuration.pollInterval)
                }
                exit = "exited (status unknown: adopted, not a child of this server)"
            } else {
                if mayAdopt, let pid = instance.record.pid { LocalProcesses.killOrphans(of: pid) }
                exit = await launch(id, index, token, instance.record)
            }
            mayAdopt = false
            // Cancelled: the driver stops (the process keeps running) or the instance is being stopped.
            guard !Task.isCancelled, let exit, let delay = processExited(id, index, token, exit: exit) else { return }
            try? await Task.sleep(for: delay)
        }
    }

    /// Starts the instance's process and returns when it has exited, with its exit status in words; nil when the
    /// supervisor is cancelled first (the process goes on).
    private func launch(_ id: ServiceIdentity, _ index: Int, _ token: UUID, _ record: LocalInstanceRecord) async -> String? {
        let ports = record.launch.ports.compactMap { name in record.ports[name].map { (name: name, number: $0) } }
        let environment = LocalProcessPlan.environment(specification: record.launch.environment, ports: ports, server: serverEnvironment)
        let log: FileDescriptor
        do {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: record.logFile).deletingLastPathComponent(), withIntermediateDirectories: true)
            log = try FileDescriptor.open(
                FilePath(record.logFile), .writeOnly, options: [.append, .create],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            let ports = ports.map { "\($0.name)=\($0.number)" }.joined(separator: " ")
            _ = try log.writeAll("--- \(Date()) starting \(record.name) (\(ports)): \(record.launch.command)\n".utf8)
        } catch {
            return "not started: cannot open the log file \(record.logFile): \(error)"
        }
        var options = PlatformOptions()
        options.createSession = true
        let command = record.launch.command
        let workingDirectory = FilePath(self.workingDirectory.path)
        let keys = Dictionary(uniqueKeysWithValues: environment.compactMap { key, value in
            Environment.Key(rawValue: key).map { ($0, value) }
        })
        let (ended, end) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        // Not a child of run(), on purpose: cancelling swift-subprocess's run kills the child, and the child must
        // outlive the driver. This task ends with the child, reaping it; the supervisor only stops listening.
        Task.detached {
            let words: String
            do {
                let status = try await Subprocess.run(
                    .path("/bin/sh"), arguments: ["-c", command], environment: .custom(keys), workingDirectory: workingDirectory,
                    platformOptions: options, input: .none, output: .fileDescriptor(log, closeAfterSpawningProcess: true),
                    error: .combinedWithOutput
                ) { execution in
                    let pid = execution.processIdentifier.value
                    await self.processStarted(id, index, token, pid: pid, startTime: LocalProcesses.startTime(of: pid), launched: record)
                }.terminationStatus
                switch status {
                case .exited(let code): words = "exited with status \(code)"
                case .signaled(let signal): words = "killed by signal \(signal)"
                }
            } catch {
                words = "not started: \(error)"
            }
            end.yield(words)
            end.finish()
        }
        for await words in ended { return words }
        return nil
    }

    /// The instance's process runs (`launched` with this record, or adopted).
    private func processStarted(
        _ id: ServiceIdentity, _ index: Int, _ token: UUID, pid: Int32, startTime: UInt64?, launched: LocalInstanceRecord? = nil
    ) {
        if phase == .stopped {
            // Started while the driver stopped: recorded all the same, so the next driver adopts it.
            if var record = launched {
                record.pid = pid
                record.startTime = startTime
                try? store.write(record)
            }
            return
        }
        guard let instance = instance(id, index, token) else {
            // Stopped and forgotten while its process started: nothing would ever watch it.
            if launched != nil { LocalProcesses.signalGroup(pid, SIGKILL) }
            return
        }
        let effects = transition(id, index, token, .started(pid: pid))
        if effects.contains(.kill(pid: pid)) {
            LocalProcesses.signalGroup(pid, SIGKILL)
            return
        }
        var record = instance.record
        record.pid = pid
        record.startTime = startTime
        record.up = false
        running[id]?.instances[index]?.record = record
        save(record)
        logger.info(
            launched == nil ? "adopted a running instance" : "instance started",
            metadata: metadata(record).merging(["vamp.log": "\(record.logFile)"]) { $1 })
        perform(effects, id, index, token)
    }

    private func readinessChanged(_ id: ServiceIdentity, _ index: Int, _ token: UUID, pid: Int32, up: Bool) {
        guard phase != .stopped, var record = instance(id, index, token)?.record else { return }
        let effects = transition(id, index, token, .readiness(pid: pid, up: up))
        guard effects.contains(.notify) else { return }
        // Kept, so that a driver that adopts the process after a restart goes on giving it traffic.
        record.up = up
        running[id]?.instances[index]?.record = record
        save(record)
        if up {
            logger.info("instance up", metadata: metadata(record))
        } else {
            logger.warning("instance down", metadata: metadata(record))
        }
        perform(effects, id, index, token)
    }

    /// Records the exit; returns the wait before the restart, or `nil` when the instance is not to be restarted.
    private func processExited(_ id: ServiceIdentity, _ index: Int, _ token: UUID, exit: String) -> Duration? {
        guard phase != .stopped, let instance = instance(id, index, token) else { return nil }
        var record = instance.record
        if let pid = record.pid { LocalProcesses.killOrphans(of: pid) }
        record.pid = nil
        record.startTime = nil
        record.up = nil
        running[id]?.instances[index]?.record = record
        let effects = transition(id, index, token, .exited(exit))
        perform(effects, id, index, token)
        let delay = effects.lazy.compactMap { effect -> Duration? in
            if case .restart(let delay) = effect { return delay }
            return nil
        }.first
        guard let delay else {
            logger.info("instance exited", metadata: metadata(record).merging(["vamp.exit": "\(exit)"]) { $1 })
            return nil
        }
        save(record)
        logger.warning(
            "instance exited; restarting it",
            metadata: metadata(record).merging([
                "vamp.exit": "\(exit)", "vamp.restart_in": "\(delay)",
                "vamp.exits_in_a_row": "\(running[id]?.instances[index]?.life.exitsInARow ?? 0)", "vamp.log": "\(record.logFile)",
            ]) { $1 })
        return delay
    }

    // MARK: - The instance's life

    /// Feeds `event` to the instance's ``LocalInstanceLife``; returns the effects to perform.
    private func transition(_ id: ServiceIdentity, _ index: Int, _ token: UUID, _ event: LocalInstanceLife.Event) -> [LocalInstanceLife.Effect] {
        guard instance(id, index, token) != nil else { return [] }
        return running[id]?.instances[index]?.life.handle(event, now: .now, policy: policy) ?? []
    }

    /// Performs the effects of a transition that concern probes and listeners (restarts and kills are the caller's).
    private func perform(_ effects: [LocalInstanceLife.Effect], _ id: ServiceIdentity, _ index: Int, _ token: UUID) {
        for effect in effects {
            switch effect {
            case .startProbe(let pid):
                guard let record = instance(id, index, token)?.record else { continue }
                let (ports, checks) = (record.ports, record.launch.checks)
                running[id]?.instances[index]?.probe = work.start {
                    await LocalProcesses.watchReadiness(ports: ports, checks: checks) { up in
                        await self.readinessChanged(id, index, token, pid: pid, up: up)
                    }
                }
            case .stopProbe:
                work.cancel(instance(id, index, token)?.probe)
                if instance(id, index, token) != nil { running[id]?.instances[index]?.probe = nil }
            case .notify:
                notices.signal()
            case .restart, .kill:
                break
            }
        }
    }

    // MARK: - Helpers

    private func instance(_ id: ServiceIdentity, _ index: Int, _ token: UUID) -> InstanceState? {
        guard let instance = running[id]?.instances[index], instance.token == token else { return nil }
        return instance
    }

    private func save(_ record: LocalInstanceRecord) {
        guard phase != .stopped else { return }
        do {
            try store.write(record)
        } catch {
            logger.error("cannot write an instance record", metadata: metadata(record).merging(["vamp.error": "\(error)"]) { $1 })
        }
    }

    private func metadata(_ id: ServiceIdentity) -> Logger.Metadata {
        if let workflow = id.workflow { return ["vamp.workflow": "\(workflow)", "vamp.breed": "\(id.service)"] }
        return ["vamp.deployment": "\(id.deployment)", "vamp.cluster": "\(id.cluster)", "vamp.service": "\(id.service)"]
    }

    private func metadata(_ record: LocalInstanceRecord) -> Logger.Metadata {
        var metadata = metadata(record.id)
        metadata["vamp.instance"] = "\(record.name)"
        if let pid = record.pid { metadata["vamp.pid"] = "\(pid)" }
        metadata["vamp.ports"] = "\(record.ports.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
        return metadata
    }
}
