import Foundation
import Testing
import VampCore
import VampModel

/// The escalations of Vamp 0.9.5 with plain values: bounds never crossed, `to_one` in order and in reverse, `to_all`,
/// target clusters, the first service only, stored escalations, unsupported types.
@Suite("Escalation planner")
struct EscalationPlannerTests {
    static let now = SLAPlannerTests.now

    static func deployment(web: [DeploymentService] = [SLAPlannerTests.service("web:1.0")], api: [DeploymentService] = [SLAPlannerTests.service("api:1.0")]) -> Deployment {
        Deployment(name: "shop", clusters: [DeploymentCluster(name: "web", services: web), DeploymentCluster(name: "api", services: api)])
    }

    static func instances(_ minimum: Int, _ maximum: Int, by: Int = 1, target: String? = nil) -> ArtifactReference<Escalation> {
        .inline(Escalation(definition: .scaleInstances(minimum: minimum, maximum: maximum, scaleBy: by, target: target)))
    }

    static func cpu(_ minimum: Double, _ maximum: Double, by: Double, target: String? = nil) -> ArtifactReference<Escalation> {
        .inline(Escalation(definition: .scaleCPU(minimum: minimum, maximum: maximum, scaleBy: by, target: target)))
    }

    static func memory(_ minimum: Double, _ maximum: Double, by: Double, target: String? = nil) -> ArtifactReference<Escalation> {
        .inline(Escalation(definition: .scaleMemory(minimum: minimum, maximum: maximum, scaleBy: by, target: target)))
    }

    static func sla(_ escalations: [ArtifactReference<Escalation>]) -> SLA { SLA(definition: .escalationOnly, escalations: escalations) }

    static func plan(_ direction: SLAPlanner.Direction, _ escalations: [ArtifactReference<Escalation>], _ deployment: Deployment = deployment()) -> EscalationPlanner.Outcome {
        EscalationPlanner.plan(direction, cluster: "web", of: deployment, sla: sla(escalations))
    }

    /// Applies the outcome's changes to the deployment, as the facade does.
    static func applied(_ outcome: EscalationPlanner.Outcome, to deployment: Deployment) -> Deployment {
        var deployment = deployment
        for change in outcome.changes {
            let c = deployment.clusters.firstIndex { $0.name == change.cluster }!
            let s = deployment.clusters[c].services.firstIndex { $0.breed.name == change.service }!
            #expect(deployment.clusters[c].services[s].scale == change.from, "each change starts from the one before")
            deployment.clusters[c].services[s].scale = change.to
        }
        return deployment
    }

    static func scale(_ deployment: Deployment, _ cluster: String = "web") -> Scale { deployment.clusters.first { $0.name == cluster }!.services[0].scale }

    @Test("scale_instances adds on escalate and subtracts on de-escalate, never leaving minimum...maximum")
    func bounds() {
        var deployment = Self.deployment()
        var seen: [Int] = []
        for direction in [SLAPlanner.Direction](repeating: .escalate, count: 5) + [SLAPlanner.Direction](repeating: .deescalate, count: 6) {
            let outcome = Self.plan(direction, [Self.instances(1, 3)], deployment)
            deployment = Self.applied(outcome, to: deployment)
            seen.append(Self.scale(deployment).instances)
        }
        #expect(seen == [2, 3, 3, 3, 3, 2, 1, 1, 1, 1, 1])
        // At a bound it says why nothing changed.
        let stuck = Self.plan(.deescalate, [Self.instances(1, 3)], deployment)
        #expect(stuck.changes.isEmpty)
        #expect(stuck.notes.first?.contains("0 instances would leave 1...3") == true, "\(stuck.notes)")

        // A step that would jump past the bound is refused, not clipped.
        let big = Self.plan(.escalate, [Self.instances(1, 4, by: 4)])
        #expect(big.changes.isEmpty)
    }

    @Test("scale_cpu and scale_memory work in cores and megabytes, exactly at the bounds")
    func cpuAndMemory() throws {
        // 0.5 + 0.1 + 0.1 + ... : binary noise must not keep a bound of 0.8 from being reached.
        var deployment = Self.deployment()
        for _ in 0..<4 { deployment = Self.applied(Self.plan(.escalate, [Self.cpu(0.5, 0.8, by: 0.1)], deployment), to: deployment) }
        #expect(Self.scale(deployment).cpu.cores == 0.8)
        let memory = Self.plan(.escalate, [Self.memory(256, 1024, by: 256)])
        #expect(memory.changes.map(\.to.memory.megabytes) == [512])
        #expect(memory.changes.first?.escalation == "scale_memory")
        #expect(memory.changes.first?.to.instances == 1, "the rest of the scale is kept")
        #expect(Self.plan(.deescalate, [Self.memory(256, 1024, by: 256)]).changes.isEmpty)
    }

    @Test("to_one tries its children in order and stops at the first that changes; de-escalating it goes in reverse")
    func toOne() {
        // Escalate: instances first (1 → 2), cpu untouched.
        let group: [ArtifactReference<Escalation>] = [.inline(Escalation(definition: .toOne([Self.instances(1, 2), Self.cpu(0.5, 1, by: 0.5)])))]
        let first = Self.plan(.escalate, group)
        #expect(first.changes.map(\.escalation) == ["scale_instances"])
        var deployment = Self.applied(first, to: Self.deployment())
        // Instances at their maximum: the next child, cpu, changes.
        let second = Self.plan(.escalate, group, deployment)
        #expect(second.changes.map(\.escalation) == ["scale_cpu"])
        deployment = Self.applied(second, to: deployment)
        #expect(Self.scale(deployment).instances == 2 && Self.scale(deployment).cpu.cores == 1)
        // Nothing left to add.
        #expect(Self.plan(.escalate, group, deployment).changes.isEmpty)
        // De-escalating undoes in reverse order: cpu first, then instances.
        let down = Self.plan(.deescalate, group, deployment)
        #expect(down.changes.map(\.escalation) == ["scale_cpu"])
        deployment = Self.applied(down, to: deployment)
        #expect(Self.plan(.deescalate, group, deployment).changes.map(\.escalation) == ["scale_instances"])
    }

    @Test("to_all applies every child, each after the one before; a child at its bound keeps the others' changes")
    func toAll() {
        let group: [ArtifactReference<Escalation>] = [.inline(Escalation(definition: .toAll([
            Self.instances(1, 3), Self.cpu(0.5, 0.5, by: 0.5), Self.memory(256, 512, by: 128),
        ])))]
        let outcome = Self.plan(.escalate, group)
        #expect(outcome.changes.map(\.escalation) == ["scale_instances", "scale_memory"])
        let deployment = Self.applied(outcome, to: Self.deployment())
        #expect(Self.scale(deployment) == Scale(cpu: CPU(cores: 0.5)!, memory: Memory(megabytes: 384)!, instances: 2))
        #expect(outcome.notes.count == 1, "the cpu escalation at its bound is noted: \(outcome.notes)")
    }

    @Test("a list of one acts as that escalation (to_one); a list of several acts as to_all")
    func implicitGroup() {
        #expect(Self.plan(.escalate, [Self.instances(1, 3)]).changes.count == 1)
        // Two children of a list: both apply (to_all), not only the first (to_one).
        let both = Self.plan(.escalate, [Self.instances(1, 3), Self.cpu(0.5, 1, by: 0.25)])
        #expect(both.changes.map(\.escalation) == ["scale_instances", "scale_cpu"])
        // to_all does not reverse on de-escalation.
        var deployment = Self.applied(both, to: Self.deployment())
        let down = Self.plan(.deescalate, [Self.instances(1, 3), Self.cpu(0.5, 1, by: 0.25)], deployment)
        #expect(down.changes.map(\.escalation) == ["scale_instances", "scale_cpu"])
        deployment = Self.applied(down, to: deployment)
        #expect(Self.scale(deployment) == Self.scale(Self.deployment()))
    }

    @Test("a target cluster is scaled instead of the SLA's own; a target that is not there changes nothing")
    func target() {
        let outcome = Self.plan(.escalate, [Self.instances(1, 3, target: "api")])
        #expect(outcome.changes.map(\.cluster) == ["api"])
        #expect(outcome.changes.map(\.service) == ["api:1.0"])
        let missing = Self.plan(.escalate, [Self.instances(1, 3, target: "db")])
        #expect(missing.changes.isEmpty)
        #expect(missing.notes.first?.contains("no cluster 'db'") == true)
    }

    @Test("only the first service of the cluster is scaled (the first still to be deployed)")
    func firstService() {
        let web = [
            SLAPlannerTests.service("web:0.9", intention: .undeployment), SLAPlannerTests.service("web:1.0"), SLAPlannerTests.service("web:1.1"),
        ]
        let outcome = Self.plan(.escalate, [Self.instances(1, 3)], Self.deployment(web: web))
        #expect(outcome.changes.map(\.service) == ["web:1.0"])
    }

    @Test("stored escalations are resolved at every level, with the escalations a cluster adds to a stored SLA")
    func storedEscalations() throws {
        let stored = SLAPlanner.StoredSLAs(
            slas: ["scaling": SLA(name: "scaling", definition: .escalationOnly, escalations: [.reference("grow")])],
            escalations: [
                "grow": Escalation(name: "grow", definition: .toOne([.reference("more"), .reference("bigger")])),
                "more": Escalation(name: "more", definition: .scaleInstances(minimum: 1, maximum: 2, scaleBy: 1, target: nil)),
                "bigger": Escalation(name: "bigger", definition: .scaleCPU(minimum: 0.5, maximum: 1, scaleBy: 0.5, target: nil)),
                "loop": Escalation(name: "loop", definition: .toOne([.reference("loop")])),
            ])
        var cluster = DeploymentCluster(name: "web", services: [SLAPlannerTests.service("web:1.0")], sla: .reference("scaling"))
        cluster.slaEscalations = [Self.memory(256, 512, by: 256, target: "api")]
        let sla = try #require(EscalationPlanner.resolvedSLA(of: cluster, stored: stored))
        #expect(sla.escalations.count == 2)
        var deployment = Self.deployment()
        deployment.clusters[0] = cluster
        // Several escalations: to_all of the stored group (its first child) and the cluster's own.
        let outcome = EscalationPlanner.plan(.escalate, cluster: "web", of: deployment, sla: sla)
        #expect(outcome.changes.map(\.description) == ["web/web:1.0 instances 1 → 2", "api/api:1.0 memory 256.00MB → 512.00MB"])

        // A missing stored escalation changes nothing and is named; a group that names itself ends.
        let broken = SLA(definition: .escalationOnly, escalations: [.reference("nope")])
        let missing = EscalationPlanner.plan(.escalate, cluster: "web", of: deployment, sla: try #require(EscalationPlanner.resolvedSLA(
            of: DeploymentCluster(name: "web", sla: .inline(broken)), stored: stored)))
        #expect(missing.changes.isEmpty)
        #expect(missing.notes.first?.contains("the escalation 'nope' is not stored") == true, "\(missing.notes)")
        let looping = try #require(EscalationPlanner.resolvedSLA(
            of: DeploymentCluster(name: "web", sla: .inline(SLA(definition: .escalationOnly, escalations: [.reference("loop")]))), stored: stored))
        #expect(EscalationPlanner.plan(.escalate, cluster: "web", of: deployment, sla: looping).changes.isEmpty)
        // A cluster naming an SLA that is not stored has none.
        #expect(EscalationPlanner.resolvedSLA(of: DeploymentCluster(name: "web", sla: .reference("gone")), stored: stored) == nil)
    }

    @Test("another escalation type is kept, changes nothing and is reported; to_one moves on to the next child")
    func unsupported() {
        let generic = ArtifactReference<Escalation>.inline(Escalation(definition: .generic(type: "notify", parameters: [:])))
        let alone = Self.plan(.escalate, [generic])
        #expect(alone.changes.isEmpty)
        #expect(alone.notes == ["escalation type 'notify' is not supported; it changes nothing"])
        let group: [ArtifactReference<Escalation>] = [.inline(Escalation(definition: .toOne([generic, Self.instances(1, 3)])))]
        #expect(Self.plan(.escalate, group).changes.count == 1)
    }
}
