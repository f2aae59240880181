import Foundation
import VampModel

extension Vamp {
    // MARK: SLA and escalations

    /// The stored SLAs and escalations, for clusters and groups that name them. Read only when something names one.
    func storedSLAs(for deployments: [Deployment]) async throws(OperationError) -> SLAPlanner.StoredSLAs {
        var workspace = Workspace(repository: repository)
        return try await storedSLAs(for: deployments, in: &workspace)
    }

    func storedSLAs(for deployments: [Deployment], in workspace: inout Workspace) async throws(OperationError) -> SLAPlanner.StoredSLAs {
        let clusters = deployments.flatMap(\.clusters).filter { $0.sla != nil }
        guard clusters.contains(where: Self.namesStoredArtifacts) else { return .none }
        var stored = SLAPlanner.StoredSLAs()
        for case .sla(let sla) in try await workspace.all(.sla) { if let name = sla.name { stored.slas[name] = sla } }
        for case .escalation(let escalation) in try await workspace.all(.escalation) {
            if let name = escalation.name { stored.escalations[name] = escalation }
        }
        return stored
    }

    /// True when the cluster's SLA is a reference or holds one at any level.
    static func namesStoredArtifacts(_ cluster: DeploymentCluster) -> Bool {
        func names(_ reference: ArtifactReference<Escalation>) -> Bool {
            switch reference {
            case .reference: return true
            case .inline(let escalation):
                switch escalation.definition {
                case .toAll(let children), .toOne(let children): return children.contains(where: names)
                case .scaleInstances, .scaleCPU, .scaleMemory, .generic: return false
                }
            }
        }
        switch cluster.sla {
        case .reference?: return true
        case .inline(let sla)?: return (sla.escalations + cluster.slaEscalations).contains(where: names)
        case nil: return false
        }
    }

    /// Applies the escalations of the SLA of the cluster `signal` names, in the direction it asks
    /// (``EscalationPlanner/plan(_:cluster:of:sla:)``), through the path of a user's scale change: each changed
    /// service gets its new scale and is `Initiated` again, an archive event is written per change, and the
    /// reconciler redeploys it. Decided on the deployment as stored when the write lock is held.
    ///
    /// Nothing happens (an empty outcome with a note) when the deployment, the cluster or its SLA is gone.
    func escalate(_ signal: SLAPlanner.Signal) async throws(OperationError) -> EscalationPlanner.Outcome {
        try await writes.run { () async throws(OperationError) -> EscalationPlanner.Outcome in
            var workspace = Workspace(repository: self.repository)
            let key = signal.key
            guard case .deployment(let deployment)? = try await workspace.artifact(.deployment, key.deployment),
                  let cluster = deployment.clusters.first(where: { $0.name == key.cluster }) else {
                return EscalationPlanner.Outcome(notes: ["there is no cluster '\(key.cluster)' in a deployment '\(key.deployment)'"])
            }
            guard cluster.sla != nil else { return EscalationPlanner.Outcome(notes: ["cluster '\(key)' has no SLA"]) }
            let stored = try await self.storedSLAs(for: [deployment], in: &workspace)
            guard let sla = EscalationPlanner.resolvedSLA(of: cluster, stored: stored) else {
                return EscalationPlanner.Outcome(notes: ["cluster '\(key)' names the SLA '\(cluster.sla?.referenceName ?? "")', which is not stored"])
            }
            let outcome = EscalationPlanner.plan(signal.direction, cluster: key.cluster, of: deployment, sla: sla)
            guard !outcome.changes.isEmpty else { return outcome }
            var events: [Event] = []
            var current = deployment
            for change in outcome.changes {
                let scaled = try DeploymentOperations.scale(change.to, of: current, cluster: change.cluster, service: change.service, now: self.now)
                self.stage(scaled, in: &workspace, events: &events)
                current = scaled.deployment ?? current
            }
            let changed = Set(outcome.changes.map { "\(key.deployment)/\($0.cluster)" })
            try await self.checkTotals(gateways: [], deployments: try await workspace.deployments(), changed: changed.sorted())
            try await self.commit(workspace, events: events)
            return outcome
        }
    }
}
