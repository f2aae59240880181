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
/// it survives the server), with an environment built for it: the specification's environment plus `PORT` (the first
/// breed port's number), `PORT_<NAME>` per breed port, the server's `PATH`, `HOME`, `LANG`, `LC_*` and `TZ`, never
/// the server's other variables (its `VAMP_*` settings hold secrets), and the driver's marker `IO_VAMP_INSTANCE`
/// (its state directory's owner and the run of the instance). With ``Configuration/user`` it runs as that user
/// (its uid, its primary group only) in a folder of its own, owned by that user, under
/// ``Configuration/userWorkDirectory``. Its ports are chosen once and kept for the instance's life. Standard output and
/// error go to `<directory>/logs/<service key>/<instance name>.log` (written through a descriptor the server opens:
/// the state directory stays owner-only).
///
/// An instance is `deployed` while its process runs and it is up: its HTTP health checks pass, or without any, every
/// port accepts a connection. A process that exits is restarted on the same ports after a backoff (100 ms doubling to
/// 10 s, reset once it stayed up 10 s); a command that fails at once keeps being restarted, and the reconciler's
/// timeout decides when the service has failed.
///
/// A workflow's daemon (an identity made by ``ServiceIdentity/workflow(_:breed:)``) runs the same way: its records say
/// `kind: workflow`, its instances are named `workflow-<name>-<index>`, and it never shares records with a deployment of
/// the same name. A `time` or `event` workflow's one-off run (``runJob(_:)``) is a process group of its own that the
/// driver waits for, stops at its timeout or on cancellation, and never restarts or records.
///
/// Ownership is recorded in `<directory>/services/`: one record per service and one per instance (run, pid, process
/// start time, ports, digest, what to run, `kind` for a workflow; a record without `kind` is a service's). The driver
/// reads its records on first use; a driver made on the same directory after a restart of the server adopts the
/// processes that still run and restarts the others. The driver never stops processes when it stops.
///
/// Each step is recorded before it is taken, so a server killed between any two leaves nothing leaked or doubled: the
/// run before its process starts (a process whose pid was not recorded yet is adopted by its marker, never started a
/// second time; a process with the driver's marker that no record claims is killed), a stop before its signal and an
/// undeploy before its stops (the next driver finishes them and starts nothing again).
///
/// The driver is a `Service`: creating it reads and starts nothing. Its supervision (each instance's process watched
/// and restarted, readiness probes, each service's convergence, the adoption of what an earlier driver left) runs in
/// ``run()`` and stops when that ends; the processes keep running. Called before ``run()`` starts, ``deploy(_:update:)``
/// records the service and queues its convergence, which begins with ``run()``; ``undeploy(_:)`` stops the processes
/// at once (it needs no background work); ``services()`` answers from the records: an instance whose process still runs
/// is adopted when the records are read, and counts as deployed when its record says it was up, or when, its readiness
/// unknown, a probe made before the first answer finds it up (so that a restart of the server does not take its traffic
/// away), until its probe, which starts with ``run()``, says otherwise. Once
/// ``run()`` has ended, deploy and undeploy fail with a transient error.
///
/// How processes are watched: a process the driver started is its child, awaited through swift-subprocess (which reaps
/// it, so no zombie stays, and reports the exit status) in the one task that is not a child of ``run()``: cancelling
/// swift-subprocess's wait kills the child, which must outlive the driver, so that wait ends only with the process and
/// the supervisor merely stops listening to it. An adopted process, not a child, is watched by polling `kill(pid, 0)`
/// and its start time. Each instance's state is a `LocalInstanceLife`.
public actor LocalProcessDriver: ContainerDriver {
    /// `command`: the original's `cmd` is accepted as its alias (``ContainerDriver/runs(_:)``).
    public nonisolated let deployableTypes: Set<String> = ["command"]

    let directory: URL
    let workingDirectory: URL
    let configuration: Configuration
    let policy: LocalInstanceLife.Policy
    let logger: Logger
    let store: LocalRecordStore
    /// The first part of every process's marker: ``LocalRecordStore/owner``.
    let owner: String
    let serverEnvironment: [String: String]
    let work = BackgroundWork()
    let notices = Broadcast<Void>()
    var phase = Phase.unread
    var running: [ServiceIdentity: ServiceState] = [:]
    var reservedPorts: Set<Int> = []

    enum Phase {
        /// The records have not been read.
        case unread
        /// The records are read; the supervision waits for ``run()``.
        case open
        /// ``run()`` runs the supervision.
        case running
        /// ``run()`` has ended: nothing is supervised, nothing more is recorded.
        case stopped
    }

    struct ServiceState {
        var record: LocalServiceRecord
        var instances: [Int: InstanceState] = [:]
        var convergence: BackgroundWork.Job?
    }

    struct InstanceState {
        var record: LocalInstanceRecord
        /// This instance's life: a later instance with the same number has another token.
        let token = UUID()
        let createdAt = ContinuousClock.now
        var life = LocalInstanceLife()
        var supervisor: BackgroundWork.Job?
        var probe: BackgroundWork.Job?
        /// Adopted without knowing whether it is up (found by its marker, or recorded before it was found up): probed
        /// once before the next report, so that a serving process is not reported down until its probe runs.
        var probeAtOnce = false
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
        let store = LocalRecordStore(directory: directory)
        self.store = store
        self.owner = store.owner
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

    /// Throws when ``run()`` has ended; reads the records on first use.
    func openForChanges() throws(ContainerDriverError) {
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
        await probeAdopted()
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
    /// its records. Returns when the processes are gone; a service that does not run is not an error. The service is
    /// recorded as being removed first, so a driver that finds it after a crash finishes the removal rather than
    /// starting it again.
    /// - Throws: A transient ``ContainerDriverError`` once ``run()`` has ended.
    public func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError) {
        try openForChanges()
        guard running[service] != nil else {
            store.removeService(service)
            return
        }
        await remove(service)
    }
}
