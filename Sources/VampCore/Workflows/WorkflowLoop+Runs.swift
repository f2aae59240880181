import ContainerDrivers
import Foundation
import Logging
import Persistence
import VampConcurrency
import VampModel

extension WorkflowLoop {
    // MARK: Scheduling

    /// Schedules `workflow`: a daemon is deployed, a time or event workflow waits for its slots or events; publishes
    /// `workflows:W` + `scheduled`. False when it cannot be scheduled yet (its breed is missing).
    func schedule(_ workflow: Workflow, group: inout DiscardingTaskGroup) async -> Bool {
        let name = workflow.name
        guard let breed = await breed(of: workflow) else {
            vamp.workflowStatuses.set(name, WorkflowScheduleStatus(phase: "waiting-for-breed", reason: "there is no breed '\(Self.breedName(workflow))'"))
            return false
        }
        let plan: Entry.Plan
        switch workflow.schedule {
        case _ where BuiltInWorkflows.job(of: breed) != nil:
            plan = .builtIn
        case .daemon:
            let specification = await specification(workflow, breed: breed)
            do {
                guard let driver else { throw ContainerDriverError("no container driver is configured", permanent: true) }
                try await driver.deploy(specification, update: true)
            } catch {
                logger.warning("workflow daemon not deployed", metadata: ["vamp.workflow": "\(name)", "vamp.error": "\(error)"])
                vamp.workflowStatuses.set(name, WorkflowScheduleStatus(phase: "not-deployed", reason: "\(error)"))
            }
            plan = .daemon(specification)
        case .event(let tags):
            plan = .event(EventTrigger(tags: Set(tags)))
        case .time(let period, let start, let repeatCount):
            let created = (try? await vamp.repository.store.read(kind: ArtifactKind.workflow.plural, name: name))?.createdAt ?? vamp.clock.now
            let schedule: TimeSchedule
            do {
                schedule = try TimeSchedule.resolve(period: period, start: start, repeat: repeatCount, created: created)
            } catch {
                vamp.workflowStatuses.set(name, WorkflowScheduleStatus(phase: "not-scheduled", reason: "\(error)"))
                return false
            }
            plan = .time(schedule, key: "\(period)|\(start ?? "now")|\(repeatCount.map(String.init) ?? "forever")|\(created.timeIntervalSince1970)")
        }
        var entry = Entry(workflow: workflow, breed: breed, plan: plan)
        if case .time(_, let key) = plan, let history = try? await runs.read(name).history, history.schedule == key {
            entry.lastSlot = history.lastSlot
        }
        entries[name] = entry
        await publish(name, "scheduled")
        publishStatus(name)
        return true
    }

    /// Stops the workflow's run (waiting for it to end is the run's own task), undeploys its daemon when asked, and
    /// publishes `workflows:W` + `unscheduled`.
    func unschedule(_ name: String, undeploy: Bool) async {
        guard let entry = entries.removeValue(forKey: name) else { return }
        entry.run?.stop.notify()
        if case .daemon(let specification) = entry.plan, undeploy, let driver {
            do {
                try await driver.undeploy(specification.id)
            } catch {
                logger.warning("workflow daemon not undeployed", metadata: ["vamp.workflow": "\(name)", "vamp.error": "\(error)"])
            }
        }
        await publish(name, "unscheduled")
    }

    /// Stops every run (the server stopping, or the lease lost); daemons keep running unless `undeploy`.
    func stopEverything(undeploy: Bool) async {
        for name in entries.keys.sorted() {
            if undeploy {
                await unschedule(name, undeploy: true)
            } else {
                entries[name]?.run?.stop.notify()
                entries.removeValue(forKey: name)
            }
        }
    }

    /// Deploys again each daemon the driver does not run as specified: gone, fewer instances than its scale, or
    /// started from another specification (the driver's own restarts cover a process that exits; this covers a
    /// container removed behind Vamp's back, as the reconciler does for a deployment's services).
    func superviseDaemons() async {
        guard let driver else { return }
        let daemons = entries.values.compactMap { entry -> ServiceSpecification? in
            if case .daemon(let specification) = entry.plan { specification } else { nil }
        }
        guard !daemons.isEmpty else { return }
        let running: [RuntimeService]
        do {
            running = try await driver.services()
        } catch {
            logger.debug("workflow daemons not checked", metadata: ["vamp.error": "\(error)"])
            return
        }
        for specification in daemons {
            let runtime = running.first { $0.id == specification.id }
            guard runtime == nil || runtime!.instances.count < specification.scale.instances || runtime!.digest != specification.digest else {
                continue
            }
            do {
                try await driver.deploy(specification, update: runtime != nil)
                logger.info("workflow daemon deployed again", metadata: ["vamp.workflow": "\(specification.id.deployment)"])
            } catch {
                logger.warning("workflow daemon not deployed", metadata: ["vamp.workflow": "\(specification.id.deployment)", "vamp.error": "\(error)"])
            }
        }
    }

    func publish(_ name: String, _ what: String) async {
        do {
            _ = try await vamp.publish([Event(tags: ["workflows:\(name)", what], timestamp: vamp.clock.now)])
        } catch {
            logger.warning("workflow event not published", metadata: ["vamp.workflow": "\(name)", "vamp.error": "\(error)"])
        }
    }

    // MARK: Runs

    /// Claims `slot` in the workflow's history and starts it; another server that claimed it first wins.
    func startSlot(_ name: String, slot: Int, skipped: Int, group: inout DiscardingTaskGroup) async {
        guard let entry = entries[name], case .time(_, let key) = entry.plan else { return }
        let now = vamp.clock.now
        let run = WorkflowRun(
            id: nextRunID(now), trigger: "schedule", slot: slot, event: nil, started: now, ended: nil, exitStatus: nil,
            outcome: "running", output: "", server: settings.holder, skipped: skipped > 0 ? skipped : nil)
        let claimed: WorkflowRunHistory?
        do {
            claimed = try await runs.update(name) { history in
                if history.schedule != key {
                    history.schedule = key
                    history.lastSlot = nil
                }
                guard (history.lastSlot ?? -1) < slot else { return false }
                history.lastSlot = slot
                history.record(run)
                return true
            }
        } catch {
            logger.warning("workflow run not claimed; trying again shortly", metadata: ["vamp.workflow": "\(name)", "vamp.error": "\(error)"])
            return
        }
        guard claimed != nil else {
            // Another server ran it (or this one did before a restart).
            entries[name]?.lastSlot = (try? await runs.read(name).history.lastSlot) ?? slot
            return
        }
        entries[name]?.lastSlot = slot
        launch(name, run: run, event: nil, group: &group)
    }

    /// An event: starts a run of each event workflow it matches, or folds it into the pending one.
    func received(_ event: Event, group: inout DiscardingTaskGroup) async {
        for name in entries.keys.sorted() {
            guard var entry = entries[name], case .event(var trigger) = entry.plan, trigger.matches(event) else { continue }
            let action = trigger.received(event)
            entry.plan = .event(trigger)
            entries[name] = entry
            if case .start(let starting) = action {
                await startEventRun(name, starting, group: &group)
            } else {
                entries[name]?.coalesced += 1
            }
            publishStatus(name)
        }
    }

    func startEventRun(_ name: String, _ event: Event, group: inout DiscardingTaskGroup) async {
        let now = vamp.clock.now
        let run = WorkflowRun(
            id: nextRunID(now), trigger: "event", slot: nil, event: event.id, started: now, ended: nil, exitStatus: nil,
            outcome: "running", output: "", server: settings.holder, skipped: nil)
        _ = try? await runs.update(name) { history in
            history.record(run)
            return true
        }
        launch(name, run: run, event: event, group: &group)
    }

    /// A run ended: recorded; an event workflow starts its pending run.
    func finished(_ name: String, _ run: WorkflowRun, group: inout DiscardingTaskGroup) async {
        do {
            try await runs.update(name) { history in
                history.record(run)
                return true
            }
        } catch {
            logger.warning("workflow run not recorded", metadata: ["vamp.workflow": "\(name)", "vamp.error": "\(error)"])
        }
        logger.info("workflow run ended", metadata: [
            "vamp.workflow": "\(name)", "vamp.run": "\(run.id)", "vamp.outcome": "\(run.outcome)",
            "vamp.exit": "\(run.exitStatus.map(String.init) ?? "-")",
        ])
        guard var entry = entries[name], entry.run?.id == run.id else { return }
        entry.run = nil
        entry.lastEnded = run.ended
        entries[name] = entry
        if case .event(var trigger) = entry.plan {
            let action = trigger.finished()
            entries[name]?.plan = .event(trigger)
            if case .start(let pending) = action { await startEventRun(name, pending, group: &group) }
        }
        publishStatus(name)
    }

    func nextRunID(_ now: Date) -> String {
        counter += 1
        return "\(Int64((now.timeIntervalSince1970 * 1000).rounded()))-\(counter)"
    }

    /// Starts the run in a child task; it reports to the inbox when it ends.
    func launch(_ name: String, run: WorkflowRun, event: Event?, group: inout DiscardingTaskGroup) {
        guard let entry = entries[name] else { return }
        let stop = WakeSignal()
        entries[name]?.run = (run.id, stop)
        publishStatus(name)
        let inbox = self.inbox, driver = self.driver, clock = vamp.clock
        let period: Int
        if case .time(let schedule, _) = entry.plan {
            period = Int(schedule.slotTime(1).timeIntervalSince(schedule.slotTime(0)).rounded())
        } else {
            period = 0
        }
        let timeout = WorkflowEnvironment.timeout(of: entry.workflow, fallback: settings.defaultTimeout)
        let workflow = entry.workflow, breed = entry.breed, server = settings.server(), token = settings.token
        let eventJSON = event.flatMap { try? String(data: JSONEncoder.workflowEvent.encode(EventJSON($0)), encoding: .utf8) }
        let scale = Self.scale(workflow)
        group.addTask {
            let environment = WorkflowEnvironment.make(
                workflow: workflow, breed: breed, server: server, period: period, timeout: timeout, token: await token(workflow.name),
                event: eventJSON)
            let job = JobSpecification(
                id: .workflow(workflow.name, breed: breed.name), run: run.id, breed: breed, scale: scale, environment: environment,
                arguments: breed.arguments + workflow.arguments, dialects: workflow.dialects, timeout: .seconds(timeout))
            var ended = run
            let result = await WorkflowRunner.execute(job, driver: driver, stop: stop)
            switch result {
            case .success(let outcome):
                ended.ended = outcome.ended
                ended.exitStatus = outcome.exitStatus
                ended.output = outcome.output
                ended.outcome = outcome.timedOut ? "timed-out" : outcome.cancelled ? "stopped" : outcome.exitStatus == 0 ? "succeeded" : "failed"
            case .failure(let refusal):
                ended.ended = clock.now
                ended.outcome = "not-started"
                ended.output = refusal.message
            }
            inbox.finished(workflow.name, ended)
        }
    }

    // MARK: What runs

    static func breedName(_ workflow: Workflow) -> String {
        switch workflow.breed {
        case .inline(let breed): breed.name
        case .reference(let name): name
        }
    }

    /// The workflow's breed: inline, or the stored one it names.
    func breed(of workflow: Workflow) async -> Breed? {
        switch workflow.breed {
        case .inline(let breed): return breed
        case .reference(let name):
            guard let stored = try? await vamp.read(.breed, name: name), case .breed(let breed)? = try? vamp.artifact(stored) else {
                return BuiltInWorkflows.breed(named: name)
            }
            return breed
        }
    }

    /// The original's default workflow scale: 0.1 CPU, 64 MB, one instance.
    static func scale(_ workflow: Workflow) -> Scale {
        if case .inline(let scale)? = workflow.scale { return scale }
        return Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1)
    }

    /// A daemon's specification for the driver.
    func specification(_ workflow: Workflow, breed: Breed) async -> ServiceSpecification {
        var scale = Self.scale(workflow)
        if case .reference(let name)? = workflow.scale, let stored = try? await vamp.read(.scale, name: name),
           case .scale(let named)? = try? vamp.artifact(stored) {
            scale = named
        }
        let environment = WorkflowEnvironment.make(
            workflow: workflow, breed: breed, server: settings.server(), period: 0,
            timeout: WorkflowEnvironment.timeout(of: workflow, fallback: settings.defaultTimeout),
            token: await settings.token(workflow.name), event: nil)
        return ServiceSpecification(
            id: .workflow(workflow.name, breed: breed.name), breed: breed, scale: scale, environment: environment,
            arguments: breed.arguments + workflow.arguments, healthChecks: workflow.healthChecks ?? breed.healthChecks ?? [],
            dialects: workflow.dialects)
    }
}

/// An event as a run gets it in `VAMP_WORKFLOW_EVENT`: the API's JSON shape.
struct EventJSON: Encodable {
    var id: String?
    var tags: [String]
    var value: JSONValue?
    var timestamp: Date
    var type: String

    init(_ event: Event) {
        id = event.id
        tags = event.tags
        value = event.value
        timestamp = event.timestamp
        type = event.type
    }
}

extension JSONEncoder {
    static let workflowEvent: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondISO8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}

/// Runs one job through the driver.
enum WorkflowRunner {
    /// Runs the job until it ends or `stop` is notified (which cancels it).
    static func execute(_ job: JobSpecification, driver: (any ContainerDriver)?, stop: WakeSignal) async -> Result<JobOutcome, WorkflowRunRefusal> {
        guard let driver else { return .failure(WorkflowRunRefusal("no container driver is configured to run workflows")) }
        return await withTaskGroup(of: Result<JobOutcome, WorkflowRunRefusal>?.self) { group in
            group.addTask {
                do {
                    return .success(try await driver.runJob(job))
                } catch {
                    return .failure(WorkflowRunRefusal("\(error)"))
                }
            }
            group.addTask {
                await stop.wait()
                return nil
            }
            var result: Result<JobOutcome, WorkflowRunRefusal>?
            while let next = await group.next() {
                group.cancelAll()
                if let next {
                    result = next
                    break
                }
            }
            return result ?? .failure(WorkflowRunRefusal("stopped before it started"))
        }
    }


}

/// Why a run did not start.
struct WorkflowRunRefusal: Error, Sendable, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
