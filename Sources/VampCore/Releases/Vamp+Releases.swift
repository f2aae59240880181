import Foundation
public import VampModel
public import VampReleases

extension Release {
    /// The cluster port's gateway it shifts: `deployment/cluster/port`.
    public var gatewayName: String { "\(deployment)/\(cluster)/\(port)" }

    /// The path of `service`'s route in that gateway.
    func routePath(_ service: String) -> String { "\(deployment)/\(cluster)/\(service)/\(port)" }
}

extension Vamp {
    var releaseRecords: ReleaseRecordStore { ReleaseRecordStore(store: repository.store) }

    // MARK: Reading

    /// The release, the version stored, and its record (`nil` before it started); `nil` when there is no release.
    public func release(named name: String) async throws(OperationError) -> (release: Release, version: Int64, record: ReleaseRecord?)? {
        guard let stored = try await repository.read(.release, name: name), case .release(let release) = try artifact(stored) else { return nil }
        return (release, stored.version, try await releaseRecords.read(name)?.record)
    }

    /// The `status` of release `name` as the API shows it, or `nil` before it started (or when there is none).
    public func releaseStatus(_ name: String) async throws(OperationError) -> JSONValue? {
        guard let found = try await release(named: name), let record = found.record else { return nil }
        return ReleaseStatusView.json(found.release, record)
    }

    /// Every stored release's name.
    func releaseNames() async throws(OperationError) -> [String] {
        try await repository.all(.release).compactMap { if case .release(let release) = $0 { release.name } else { nil } }
    }

    // MARK: Checks of a write

    /// Refuses to store `release` when it names what does not exist (the deployment, its cluster, the port's gateway,
    /// the baseline or canary service), when a release of the same name runs (its definition is fixed until it ends),
    /// or when another release runs on the same gateway.
    func checkRelease(_ release: Release, in workspace: inout Workspace) async throws(OperationError) {
        let subject = "release '\(release.name)'"
        if let record = try await releaseRecords.read(release.name)?.record, !record.state.phase.isFinal {
            throw OperationError(.conflict, "\(subject) is \(record.state.phase.rawValue) (step \(record.state.step + 1), canary at \(record.state.weight)): it cannot be changed while it runs; abort it first, or give the new release another name")
        }
        guard case .deployment(let deployment)? = try await workspace.artifact(.deployment, release.deployment) else {
            throw OperationError(.invalid, "\(subject), field deployment: there is no deployment '\(release.deployment)'; deploy it first")
        }
        guard let cluster = deployment.clusters.first(where: { $0.name == release.cluster }) else {
            let names = deployment.clusters.map(\.name).sorted().joined(separator: ", ")
            throw OperationError(.invalid, "\(subject), field cluster: deployment '\(release.deployment)' has no cluster '\(release.cluster)' (it has \(names))")
        }
        guard cluster.gateways.contains(where: { $0.name == release.port }) else {
            let names = cluster.gateways.map(\.name).sorted().joined(separator: ", ")
            throw OperationError(.invalid, "\(subject), field port: cluster '\(release.cluster)' has no gateway for port '\(release.port)' (it has \(names.isEmpty ? "none" : names))")
        }
        let services = cluster.services.filter { $0.status.intention == .deployment }.map(\.breed.name)
        for (field, service) in [("baseline", release.baseline), ("canary", release.canary)] where !services.contains(service) {
            if field == "canary", release.mergeCanary { continue }
            let merge = field == "canary" ? "; merge it into the deployment first, or set `merge: true` to have the release merge the stored breed '\(service)'" : ""
            throw OperationError(.invalid, "\(subject), field \(field): cluster '\(release.cluster)' of deployment '\(release.deployment)' has no service '\(service)' (it has \(services.sorted().joined(separator: ", ")))\(merge)")
        }
        for other in try await releaseNames() where other != release.name {
            guard let found = try await self.release(named: other), let record = found.record, !record.state.phase.isFinal,
                  found.release.gatewayName == release.gatewayName else { continue }
            throw OperationError(.conflict, "\(subject): release '\(other)' is \(record.state.phase.rawValue) on gateway '\(release.gatewayName)'; one release per gateway at a time (abort it, or wait until it ends)")
        }
    }

    /// Refuses to delete a release that runs.
    func checkReleaseDeletion(_ name: String) async throws(OperationError) {
        if let record = try await releaseRecords.read(name)?.record, !record.state.phase.isFinal {
            throw OperationError(.conflict, "release '\(name)' is \(record.state.phase.rawValue): abort it before deleting it")
        }
    }

    // MARK: Actions

    /// Starts the stored release `name` at its first step: its state is written and the first step's weights are set
    /// before this returns. A release that already runs is left as it is.
    @discardableResult
    public func startRelease(_ name: String) async throws(OperationError) -> ReleaseRecord {
        let now = self.now
        let second = await pulse.currentSecond
        // A canary the release merged is waited for until it runs.
        var running = true
        if let found = try await release(named: name), found.release.mergeCanary, case .waiting = try await canaryProgress(found.release) {
            running = false
        }
        let record = try await transitionRelease(name) { [running] release, version, record throws(OperationError) in
            if let record, record.releaseVersion == version { return nil }
            let (state, actions) = ReleasePlanner.start(release, now: now, canaryRunning: running)
            return (ReleaseRecord(releaseVersion: version, state: state, counted: second, notifications: [], updated: now), actions)
        }
        guard let record else { throw OperationError(.conflict, "release '\(name)' did not start; try again") }
        return record
    }

    /// A user's action on release `name`: `pause`, `resume`, `approve`, `promote` or `abort`. Refused (conflict)
    /// when it does not apply now, with the reason. `abort` sets the canary's weight to 0% (one gateway write) before
    /// it returns.
    public func releaseCommand(_ command: ReleaseCommand, release name: String) async throws(OperationError) -> ReleaseRecord {
        let now = self.now
        let written = try await transitionRelease(name) { release, version, record throws(OperationError) in
            guard let record else { throw OperationError(.conflict, "release '\(name)' has not started") }
            let state = record.state, subject = "release '\(name)' is \(state.phase.rawValue)"
            if state.phase.isFinal { throw OperationError(.conflict, "\(subject): it cannot be \(Self.done(command)) any more") }
            switch command {
            case .pause where state.phase == .paused: throw OperationError(.conflict, "\(subject) already")
            case .resume where state.phase != .paused: throw OperationError(.conflict, "\(subject), not paused: there is nothing to resume")
            case .approve where state.phase != .awaitingApproval:
                throw OperationError(.conflict, "release '\(name)' waits for no approval (it is \(state.phase.rawValue))")
            case .promote where state.waitingForCanarySince != nil:
                throw OperationError(.conflict, "release '\(name)' waits for \(release.canary), which it merged, to run: it cannot be \(Self.done(command)) before its first step")
            default: break
            }
            var (next, actions) = ReleasePlanner.next(release, state, .command(command), now: now)
            if command == .resume, !actions.contains(where: { if case .setWeights = $0 { true } else { false } }) {
                // Weights moved by hand while it was paused go back to the step's.
                let expected = Self.expectedWeights(release, next)
                actions.insert(.setWeights(canary: expected.weight, condition: expected.condition), at: 0)
            }
            var updated = record
            updated.state = next
            return (updated, actions)
        }
        guard let written else { throw OperationError(.conflict, "release '\(name)' has not started") }
        return written
    }

    static func done(_ command: ReleaseCommand) -> String {
        switch command {
        case .pause: "paused"
        case .resume: "resumed"
        case .approve: "approved"
        case .promote: "promoted"
        case .abort: "aborted"
        }
    }

    // MARK: Transitions

    /// A decision about release `name`, made and carried out on this server one at a time: `decide` gets the release,
    /// its stored version and its record, and returns the new record and the actions (or `nil`: nothing to do). The
    /// record is written first, at the version read (another server's write in between makes it decide again); then
    /// the gateway is written, the baseline removed and the events published. The webhooks of the end are kept in the
    /// record for the driver to call. Returns the record written.
    @discardableResult
    func transitionRelease(
        _ name: String,
        _ decide: @Sendable @escaping (Release, Int64, ReleaseRecord?) throws(OperationError) -> (ReleaseRecord, [ReleaseAction])?
    ) async throws(OperationError) -> ReleaseRecord? {
        try await releaseTransitions.run { () async throws(OperationError) -> ReleaseRecord? in
            for _ in 0..<3 {
                guard let found = try await self.release(named: name) else { throw OperationError(.notFound, "there is no release '\(name)'") }
                let current = try await self.releaseRecords.read(name)
                guard let (proposed, actions) = try decide(found.release, found.version, current?.record) else { return current?.record }
                // The weights of the new state are set below; a record's earlier unset weights are the same ones or older.
                var record = proposed
                record.updated = self.now
                for case .callWebhooks(let moment) in actions where [.rollback, .completion].contains(moment) {
                    record.notifications.append(moment)
                }
                record.weightsPending = record.weightsPending || actions.contains { if case .setWeights = $0 { true } else { false } }
                guard let version = try await self.releaseRecords.write(name, record, at: current?.version ?? 0) else { continue }
                try await self.carryOut(actions, of: found.release, record: &record, version: version)
                return record
            }
            throw OperationError(.conflict, "release '\(name)' was changed by another server at the same time; try again")
        }
    }
}
