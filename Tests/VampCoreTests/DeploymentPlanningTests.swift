import ContainerDrivers
import Foundation
import Testing
import VampCore
import VampDSL
import VampModel

/// Merge, slice, environment resolution and the reconcile decision, with plain values.
@Suite("Deployment planning")
struct DeploymentPlanningTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func breed(_ name: String, port: String = "web", variables: [EnvironmentVariable] = [], dependencies: [Dependency] = []) -> Breed {
        Breed(name: name, deployable: Deployable(type: "command", definition: "sava --text \(name)"),
              ports: [BreedPort(name: port, number: 8080)], environmentVariables: variables, dependencies: dependencies)
    }

    static func blueprint(_ clusters: [(String, [Breed])], name: String = "shop", gateways: [Gateway] = []) -> Blueprint {
        Blueprint(name: name, gateways: gateways, clusters: clusters.map { cluster in
            Cluster(name: cluster.0, services: cluster.1.map { Service(breed: .inline($0)) })
        })
    }

    /// A merge with ports handed out from 40000 up.
    static func merge(_ blueprint: Blueprint, into existing: Deployment? = nil, now: Date = t0) throws -> Deployment {
        var next = 40000 + (existing?.ports.count ?? 0)
        return try DeploymentPlanning.merge(blueprint, into: existing, name: blueprint.name, now: now, allocatePort: { () throws(VampErrors) -> Int in
            defer { next += 1 }
            return next
        })
    }

    static func weights(_ deployment: Deployment, _ cluster: String = "web") -> [String: Int] {
        let gateway = deployment.clusters.first { $0.name == cluster }!.gateways[0]
        return Dictionary(uniqueKeysWithValues: gateway.routes.map { ($0.path, $0.weight?.value ?? -1) })
    }

    @Test("the first version gets 100%, a canary merged next to it 0% (not 50/50, Vamp issue #1109), two new services 50/50")
    func weightRebalancing() throws {
        let first = try Self.merge(Self.blueprint([("web", [Self.breed("sava:1.0")])]))
        #expect(Self.weights(first) == ["sava:1.0": 100])
        #expect(first.ports == ["web.web": 40000])
        #expect(first.clusters[0].services[0].status.phase.name == .initiated)

        let canary = try Self.merge(Self.blueprint([("web", [Self.breed("sava:1.1")])]), into: first, now: Self.t0 + 60)
        #expect(Self.weights(canary) == ["sava:1.0": 100, "sava:1.1": 0])
        #expect(canary.clusters[0].services.map(\.breed.name) == ["sava:1.0", "sava:1.1"])
        // The existing service keeps its identity and status: nothing of it changed.
        #expect(canary.clusters[0].services[0].status == first.clusters[0].services[0].status)
        #expect(canary.ports == ["web.web": 40000])

        let both = try Self.merge(Self.blueprint([("web", [Self.breed("a:1"), Self.breed("b:1")])]))
        #expect(Self.weights(both) == ["a:1": 50, "b:1": 50])
    }

    @Test("a merge that carries the cluster gateway sets the split; weights that do not add up to 100% are refused")
    func weightsFromTheBlueprint() throws {
        let first = try Self.merge(Self.blueprint([("web", [Self.breed("sava:1.0"), Self.breed("sava:1.1")])]))
        var shift = Self.blueprint([("web", [Self.breed("sava:1.0"), Self.breed("sava:1.1")])])
        shift.clusters[0].gateways = [Gateway(name: "web", port: GatewayPort(number: 0), routes: [
            Route(path: "sava:1.0", weight: Percentage(90)), Route(path: "sava:1.1", weight: Percentage(10)),
        ])]
        let shifted = try Self.merge(shift, into: first)
        #expect(Self.weights(shifted) == ["sava:1.0": 90, "sava:1.1": 10])

        shift.clusters[0].gateways[0].routes[1].weight = Percentage(20)
        #expect {
            _ = try Self.merge(shift, into: first)
        } throws: { error in
            "\(error)".contains("add up to 110%") && "\(error)".contains("clusters.web.gateways.web")
        }
    }

    @Test("slice: the remaining routes must carry 100%; the slice takes the service's route away and marks it for undeployment")
    func sliceGuard() throws {
        var blueprint = Self.blueprint([("web", [Self.breed("sava:1.0"), Self.breed("sava:1.1")])])
        blueprint.clusters[0].gateways = [Gateway(name: "web", port: GatewayPort(number: 0), routes: [
            Route(path: "sava:1.0", weight: Percentage(90)), Route(path: "sava:1.1", weight: Percentage(10)),
        ])]
        let deployment = try Self.merge(blueprint)
        let remove = Self.blueprint([("web", [Self.breed("sava:1.0")])])
        #expect {
            _ = try DeploymentPlanning.slice(remove, from: deployment, now: Self.t0)
        } throws: { error in
            "\(error)".contains("Invalid route weight") && "\(error)".contains("10%")
        }
        blueprint.clusters[0].gateways[0].routes[0].weight = Percentage(0)
        blueprint.clusters[0].gateways[0].routes[1].weight = Percentage(100)
        let promoted = try Self.merge(blueprint, into: deployment)
        let sliced = try DeploymentPlanning.slice(remove, from: promoted, now: Self.t0 + 5)
        #expect(sliced.clusters[0].services[0].status.intention == .undeployment)
        #expect(Self.weights(sliced) == ["sava:1.1": 100])
        #expect(try DeploymentPlanning.slice(Blueprint(name: "shop"), from: promoted, now: Self.t0) == promoted)
    }

    @Test("a dependency is reached through its cluster's internal gateway; an unfilled placeholder is an error naming it")
    func environment() throws {
        let frontend = Self.breed(
            "frontend:1.0",
            variables: [
                EnvironmentVariable(name: "BACKEND", value: "http://$backend.host:$backend.ports.api/v1"),
                EnvironmentVariable(name: "PRICE", value: "$$5"),
                EnvironmentVariable(name: "REGION", value: nil),
            ],
            dependencies: [Dependency(alias: "backend", breed: .reference("backend:1.*"))])
        var blueprint = Self.blueprint([("frontend", [frontend]), ("backend", [Self.breed("backend:1.4", port: "api")])])
        #expect {
            _ = try Self.merge(blueprint)
        } throws: { error in
            "\(error)".contains("'REGION'") && "\(error)".contains("frontend.REGION")
        }
        blueprint.environmentVariables = [EnvironmentVariable(name: "frontend.REGION", value: "eu-west-1")]
        let deployment = try Self.merge(blueprint)
        let service = deployment.clusters[0].services[0]
        let values = Dictionary(uniqueKeysWithValues: service.environmentVariables.map { ($0.name, $0.value ?? "") })
        #expect(values["BACKEND"] == "http://127.0.0.1:\(deployment.ports["backend.api"]!)/v1")
        #expect(values["PRICE"] == "$5")
        #expect(values["REGION"] == "eu-west-1")
        #expect(service.dependencies == ["backend": "backend"])
    }

    // MARK: The reconcile decision

    static func runtime(_ deployment: Deployment, cluster: Int = 0, service: Int = 0, up: Int, digest: String? = nil) -> RuntimeService {
        let c = deployment.clusters[cluster], s = c.services[service]
        let id = ServiceIdentity(deployment: deployment.name, cluster: c.name, service: s.breed.name)
        let specification = ReconcilePlanner.specification(of: s, id: id, deployment: deployment, cluster: c)
        return RuntimeService(id: id, digest: digest ?? specification.digest, desiredInstances: s.scale.instances, instances: (0..<up).map {
            Instance(name: "i\($0)", host: "127.0.0.1", ports: ["web": 31000 + $0], deployed: true)
        })
    }

    @Test("deploy what does not run, Done when every instance is up, redeploy on drift, remove what nobody wants")
    func decisions() throws {
        let deployment = try Self.merge(Self.blueprint([("web", [Self.breed("sava:1.0")])]))
        let deploy = ReconcilePlanner.plan(deployments: [deployment], observed: [], now: Self.t0 + 1)
        guard case .deploy(let specification, update: false)? = deploy.actions.first else {
            Issue.record("expected a deploy, got \(deploy.actions)")
            return
        }
        #expect(specification.id.description == "shop/web/sava:1.0")
        #expect(deploy.updates.first?.status?.phase.name == .updating)

        let up = ReconcilePlanner.plan(deployments: [deployment], observed: [Self.runtime(deployment, up: 1)], now: Self.t0 + 2)
        #expect(up.actions.isEmpty)
        #expect(up.updates.first?.status?.phase.name == .done)
        #expect(up.updates.first?.event == .deployed)
        #expect(up.updates.first?.instances?.count == 1)

        var done = deployment
        done.clusters[0].services[0].status.phase = .init(name: .done, since: Self.t0 + 2)
        let drift = ReconcilePlanner.plan(deployments: [done], observed: [Self.runtime(done, up: 1, digest: "old")], now: Self.t0 + 3)
        #expect(drift.actions.count == 1)
        #expect(drift.updates.first?.event == .redeploy)
        let vanished = ReconcilePlanner.plan(deployments: [done], observed: [], now: Self.t0 + 3)
        #expect(vanished.updates.first?.event == .redeploy)

        let stray = ReconcilePlanner.plan(deployments: [], observed: [Self.runtime(done, up: 1)], now: Self.t0 + 3)
        #expect(stray.actions == [.undeploy(ServiceIdentity(deployment: "shop", cluster: "web", service: "sava:1.0"))])
    }

    @Test("a dependent service waits for its dependency; a service not up within the timeout is Failed with a reason")
    func dependenciesAndTimeout() throws {
        let frontend = Self.breed("frontend:1.0", dependencies: [Dependency(alias: "backend", breed: .reference("backend:1.4"))])
        let deployment = try Self.merge(Self.blueprint([("frontend", [frontend]), ("backend", [Self.breed("backend:1.4", port: "api")])]))
        let first = ReconcilePlanner.plan(deployments: [deployment], observed: [], now: Self.t0 + 1)
        let deployed = first.actions.compactMap { action -> String? in
            if case .deploy(let specification, _) = action { return specification.id.cluster }
            return nil
        }
        #expect(deployed == ["backend"])

        let late = ReconcilePlanner.plan(deployments: [deployment], observed: [], now: Self.t0 + 601)
        let failed = late.updates.first { $0.id.cluster == "frontend" }?.status
        #expect(failed?.phase.name == .failed)
        #expect(failed?.phase.notification?.contains("dependencies") == true)
    }

    @Test("undeployment: undeploy while it runs, then remove the service with synchronization:undeployed")
    func undeployment() throws {
        let deployment = try Self.merge(Self.blueprint([("web", [Self.breed("sava:1.0"), Self.breed("sava:1.1")])]))
        var sliced = deployment
        sliced.clusters[0].services[0].status = ServiceStatus(intention: .undeployment, since: Self.t0, phase: .init(name: .initiated, since: Self.t0))
        let running = ReconcilePlanner.plan(deployments: [sliced], observed: [Self.runtime(sliced, up: 1)], now: Self.t0 + 1)
        #expect(running.actions.contains(.undeploy(ServiceIdentity(deployment: "shop", cluster: "web", service: "sava:1.0"))))
        let gone = ReconcilePlanner.plan(deployments: [sliced], observed: [], now: Self.t0 + 2)
        let removal = gone.updates.first { $0.id.service == "sava:1.0" }
        #expect(removal?.remove == true)
        #expect(removal?.event == .undeployed)
    }

    @Test("the status rolled up per deployment: Failed, Initiating, Undeploying, Deploying, Deployed, the first that applies")
    func rolledUp() throws {
        var deployment = try Self.merge(Self.blueprint([("web", [Self.breed("a:1"), Self.breed("b:1")])]))
        func set(_ index: Int, _ intention: ServiceStatus.Intention, _ phase: ServiceStatus.Phase.Name) {
            deployment.clusters[0].services[index].status = ServiceStatus(intention: intention, since: Self.t0, phase: .init(name: phase, since: Self.t0))
        }
        #expect(DeploymentPlanning.rolledUpStatus(of: deployment) == "Initiating")
        set(0, .deployment, .done); set(1, .deployment, .updating)
        #expect(DeploymentPlanning.rolledUpStatus(of: deployment) == "Deploying")
        set(1, .undeployment, .updating)
        #expect(DeploymentPlanning.rolledUpStatus(of: deployment) == "Undeploying")
        set(1, .deployment, .done)
        #expect(DeploymentPlanning.rolledUpStatus(of: deployment) == "Deployed")
        set(0, .deployment, .failed)
        #expect(DeploymentPlanning.rolledUpStatus(of: deployment) == "Failed")
    }
}
