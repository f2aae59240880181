import Foundation
import Logging
import VampConcurrency
import VampModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local driver's convergence of a service to its specification: instances started and stopped, a service removed
/// (``LocalProcessDriver`` keeps the state; the loops run as jobs under its `run()`).
extension LocalProcessDriver {
    // MARK: - Convergence

    /// Starts the service's convergence loop unless it runs; the loop reads the latest record on every pass.
    func converge(_ id: ServiceIdentity) {
        guard phase != .stopped, let state = running[id], state.convergence == nil else { return }
        running[id]?.convergence = work.start { await self.convergeLoop(id) }
    }

    func convergeLoop(_ id: ServiceIdentity) async {
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

    func startInstance(_ id: ServiceIdentity, _ index: Int) async {
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
    func stopInstance(_ id: ServiceIdentity, _ index: Int, _ token: UUID) async {
        guard let instance = instance(id, index, token) else { return }
        let pid = instance.life.pid ?? instance.record.pid.flatMap { pid in
            instance.record.startTime.flatMap { LocalProcesses.isAlive(pid: pid, startTime: $0) ? pid : nil }
        }
        perform(transition(id, index, token, .stop), id, index, token)
        if instance.record.stopping != true, var record = running[id]?.instances[index]?.record {
            // Recorded before the signal: a driver that finds the instance after a crash finishes the stop.
            record.stopping = true
            running[id]?.instances[index]?.record = record
            save(record)
        }
        if pid == nil, let leader = instance.record.pid { LocalProcesses.killOrphans(of: leader) }
        if let pid {
            LocalProcesses.signalGroup(pid, SIGTERM)
            configuration.crashPoint?(.signalled)
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

    /// Waits until nothing of process group `pid` is left (``LocalProcesses/groupExists(_:)``: a zombie child of this
    /// server counts until the task that awaits it has reaped it, another's zombie does not); false when something is
    /// still there after `timeout` or on cancellation.
    func waitUntilGone(_ pid: Int32, within timeout: Duration) async -> Bool {
        await LocalProcesses.waitUntilGone(pid, within: timeout)
    }

    // MARK: - Removal

    /// Records that the service is being removed, stops its instances and forgets it, unless it was deployed again
    /// meanwhile.
    func remove(_ service: ServiceIdentity) async {
        guard var state = running[service] else { return }
        work.cancel(state.convergence)
        running[service]?.convergence = nil
        if state.record.removing != true {
            state.record.removing = true
            running[service]?.record = state.record
            do {
                try store.write(state.record)
            } catch {
                logger.error("cannot record the removal of a service", metadata: metadata(service).merging(["vamp.error": "\(error)"]) { $1 })
            }
        }
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
}
