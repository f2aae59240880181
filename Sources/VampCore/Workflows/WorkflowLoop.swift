import ContainerDrivers
import Foundation
import Logging
import Persistence
import Synchronization
import VampConcurrency
import VampModel

/// What the scheduler's children tell its loop: events seen, runs ended, workflows changed.
final class WorkflowInbox: Sendable {
    struct Taken {
        var changed = false
        var driverChanged = false
        var events: [Event] = []
        var finished: [(workflow: String, run: WorkflowRun)] = []
    }

    private let state = Mutex(Taken())
    let signal = WakeSignal()

    func changed() {
        state.withLock { $0.changed = true }
        signal.notify()
    }

    func driverChanged() {
        state.withLock { $0.driverChanged = true }
        signal.notify()
    }

    func event(_ event: Event) {
        state.withLock { $0.events.append(event) }
        signal.notify()
    }

    func finished(_ workflow: String, _ run: WorkflowRun) {
        state.withLock { $0.finished.append((workflow, run)) }
        signal.notify()
    }

    func take() -> Taken { state.withLock { taken in defer { taken = Taken() }; return taken } }
}

/// The scheduler's loop: its state belongs to the one task that runs it.
final class WorkflowLoop {
    /// A workflow the loop has scheduled.
    struct Entry {
        enum Plan {
            case time(TimeSchedule, key: String)
            case event(EventTrigger)
            case daemon(ServiceSpecification)
            /// Pulse's health, metrics or allocation publishing, done by the server (`BuiltInWorkflows`).
            case builtIn
        }

        var workflow: Workflow
        var breed: Breed
        var plan: Plan
        /// The run going, and how to stop it.
        var run: (id: String, stop: WakeSignal)?
        var lastSlot: Int?
        /// When the last run of this server ended: a slot that came due before it came due while it ran, so it is
        /// passed over, not started late.
        var lastEnded: Date?
        var nextDue: Date?
        var finished = false
        var coalesced = 0
    }

    let vamp: Vamp
    let driver: (any ContainerDriver)?
    let settings: WorkflowScheduler.Settings
    let logger: Logger
    let inbox = WorkflowInbox()
    let runs: WorkflowRunStore
    let lease: WorkflowLease
    var entries: [String: Entry] = [:]
    var leader = false
    /// Until when this server's lease lasts, as last written.
    var heldUntil = Date.distantPast
    /// When to look again whether every daemon runs as it should (also on the driver's change notices).
    var daemonCheck = Date.distantPast
    var leaseCheck = Date.distantPast
    var counter = 0

    init(vamp: Vamp, driver: (any ContainerDriver)?, settings: WorkflowScheduler.Settings, logger: Logger) {
        self.vamp = vamp
        self.driver = driver
        self.settings = settings
        self.logger = logger
        self.runs = WorkflowRunStore(store: vamp.repository.store)
        self.lease = WorkflowLease(store: vamp.repository.store, holder: settings.holder, time: settings.leaseTime)
    }

    func run() async {
        let inbox = self.inbox, vamp = self.vamp
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    for try await _ in vamp.changes.changes(of: [.workflow, .breed, .scale]) { inbox.changed() }
                } catch {}
            }
            group.addTask {
                for await event in vamp.subscribe(EventFilter()) { inbox.event(event) }
            }
            if let driver {
                // Something the driver runs changed on its own (a daemon's instance exited or was removed).
                group.addTask {
                    for await _ in driver.changeNotices() { inbox.driverChanged() }
                }
            }
            inbox.changed()
            while !Task.isCancelled {
                let deadline = await step(&group)
                await wait(until: deadline)
            }
            await stopEverything(undeploy: false)
            group.cancelAll()
        }
        // Stopping: the runs stopped above have ended (the group waited for them). Record them and give the lease up,
        // in a task of its own, as this one is cancelled and the store's calls would refuse to start.
        let finished = inbox.take().finished, runs = self.runs, lease = self.lease, leader = self.leader
        await Task {
            for (name, run) in finished {
                _ = try? await runs.update(name) { history in
                    history.record(run)
                    return true
                }
            }
            if leader { await lease.release() }
        }.value
    }

    /// Waits for a notice from the inbox or until `deadline`.
    func wait(until deadline: Date) async {
        let seconds = deadline.timeIntervalSince(vamp.clock.now)
        guard seconds > 0 else { return }
        let signal = inbox.signal, clock = vamp.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await signal.wait() }
            group.addTask { try? await clock.sleep(for: .microseconds(Int64(min(seconds, 3600) * 1e6))) }
            await group.next()
            group.cancelAll()
        }
    }

    /// One pass: the lease, what the inbox holds, and what is due. Returns when to look again at the latest.
    func step(_ group: inout DiscardingTaskGroup) async -> Date {
        var now = vamp.clock.now
        var taken = inbox.take()
        if now >= leaseCheck {
            let held: Bool
            switch await lease.acquire(at: now) {
            case .held(let until):
                heldUntil = until
                held = true
            case .taken:
                held = false
            case .unknown:
                // A store that did not answer this once: the lease this server holds lasts until its time is up.
                held = now < heldUntil
            }
            leaseCheck = now.addingTimeInterval(settings.leaseTime.seconds / 3)
            if held != leader {
                logger.info(held ? "this server runs the workflows' schedules" : "another server runs the workflows' schedules now")
                leader = held
                if held { taken.changed = true } else { await stopEverything(undeploy: false) }
            }
        }
        for (name, run) in taken.finished { await finished(name, run, group: &group) }
        guard leader else {
            for name in (try? await vamp.allWorkflows().map(\.name)) ?? [] {
                vamp.workflowStatuses.set(name, WorkflowScheduleStatus(phase: "standby", reason: "another server holds the schedules' lease"))
            }
            return leaseCheck
        }
        if taken.changed { await refresh(group: &group) }
        if taken.driverChanged || now >= daemonCheck {
            await superviseDaemons()
            daemonCheck = now.addingTimeInterval(settings.leaseTime.seconds / 3)
        }
        now = vamp.clock.now
        for event in taken.events { await received(event, group: &group) }
        var deadline = min(leaseCheck, daemonCheck)
        for name in entries.keys.sorted() {
            guard let entry = entries[name], case .time(let schedule, _) = entry.plan, !entry.finished else { continue }
            switch schedule.decide(lastStarted: entry.lastSlot, running: entry.run != nil, now: now, lastEnded: entry.lastEnded) {
            case .start(let slot, _, let skipped):
                await startSlot(name, slot: slot, skipped: skipped, group: &group)
                if let next = entries[name].map({ schedule.slotTime(($0.lastSlot ?? slot) + 1) }) {
                    entries[name]?.nextDue = next
                    deadline = min(deadline, next)
                }
            case .wait(let until):
                entries[name]?.nextDue = until
                deadline = min(deadline, until)
            case .finished:
                entries[name]?.finished = true
                entries[name]?.nextDue = nil
            }
            publishStatus(name)
        }
        return deadline
    }

    /// Reads the workflows and schedules, unschedules or reschedules them as their statuses say.
    func refresh(group: inout DiscardingTaskGroup) async {
        let workflows: [Workflow]
        do {
            workflows = try await vamp.allWorkflows()
        } catch {
            logger.warning("workflows not read; trying again shortly", metadata: ["vamp.error": "\(error)"])
            leaseCheck = vamp.clock.now.addingTimeInterval(1)
            inbox.changed()
            return
        }
        let present = Set(workflows.map(\.name))
        for name in entries.keys.sorted() where !present.contains(name) {
            await unschedule(name, undeploy: true)
            await runs.removeQuietly(name)
            await settings.forgetToken(name)
            vamp.workflowStatuses.set(name, nil)
        }
        for workflow in workflows {
            let name = workflow.name
            switch workflow.status {
            case .suspending, .suspended:
                if entries[name] != nil { await unschedule(name, undeploy: true) }
                if workflow.status == .suspending { try? await vamp.updateWorkflowStatus(name, to: .suspended, from: .suspending) }
                vamp.workflowStatuses.set(name, WorkflowScheduleStatus(phase: "not-scheduled", reason: "suspended"))
            case .stopping:
                if entries[name] != nil { await unschedule(name, undeploy: true) }
                try? await vamp.removeStoppedWorkflow(name)
            case .restarting:
                if entries[name] != nil { await unschedule(name, undeploy: true) }
                if await schedule(workflow, group: &group) { try? await vamp.updateWorkflowStatus(name, to: .running, from: .restarting) }
            case .starting, .running:
                if let entry = entries[name], Self.sameSchedule(entry.workflow, workflow), await breed(of: workflow) == entry.breed { continue }
                if entries[name] != nil { await unschedule(name, undeploy: false) }
                if await schedule(workflow, group: &group), workflow.status == .starting {
                    try? await vamp.updateWorkflowStatus(name, to: .running, from: .starting)
                }
            }
        }
    }

    /// True when nothing that decides how the workflow runs changed (only its status).
    static func sameSchedule(_ a: Workflow, _ b: Workflow) -> Bool {
        var a = a, b = b
        a.status = .running
        b.status = .running
        return a == b
    }

    func publishStatus(_ name: String) {
        guard let entry = entries[name] else { return }
        let phase: String
        switch entry.plan {
        case .daemon: phase = "deployed"
        case .builtIn: phase = "built-in"
        case .time, .event: phase = entry.run != nil ? "running" : entry.finished ? "finished" : "scheduled"
        }
        vamp.workflowStatuses.set(name, WorkflowScheduleStatus(phase: phase, nextRun: entry.nextDue, coalesced: entry.coalesced > 0 ? entry.coalesced : nil))
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
