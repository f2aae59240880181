public import Foundation
public import Logging
public import ServiceLifecycle
import VampConcurrency
public import VampModel
import VampReleases

/// Drives the releases: every ``Configuration/period`` it reads the canary's and the baseline's figures of the
/// seconds since the last look (Pulse, a little behind the clock so the agents' buckets are in), asks the planner
/// (`VampReleases.ReleasePlanner`) and carries out its decision; it calls the webhooks a step waits for, and the ones
/// of a release's end. A user's change of the gateway's weights pauses the release.
///
/// Only one of the servers sharing a store drives releases: the holder of a lease (kind `release-leases`). A
/// server that takes the lease (after a restart, or after the other server stopped) goes on from the step and the
/// evidence stored: a release survives a restart. Weights a stopped server had decided but not written are written
/// then (the record says so); a weight changed by hand meanwhile pauses the release. A user's action (`POST /releases/{r}/abort`) is carried out by the server that receives it, at once.
public struct ReleaseDriver: ServiceLifecycle.Service, Sendable {
    /// Posts `body` (JSON) to `url` and says whether it answered 2xx within `timeout`, and what it answered.
    public typealias WebhookCall = @Sendable (_ url: String, _ body: Data, _ timeout: Duration) async -> (succeeded: Bool, message: String)

    /// Settings of the driver.
    public struct Configuration: Sendable {
        /// Time between two looks at the releases (`vamp.operation.release.period`, 1 s).
        public var period: Duration
        /// How far behind the clock the figures are read: the agents send a second's figures after it ended.
        public var settle: Duration
        /// This server's name in the lease.
        public var holder: String
        /// How long the lease lasts without renewal.
        public var leaseTime: Duration
        /// How webhooks are called.
        public var webhook: WebhookCall

        /// Creates the settings.
        public init(
            period: Duration = .seconds(1), settle: Duration = .seconds(2), holder: String, leaseTime: Duration = .seconds(15),
            webhook: @escaping WebhookCall
        ) {
            self.period = period
            self.settle = settle
            self.holder = holder
            self.leaseTime = leaseTime
            self.webhook = webhook
        }
    }

    let vamp: Vamp
    let configuration: Configuration
    let logger: Logger

    /// Creates the driver of `vamp`'s releases.
    public init(vamp: Vamp, configuration: Configuration, logger: Logger = Logger(label: "vamp.releases")) {
        self.vamp = vamp
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let clock = vamp.clock
        let lease = WorkflowLease(
            store: vamp.repository.store, holder: configuration.holder, time: configuration.leaseTime,
            recordKind: "release-leases", recordName: "driver")
        do {
            try await cancelWhenGracefulShutdown {
                var heldUntil: Date?
                while !Task.isCancelled {
                    try await clock.sleep(for: configuration.period)
                    let now = clock.now
                    // Renewed at a third of its time, not at every look.
                    if heldUntil.map({ $0.timeIntervalSince(now) < configuration.leaseTime.seconds * 2 / 3 }) ?? true {
                        switch await lease.acquire(at: now) {
                        case .held(let until): heldUntil = until
                        case .taken: heldUntil = nil
                        case .unknown: if let until = heldUntil, until <= now { heldUntil = nil }
                        }
                    }
                    guard heldUntil != nil else { continue }
                    await pass()
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: the state is in the store; the next holder goes on from it.
        }
        await lease.release()
    }

    /// One look at every release.
    public func pass() async {
        let names: [String]
        do {
            names = try await vamp.releaseNames()
        } catch {
            logger.error("the releases cannot be read", metadata: ["vamp.error": "\(error.message)"])
            return
        }
        for name in names where !Task.isCancelled {
            do {
                try await drive(name)
            } catch {
                logger.warning("a release cannot be driven this time", metadata: ["vamp.release": "\(name)", "vamp.error": "\(error.message)"])
            }
        }
    }

    func drive(_ name: String) async throws(OperationError) {
        guard let found = try await vamp.release(named: name) else { return }
        guard let record = found.record, record.releaseVersion == found.version else {
            try await vamp.startRelease(name)
            return
        }
        if !record.notifications.isEmpty { await notify(found.release, record) }
        // One read of the gateway per look: whether its routes are there, and whether someone moved its weights.
        let gateway = await vamp.storedGateway(of: found.release)
        if let missing = gateway.flatMap({ Vamp.missingRoutes(found.release, $0) }) {
            // Nothing to shift any more (the deployment or a service was removed): a running release fails, and no
            // weight is left to set.
            try await vamp.haltRelease(name, because: missing)
            return
        }
        // Weights written to the record but not known to be in the gateway (a server stopped between the two) are set
        // again; any other difference is a user's change, which pauses the release.
        guard !record.state.phase.isFinal else {
            if record.weightsPending { try await vamp.reassertRelease(name) }
            return
        }
        if record.weightsPending {
            try await vamp.reassertRelease(name)
        } else {
            // A canary the release merged that runs now brings the first step (the look below then sees a record it did
            // not read, and leaves it to the next look).
            _ = try await vamp.lookAtMergedCanary(found.release, record: record)
            try await vamp.observeRelease(found.release, record: record, gateway: gateway?.gateway, settle: Int64(configuration.settle.components.seconds))
        }
        try await callPendingWebhook(found.release)
    }

    /// Calls the webhooks of the step the release waits on, and gives the planner their answer.
    func callPendingWebhook(_ release: Release) async throws(OperationError) {
        guard let record = try await vamp.release(named: release.name)?.record, let pending = record.state.pendingWebhook,
              record.state.phase == .progressing else { return }
        let (succeeded, message) = await call(release, record, moment: pending.moment)
        let now = vamp.clock.now
        try await vamp.transitionRelease(release.name) { release, _, current throws(OperationError) in
            guard var current, current.state.pendingWebhook == pending else { return nil }
            let (state, actions) = ReleasePlanner.next(release, current.state, .webhookAnswered(pending.moment, succeeded: succeeded, message: message), now: now)
            current.state = state
            return (current, actions)
        }
    }

    /// Calls the webhooks of the release's end and forgets them (a failure is logged: the release is over).
    func notify(_ release: Release, _ record: ReleaseRecord) async {
        for moment in record.notifications {
            let (succeeded, message) = await call(release, record, moment: moment)
            if !succeeded {
                logger.warning("a release's \(moment.rawValue) webhook failed", metadata: ["vamp.release": "\(release.name)", "vamp.error": "\(message)"])
            }
        }
        let sent = record.notifications
        _ = try? await vamp.transitionRelease(release.name) { _, _, current throws(OperationError) in
            guard var current, current.notifications == sent else { return nil }
            current.notifications = []
            return (current, [])
        }
    }

    /// Posts to every webhook of `moment`; all must answer 2xx in time.
    func call(_ release: Release, _ record: ReleaseRecord, moment: ReleaseWebhook.Moment) async -> (Bool, String) {
        let body = Self.webhookBody(release, record, moment: moment)
        var answers: [String] = []
        for hook in release.webhooks where hook.moment == moment {
            let (succeeded, message) = await configuration.webhook(hook.url, body, .seconds(hook.timeout.seconds))
            guard succeeded else { return (false, "\(hook.url): \(message)") }
            answers.append(message)
        }
        return (true, answers.joined(separator: "; "))
    }

    /// What a webhook gets: the release's name and place, the moment, and its status (step, weight, evidence, checks,
    /// timeline).
    static func webhookBody(_ release: Release, _ record: ReleaseRecord, moment: ReleaseWebhook.Moment) -> Data {
        let body: JSONValue = .object([
            "release": .string(release.name), "moment": .string(moment.rawValue),
            "deployment": .string(release.deployment), "cluster": .string(release.cluster), "port": .string(release.port),
            "baseline": .string(release.baseline), "canary": .string(release.canary),
            "status": ReleaseStatusView.json(release, record),
        ])
        return (try? JSONEncoder().encode(body)) ?? Data("{}".utf8)
    }
}

extension Vamp {
    /// A release's gateway as the store has it.
    enum StoredGateway {
        case present(Gateway)
        case gone

        var gateway: Gateway? { if case .present(let gateway) = self { gateway } else { nil } }
    }

    /// The release's gateway as stored; `nil` when the store cannot be read now (that is no reason to fail a release).
    func storedGateway(of release: Release) async -> StoredGateway? {
        var workspace = Workspace(repository: repository)
        do {
            return .present(try await releaseGateway(release, in: &workspace))
        } catch {
            return error.code == .notFound ? .gone : nil
        }
    }

    /// What of the release's gateway is gone (the gateway, or the baseline's or the canary's route), in words; `nil`
    /// when both routes are there.
    static func missingRoutes(_ release: Release, _ stored: StoredGateway) -> String? {
        guard let gateway = stored.gateway else { return "its gateway '\(release.gatewayName)' is gone" }
        for service in [release.baseline, release.canary] where !gateway.routes.contains(where: { $0.path == release.routePath(service) }) {
            return "gateway '\(release.gatewayName)' has no route of \(service) any more"
        }
        return nil
    }

    /// Fails a running release whose gateway or routes are gone; a final one only forgets its unset weights.
    func haltRelease(_ name: String, because reason: String) async throws(OperationError) {
        let now = self.now
        try await transitionRelease(name) { release, _, current throws(OperationError) in
            guard var current else { return nil }
            if current.state.phase.isFinal {
                guard current.weightsPending else { return nil }
                current.weightsPending = false
                return (current, [])
            }
            let outcome = ReleasePlanner.next(release, current.state, .halt(reason), now: now)
            current.state = outcome.state
            // No gateway to write: the weights are not pending.
            current.weightsPending = false
            return (current, outcome.actions.filter { if case .setWeights = $0 { false } else { true } })
        }
    }

    /// Sets the weights the release's state asks for (after this server took the lease, or when they were not set).
    func reassertRelease(_ name: String) async throws(OperationError) {
        try await transitionRelease(name) { release, _, current throws(OperationError) in
            guard let current else { return nil }
            let expected = Self.expectedWeights(release, current.state)
            return (current, [.setWeights(canary: expected.weight, condition: expected.condition)])
        }
    }

    /// One look at a running release: a user's change of its weights, then the figures of the seconds since the last
    /// look (or the passing of time, when there are none).
    func observeRelease(_ release: Release, record: ReleaseRecord, gateway: Gateway?, settle: Int64) async throws(OperationError) {
        let now = self.now
        let second = await pulse.currentSecond
        let name = release.name
        let manual = record.state.phase == .paused ? nil : gateway.flatMap { Self.manualWeightChange(release, record.state, in: $0) }
        let from = (record.counted ?? second - settle - 1) + 1, upTo = second - settle
        let figures = from <= upTo ? await releaseFigures(release, seconds: from...upTo) : nil
        let traffic = (figures?.canary.requests ?? 0) + (figures?.baseline.requests ?? 0) > 0
        try await transitionRelease(name) { release, version, current throws(OperationError) in
            // Anything written since the look (a user's action, its weights) makes this look stale: the next one sees it.
            guard var current, current == record, current.releaseVersion == version, !current.state.phase.isFinal else { return nil }
            var actions: [ReleaseAction] = []
            var state = current.state
            if let manual {
                let outcome = ReleasePlanner.next(release, state, .manualWeightChange(manual), now: now)
                state = outcome.state
                actions += outcome.actions
            }
            // The figures are complete up to `settle` ago: a step's time is counted up to there, so that a step of a
            // second does not hold for lack of requests its figures have not brought yet (never before the last decision).
            let counted = max(now.addingTimeInterval(-Double(settle)), state.timeline.last?.time ?? .distantPast)
            let outcome = ReleasePlanner.next(release, state, traffic ? .figures(figures!) : .tick, now: counted)
            state = outcome.state
            actions += outcome.actions
            // Seconds without traffic are passed over in tens, so that an idle release writes rarely.
            let count = traffic || upTo - from >= 9
            guard !actions.isEmpty || count else { return nil }
            if count, from <= upTo { current.counted = upTo }
            current.state = state
            return (current, actions)
        }
    }
}
