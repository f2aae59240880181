import Foundation
import Logging
import VampConcurrency
import VampModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a local driver finds when it reads its records, after a restart of the server or a crash of it: what to adopt,
/// what to finish stopping and what to kill (``LocalProcessDriver`` keeps the state).
extension LocalProcessDriver {
    /// Reads the records once and settles what a crash may have left: an instance whose process still runs is adopted at
    /// once (up if its record says it was, so that a restart of the server does not take its traffic away), found by
    /// its pid or, when the pid was not recorded yet, by the marker of the run its record names; a process with this
    /// driver's marker that no record claims is killed; an instance or a service whose stop had begun is stopped and
    /// forgotten (never started again). Every other recorded instance gets its supervisor and every service its
    /// convergence, which start with ``run()``.
    func open() throws(ContainerDriverError) {
        guard phase == .unread else { return }
        do {
            try store.prepare()
        } catch {
            throw ContainerDriverError("cannot create the local driver's state directory \(directory.path): \(error)", cause: error)
        }
        let (loaded, problems) = store.load()
        for problem in problems { logger.warning("unreadable local driver record skipped", metadata: ["vamp.file": "\(problem)"]) }
        let marked = Dictionary(grouping: LocalProcesses.marked(owner: store.owner), by: \.run)
        // The runs whose process is adopted (or still being stopped): everything else with the marker is nobody's.
        var owned: Set<String> = []
        var stops: [(ServiceIdentity, Int, UUID)] = []
        var removals: [ServiceIdentity] = []
        for (service, instances) in loaded {
            var state = ServiceState(record: service)
            for var record in instances {
                if !LocalProcesses.isAlive(record), let run = record.run,
                    let leader = marked[run]?.first(where: \.isSessionLeader)
                {
                    // Started and killed with the server before its pid was written: the process is this run's.
                    record.pid = leader.pid
                    record.startTime = leader.startTime
                    record.up = nil
                    save(record)
                    logger.info("found an instance's process by its marker", metadata: metadata(record))
                }
                if LocalProcesses.isAlive(record), let run = record.run { owned.insert(run) }
                state.instances[record.index] = InstanceState(record: record)
                reservedPorts.formUnion(record.ports.values)
            }
            running[service.id] = state
            if service.removing == true { removals.append(service.id) }
            for (index, instance) in state.instances.sorted(by: { $0.key < $1.key }) {
                let record = instance.record
                if service.removing == true || record.stopping == true {
                    // Its stop had begun: it finishes (the process, if it still runs, is stopped), nothing restarts it.
                    _ = transition(service.id, index, instance.token, .stop)
                    stops.append((service.id, index, instance.token))
                    continue
                }
                if let pid = record.pid, LocalProcesses.isAlive(record) {
                    perform(transition(service.id, index, instance.token, .adopted(pid: pid, wasUp: record.up == true)), service.id, index, instance.token)
                    running[service.id]?.instances[index]?.probeAtOnce = record.up != true
                    logger.info("adopted a running instance", metadata: metadata(record).merging(["vamp.up": "\(record.up == true)"]) { $1 })
                }
                startSupervisor(service.id, index)
            }
            if service.removing != true { converge(service.id) }
        }
        for (run, processes) in marked where !owned.contains(run) {
            for process in processes {
                logger.warning(
                    "killed a process of this driver that no record claims",
                    metadata: ["vamp.pid": "\(process.pid)", "vamp.run": "\(run)", "vamp.directory": "\(directory.path)"])
                LocalProcesses.killUnowned(process)
            }
        }
        phase = .open
        for (id, index, token) in stops { work.start { await self.stopInstance(id, index, token) } }
        for id in removals { work.start { await self.finishRemoval(id) } }
    }

    /// Probes, once and now, each adopted instance whose readiness is not known yet (``InstanceState/probeAtOnce``):
    /// a process that an earlier driver started and that serves is up in the first report after a restart, not once its
    /// probe, which starts with ``run()``, has come round. Without health checks: up when every port accepts a
    /// connection; with them: when each passes once.
    func probeAdopted() async {
        for (id, state) in running {
            for (index, instance) in state.instances where instance.probeAtOnce {
                running[id]?.instances[index]?.probeAtOnce = false
                guard case .probing(let pid) = instance.life.state else { continue }
                let up = await LocalProcesses.isUp(ports: instance.record.ports, checks: instance.record.launch.checks)
                readinessChanged(id, instance.record.index, instance.token, pid: pid, up: up)
            }
        }
    }

    /// Finishes the removal of a service that an earlier driver had begun, unless it was deployed again meanwhile (its
    /// instances are stopped all the same).
    func finishRemoval(_ id: ServiceIdentity) async {
        guard running[id]?.record.removing == true else { return }
        logger.info("the driver finishes the removal of a service that an earlier one began", metadata: metadata(id))
        await remove(id)
    }
}
