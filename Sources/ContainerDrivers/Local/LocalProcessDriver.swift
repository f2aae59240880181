public import Foundation
public import Logging
import Subprocess
import SystemPackage
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
/// time, ports, digest, what to run, `kind` for a workflow; a record without `kind` is a service's). A driver created on the same directory, after a restart of the server, adopts
/// the processes that still run and restarts the others; the driver never stops processes when the server stops.
///
/// How processes are watched: a process the driver started is its child, awaited through swift-subprocess (which reaps
/// it, so no zombie stays, and reports the exit status) in a task that is never cancelled (cancelling it would kill the
/// child); an adopted process, not a child, is watched by polling `kill(pid, 0)` and its start time.
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
    /// Ticks when an instance exits, comes up or goes down.
    public nonisolated let changes: AsyncStream<Void>

    private let continuation: AsyncStream<Void>.Continuation
    private let directory: URL
    private let workingDirectory: URL
    private let configuration: Configuration
    private let logger: Logger
    private let store: LocalRecordStore
    private let serverEnvironment: [String: String]
    private var running: [ServiceIdentity: ServiceState] = [:]
    private var reservedPorts: Set<Int> = []
    private var isShutDown = false

    private struct ServiceState {
        var record: LocalServiceRecord
        var instances: [Int: InstanceState] = [:]
        var convergence: Task<Void, Never>?
    }

    private struct InstanceState {
        var record: LocalInstanceRecord
        /// This instance's life: a later instance with the same number has another token.
        let token = UUID()
        let createdAt = ContinuousClock.now
        var isRunning = false
        var isUp = false
        var upSince: ContinuousClock.Instant?
        var isStopping = false
        var failuresInARow = 0
        var lastExit: String?
        var restartAt: ContinuousClock.Instant?
        var supervisor: Task<Void, Never>?
        var probe: Task<Void, Never>?
    }

    /// Creates the driver on its state directory and adopts what earlier drivers on it left running: live processes
    /// are watched again, dead ones restarted with their recorded specification, unfinished updates and scalings
    /// finished.
    /// - Parameters:
    ///   - directory: The state directory (records and logs); created when missing.
    ///   - logger: Where exits, restarts and readiness changes are logged (`vamp.*` metadata).
    ///   - configuration: Working directory, grace period, restart backoff, waits.
    public init(directory: URL, logger: Logger, configuration: Configuration = Configuration()) async throws(ContainerDriverError) {
        self.directory = directory
        self.workingDirectory = configuration.workingDirectory ?? directory
        self.configuration = configuration
        self.logger = logger
        self.store = LocalRecordStore(directory: directory)
        self.serverEnvironment = ProcessInfo.processInfo.environment
        (changes, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        do {
            try store.prepare()
        } catch {
            throw ContainerDriverError("cannot create the local driver's state directory \(directory.path): \(error)")
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
            for index in state.instances.keys.sorted() { startSupervisor(service.id, index) }
            converge(service.id)
        }
        logger.info(
            "local driver started", metadata: ["vamp.directory": "\(directory.path)", "vamp.services": "\(loaded.count)"])
    }

    // MARK: - ContainerDriver

    /// Type `local`; the state and working directories, counts of services and instances, the instances that exited and
    /// are not up again (`restarting`, with the last exit status), and every instance's log file.
    public func info() async throws(ContainerDriverError) -> ContainerDriverInfo {
        let instances = running.values.flatMap { state in state.instances.values.map { (state.record.id, $0) } }
        let now = ContinuousClock.now
        var restarting: [JSONValue] = []
        var logs: [String: JSONValue] = [:]
        for (id, instance) in instances.sorted(by: { ($0.0, $0.1.record.index) < ($1.0, $1.1.record.index) }) {
            let key = id.kind == .workflow ? "workflow/\(id.deployment)/\(instance.record.name)" : "\(id.deployment)/\(id.cluster)/\(instance.record.name)"
            logs[key] = .string(instance.record.logFile)
            // Exited and not up again since: waiting for its restart, or restarted and not up yet.
            if instance.failuresInARow > 0, !(instance.isRunning && instance.isUp) {
                let next = instance.restartAt.map { "restart in \(max(.zero, $0 - now))" } ?? "restarted, not up yet"
                restarting.append(.string(
                    "\(key): \(instance.lastExit ?? "exited"), \(instance.failuresInARow) exits in a row, \(next)"))
            }
        }
        return ContainerDriverInfo(type: "local", details: [
            "directory": .string(directory.path),
            "working_directory": .string(workingDirectory.path),
            "services": .number(Double(running.count)),
            "instances": .number(Double(instances.count)),
            "up": .number(Double(instances.filter { $0.1.isRunning && $0.1.isUp }.count)),
            "restarting": .array(restarting),
            "logs": .object(logs),
        ])
    }

    /// Every service on record, adopted ones included, with its instances (`<cluster>-<service>-<index>`,
    /// `127.0.0.1`, ports by breed port name).
    public func services() async throws(ContainerDriverError) -> [RuntimeService] {
        running.values.sorted { $0.record.id < $1.record.id }.map { state in
            RuntimeService(
                id: state.record.id, digest: state.record.digest, desiredInstances: state.record.desiredInstances,
                instances: state.instances.values.sorted { $0.record.index < $1.record.index }.map {
                    Instance(
                        name: $0.record.name, host: "127.0.0.1", ports: $0.record.ports,
                        deployed: $0.isRunning && $0.isUp && !$0.isStopping)
                })
        }
    }

    /// Records what the service should run and starts converging to it: missing instances started, instances of
    /// another digest replaced one at a time (the replacement first), extra ones stopped, highest numbers first.
    /// `update` makes no difference: a service that already runs is always brought to the specification.
    /// - Throws: A permanent ``ContainerDriverError`` for a breed whose deployable is not a command, or a health check
    ///   on a port the breed does not have.
    public func deploy(_ service: ServiceSpecification, update: Bool) async throws(ContainerDriverError) {
        guard !isShutDown else { throw ContainerDriverError("the local driver is shut down") }
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
        let record = LocalServiceRecord(
            id: service.id, digest: service.digest, desiredInstances: max(0, service.scale.instances),
            launch: LocalLaunch(service, command: command))
        do {
            try store.write(record)
        } catch {
            throw ContainerDriverError("cannot record service \(service.id) in \(directory.path): \(error)")
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
    public func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError) {
        guard let state = running[service] else {
            store.removeService(service)
            return
        }
        state.convergence?.cancel()
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

    /// Stops supervising without stopping anything: the processes keep running and a driver created later on the same
    /// directory adopts them (what a server's shutdown does). The driver refuses deployments afterwards.
    public func shutdown() {
        isShutDown = true
        for state in running.values {
            state.convergence?.cancel()
            for instance in state.instances.values {
                instance.probe?.cancel()
                instance.supervisor?.cancel()
            }
        }
        running = [:]
        continuation.finish()
        logger.info("local driver shut down; its processes keep running", metadata: ["vamp.directory": "\(directory.path)"])
    }

    // MARK: - Convergence

    /// Starts the service's convergence loop unless it runs; the loop reads the latest record on every pass.
    private func converge(_ id: ServiceIdentity) {
        guard !isShutDown, let state = running[id], state.convergence == nil else { return }
        running[id]?.convergence = Task { await self.convergeLoop(id) }
    }

    private func convergeLoop(_ id: ServiceIdentity) async {
        while !Task.isCancelled, !isShutDown, let state = running[id] {
            let now = ContinuousClock.now
            let slots = state.instances.values.filter { !$0.isStopping }.map {
                LocalProcessPlan.Slot(
                    index: $0.record.index, digest: $0.record.digest,
                    ready: ($0.isRunning && $0.isUp) || now - $0.createdAt >= configuration.replacementWait)
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
                    running[id]?.instances[index]?.isStopping = true
                    // Stopping takes up to the grace period; the loop goes on meanwhile.
                    Task { await self.stopInstance(id, index, token) }
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
        guard !Task.isCancelled, let current = running[id], current.instances[index] == nil, !isShutDown else {
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

    private func stopInstance(_ id: ServiceIdentity, _ index: Int, _ token: UUID) async {
        guard let instance = instance(id, index, token) else { return }
        running[id]?.instances[index]?.isStopping = true
        running[id]?.instances[index]?.isUp = false
        instance.probe?.cancel()
        if let pid = instance.record.pid, instance.isRunning {
            LocalProcesses.signalGroup(pid, SIGTERM)
            let deadline = ContinuousClock.now + configuration.gracePeriod
            while LocalProcesses.groupExists(pid), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if LocalProcesses.groupExists(pid) {
                logger.warning("instance ignored SIGTERM; killing it", metadata: metadata(instance.record))
                LocalProcesses.signalGroup(pid, SIGKILL)
                let deadline = ContinuousClock.now + .seconds(2)
                while LocalProcesses.groupExists(pid), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            }
        }
        if let supervisor = instance.supervisor {
            supervisor.cancel()
            await supervisor.value
        }
        guard self.instance(id, index, token) != nil else { return }
        running[id]?.instances[index] = nil
        reservedPorts.subtract(instance.record.ports.values)
        if !isShutDown { store.removeInstance(id, index: index) }
        logger.info("instance stopped", metadata: metadata(instance.record))
        continuation.yield()
    }

    // MARK: - Supervision

    private func startSupervisor(_ id: ServiceIdentity, _ index: Int) {
        guard let token = running[id]?.instances[index]?.token else { return }
        running[id]?.instances[index]?.supervisor = Task { await self.supervise(id, index, token) }
    }

    /// Runs the instance until it is stopped: adopts its recorded process when that still runs, otherwise starts it;
    /// restarts it after every exit, with backoff.
    private func supervise(_ id: ServiceIdentity, _ index: Int, _ token: UUID) async {
        var mayAdopt = true
        while !Task.isCancelled, !isShutDown, let instance = instance(id, index, token), !instance.isStopping {
            let exit: String
            if mayAdopt, let pid = instance.record.pid, let startTime = instance.record.startTime,
                LocalProcesses.isAlive(pid: pid, startTime: startTime)
            {
                processStarted(id, index, token, pid: pid, startTime: startTime, adopted: true)
                while !Task.isCancelled, LocalProcesses.isAlive(pid: pid, startTime: startTime) {
                    try? await Task.sleep(for: configuration.pollInterval)
                }
                exit = "exited (status unknown: adopted, not a child of this server)"
            } else {
                if mayAdopt, let pid = instance.record.pid { LocalProcesses.killOrphans(of: pid) }
                exit = await launch(id, index, token, instance.record)
            }
            mayAdopt = false
            if Task.isCancelled { return }
            guard let delay = processExited(id, index, token, exit: exit) else { return }
            try? await Task.sleep(for: delay)
        }
    }

    /// Starts the instance's process and returns when it has exited, with its exit status in words.
    private func launch(_ id: ServiceIdentity, _ index: Int, _ token: UUID, _ record: LocalInstanceRecord) async -> String {
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
        // Unstructured and never cancelled: cancelling swift-subprocess's run kills the child, and the child must
        // outlive the driver. Awaiting its result reaps the child.
        let child = Task.detached { () throws -> TerminationStatus in
            try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", command], environment: .custom(keys), workingDirectory: workingDirectory,
                platformOptions: options, input: .none, output: .fileDescriptor(log, closeAfterSpawningProcess: true),
                error: .combinedWithOutput
            ) { execution in
                let pid = execution.processIdentifier.value
                await self.processStarted(id, index, token, pid: pid, startTime: LocalProcesses.startTime(of: pid), launched: record)
            }.terminationStatus
        }
        switch await child.result {
        case .success(let status):
            switch status {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal): return "killed by signal \(signal)"
            }
        case .failure(let error):
            return "not started: \(error)"
        }
    }

    private func processStarted(
        _ id: ServiceIdentity, _ index: Int, _ token: UUID, pid: Int32, startTime: UInt64?, adopted: Bool = false,
        launched: LocalInstanceRecord? = nil
    ) {
        if isShutDown, var record = launched {
            // Started while the driver shut down: recorded all the same, so the next driver adopts it.
            record.pid = pid
            record.startTime = startTime
            try? store.write(record)
            return
        }
        guard !isShutDown, let instance = instance(id, index, token) else { return }
        if instance.isStopping {
            LocalProcesses.signalGroup(pid, SIGKILL)
            return
        }
        var record = instance.record
        record.pid = pid
        record.startTime = startTime
        running[id]?.instances[index]?.record = record
        running[id]?.instances[index]?.isRunning = true
        running[id]?.instances[index]?.restartAt = nil
        save(record)
        logger.info(
            adopted ? "adopted a running instance" : "instance started",
            metadata: metadata(record).merging(["vamp.log": "\(record.logFile)"]) { $1 })
        let (ports, checks) = (record.ports, record.launch.checks)
        running[id]?.instances[index]?.probe = Task {
            await LocalProcesses.watchReadiness(ports: ports, checks: checks) { up in
                await self.readinessChanged(id, index, token, up: up)
            }
        }
    }

    private func readinessChanged(_ id: ServiceIdentity, _ index: Int, _ token: UUID, up: Bool) {
        guard !isShutDown, let instance = instance(id, index, token), instance.isRunning, !instance.isStopping,
            instance.isUp != up
        else { return }
        running[id]?.instances[index]?.isUp = up
        running[id]?.instances[index]?.upSince = up ? ContinuousClock.now : nil
        if up {
            logger.info("instance up", metadata: metadata(instance.record))
        } else {
            logger.warning("instance down", metadata: metadata(instance.record))
        }
        continuation.yield()
    }

    /// Records the exit; returns the wait before the restart, or `nil` when the instance is not to be restarted.
    private func processExited(_ id: ServiceIdentity, _ index: Int, _ token: UUID, exit: String) -> Duration? {
        guard !isShutDown, let instance = instance(id, index, token) else { return nil }
        instance.probe?.cancel()
        var record = instance.record
        if let pid = record.pid { LocalProcesses.killOrphans(of: pid) }
        record.pid = nil
        record.startTime = nil
        var state = instance
        state.record = record
        state.isRunning = false
        state.isUp = false
        state.probe = nil
        state.lastExit = exit
        if let upSince = instance.upSince, ContinuousClock.now - upSince >= configuration.restartDelayReset { state.failuresInARow = 0 }
        state.upSince = nil
        state.failuresInARow += 1
        let delay = LocalProcessPlan.restartDelay(
            failures: state.failuresInARow, initial: configuration.initialRestartDelay, maximum: configuration.maximumRestartDelay)
        state.restartAt = instance.isStopping ? nil : ContinuousClock.now + delay
        running[id]?.instances[index] = state
        continuation.yield()
        guard !instance.isStopping else {
            logger.info("instance exited", metadata: metadata(record).merging(["vamp.exit": "\(exit)"]) { $1 })
            return nil
        }
        save(record)
        logger.warning(
            "instance exited; restarting it",
            metadata: metadata(record).merging([
                "vamp.exit": "\(exit)", "vamp.restart_in": "\(delay)", "vamp.exits_in_a_row": "\(state.failuresInARow)",
                "vamp.log": "\(record.logFile)",
            ]) { $1 })
        return delay
    }

    // MARK: - Helpers

    private func instance(_ id: ServiceIdentity, _ index: Int, _ token: UUID) -> InstanceState? {
        guard let instance = running[id]?.instances[index], instance.token == token else { return nil }
        return instance
    }

    private func save(_ record: LocalInstanceRecord) {
        guard !isShutDown else { return }
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
