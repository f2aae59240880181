import Foundation
import Logging
public import VampModel
public import VampPulse
public import VampReleases

extension Vamp {
    // MARK: Carrying out a decision

    /// Carries out a transition's actions after its record was written at `version`: the gateway first (an abort or
    /// a rollback is one write, before anything else), then the baseline's removal and the events. A gateway that
    /// cannot be written leaves the record's weights pending (the driver sets them at its next pass) and throws.
    func carryOut(_ actions: [ReleaseAction], of release: Release, record: inout ReleaseRecord, version: Int64) async throws(OperationError) {
        var failure: OperationError?
        for action in actions {
            switch action {
            case .setWeights(let canary, let condition):
                do {
                    try await setReleaseWeights(release, canary: canary, condition: condition)
                } catch {
                    logger.error("the weights of a release cannot be set", metadata: ["vamp.release": "\(release.name)", "vamp.error": "\(error.message)"])
                    failure = failure ?? OperationError(error.code, "release '\(release.name)' is \(record.state.phase.rawValue), but its gateway '\(release.gatewayName)' could not be written (the server retries): \(error.message)", cause: error)
                }
            case .removeBaseline:
                do {
                    try await removeBaseline(of: release)
                } catch {
                    logger.error("the baseline of a promoted release cannot be removed", metadata: ["vamp.release": "\(release.name)", "vamp.error": "\(error.message)"])
                }
            case .publish(let decision):
                await publishArchive([Self.event(decision, of: release, phase: record.state.phase)])
            case .callWebhooks:
                // The driver calls them: a step's from the state's pending webhook, the end's from the record.
                break
            }
        }
        if let failure { throw failure }
        guard record.weightsPending else { return }
        record.weightsPending = false
        // Another writer since then keeps its own record (the weights are set again at worst).
        _ = try? await releaseRecords.write(release.name, record, at: version)
    }

    /// The event of a decision: type `release`, tags `releases:{name}`, `release`, `release:{decision}` and
    /// `deployments:{deployment}`; the value is the timeline entry with the release's name and phase.
    static func event(_ decision: ReleaseDecision, of release: Release, phase: ReleaseState.Phase) -> Event {
        var value: [String: JSONValue] = [:]
        if case .object(let entry) = ReleaseStatusView.decision(decision) { value = entry }
        value["release"] = .string(release.name)
        value["state"] = .string(phase.rawValue)
        return Event(
            tags: ["releases:\(release.name)", "release", "release:\(decision.kind.rawValue)", "deployments:\(release.deployment)"],
            value: .object(value), timestamp: decision.time, type: "release")
    }

    // MARK: The gateway

    /// The weights the release's state asks for: the canary's weight (or, in a step with a condition, 0% and the
    /// condition at that strength).
    static func expectedWeights(_ release: Release, _ state: ReleaseState) -> (weight: Percentage, condition: String?) {
        if state.phase.isFinal || state.waitingForCanarySince != nil { return (state.weight, nil) }
        return (state.weight, release.steps.indices.contains(state.step) ? release.steps[state.step].condition : nil)
    }

    /// Sets the canary's route of the release's gateway to `canary` (with `condition`: only requests matching it go
    /// to the canary, at `canary` as the condition's strength; the others go by weight, to the baseline) and the
    /// baseline's to what the other routes leave; other routes keep theirs. Written through the path of a user's
    /// `PUT /gateways/{deployment}/{cluster}/{port}`, checked like it; nothing is written when nothing changes.
    func setReleaseWeights(_ release: Release, canary weight: Percentage, condition: String?) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            var workspace = Workspace(repository: self.repository)
            var gateway = try await self.releaseGateway(release, in: &workspace)
            guard let canary = gateway.routes.firstIndex(where: { $0.path == release.routePath(release.canary) }),
                  let baseline = gateway.routes.firstIndex(where: { $0.path == release.routePath(release.baseline) }) else {
                throw OperationError(.invalid, "gateway '\(release.gatewayName)' has no route of \(release.baseline) or \(release.canary) any more")
            }
            let others = gateway.routes.indices.filter { $0 != canary && $0 != baseline }.reduce(0) { $0 + (gateway.routes[$1].weight?.value ?? 0) }
            let before = gateway
            if let condition {
                gateway.routes[canary].weight = .zero
                gateway.routes[canary].condition = .inline(Condition(name: nil, definition: condition))
                gateway.routes[canary].conditionStrength = weight
            } else {
                gateway.routes[canary].weight = weight
                gateway.routes[canary].condition = nil
                gateway.routes[canary].conditionStrength = nil
            }
            let canaryWeight = gateway.routes[canary].weight?.value ?? 0
            gateway.routes[baseline].weight = Percentage(max(0, min(100, 100 - others - canaryWeight)))
            guard gateway != before else { return }
            try await self.stageInternalGateway(gateway, in: &workspace)
            try await self.checkGateways(in: &workspace, changed: [gateway.name])
            try await self.commit(workspace, events: [])
        }
    }

    /// The release's gateway as stored.
    func releaseGateway(_ release: Release, in workspace: inout Workspace) async throws(OperationError) -> Gateway {
        guard case .gateway(let gateway)? = try await workspace.artifact(.gateway, release.gatewayName) else {
            throw OperationError(.notFound, "release '\(release.name)': there is no gateway '\(release.gatewayName)' any more")
        }
        return gateway
    }

    /// What differs between the canary's route in `gateway` (as stored) and what the release set, in words; `nil` when
    /// they agree.
    static func manualWeightChange(_ release: Release, _ state: ReleaseState, in gateway: Gateway) -> String? {
        guard let canary = gateway.routes.first(where: { $0.path == release.routePath(release.canary) }) else { return nil }
        let expected = Self.expectedWeights(release, state)
        let weight = canary.weight ?? .zero
        if let condition = expected.condition {
            guard case .inline(let written)? = canary.condition, written.definition == condition, canary.conditionStrength == expected.weight else {
                return "\(release.canary) no longer has the step's condition '\(condition)' at \(expected.weight)"
            }
            return weight == .zero ? nil : "\(release.canary) at \(weight), the release set 0% and a condition"
        }
        if weight != expected.weight { return "\(release.canary) at \(weight), the release set \(expected.weight)" }
        if canary.condition != nil, (canary.conditionStrength ?? .zero) != .zero { return "\(release.canary) got a condition" }
        return nil
    }

    /// Takes the baseline service out of the deployment (a slice), once the canary has all the traffic.
    func removeBaseline(of release: Release) async throws(OperationError) {
        let request: [String: Any] = ["name": release.deployment, "clusters": [release.cluster: ["services": [["breed": release.baseline]]]]]
        guard let data = try? JSONSerialization.data(withJSONObject: request) else { return }
        try await slice(try DeploymentRequest.read(String(decoding: data, as: UTF8.self)), name: release.deployment)
    }

    // MARK: Figures

    /// Both routes' figures over `seconds`, from Pulse.
    func releaseFigures(_ release: Release, seconds: ClosedRange<Int64>) async -> ReleaseFigures {
        let baseline = await pulse.figures(gateway: release.gatewayName, route: release.routePath(release.baseline), seconds: seconds)
        let canary = await pulse.figures(gateway: release.gatewayName, route: release.routePath(release.canary), seconds: seconds)
        return ReleaseFigures(baseline: Self.route(baseline), canary: Self.route(canary))
    }

    static func route(_ figures: PulseFigures?) -> ReleaseFigures.Route {
        guard let figures else { return ReleaseFigures.Route(requests: 0, errors: 0) }
        var times: [Double: Int] = [:]
        for (milliseconds, count) in figures.totalTime.recorded { times[Double(milliseconds), default: 0] += Int(clamping: count) }
        return ReleaseFigures.Route(requests: Int(clamping: figures.responses), errors: Int(clamping: figures.serverErrors), responseTimes: times)
    }
}
