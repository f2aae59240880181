public import Foundation
import ContainerDrivers
import VampDSL
public import VampModel

/// What one deployment operation changes: the deployment after it, the gateways to store and to remove, the
/// inline breeds to store, and the events to publish once it is committed.
public struct DeploymentChange: Sendable, Hashable {
    /// The deployment's name.
    public var name: String
    /// The deployment after the change; `nil` when it is removed.
    public var deployment: Deployment?
    /// Gateways to store (the deployment's internal gateways, its external gateways).
    public var gateways: [Gateway] = []
    /// Names of gateways to remove.
    public var removedGateways: [String] = []
    /// Inline breeds of the request, to store.
    public var breeds: [Breed] = []
    /// Events to publish after the commit.
    public var events: [Event] = []
}

/// Deployment operations as pure functions: the request and the current state in, the ``DeploymentChange`` out.
/// The facade reads the state, resolves references, checks the gateways that result and commits the change;
/// what an operation does is decided here and tested with plain values.
public enum DeploymentOperations {
    /// Creates or merges a deployment (`POST /deployments`, `PUT /deployments/{name}`, a `kind: deployment`
    /// document).
    ///
    /// - Parameters:
    ///   - blueprint: the request's blueprint with every breed and scale resolved.
    ///   - name: the deployment's name.
    ///   - existing: the deployment as stored; `nil` when there is none.
    ///   - gateways: every stored gateway.
    ///   - deployments: every stored deployment (their ports are taken).
    ///   - inlineBreeds: the breeds the request wrote inline, to be stored.
    ///   - now: the time of the status changes and of the archive event.
    ///   - options: the default scale and the gateway host.
    ///   - allocator: hands out the ports of new gateways.
    ///   - requestBody: the value of the archive event.
    public static func deploy(
        _ blueprint: Blueprint, name: String, existing: Deployment?, gateways: [Gateway], deployments: [Deployment],
        inlineBreeds: [Breed], now: Date, options: DeploymentPlanning.Options, allocator: inout GatewayPortAllocator,
        requestBody: String
    ) throws(OperationError) -> DeploymentChange {
        var used = Set(gateways.map(\.port.number))
        for other in deployments where other.name != name { used.formUnion(other.ports.values) }
        // The request's own external gateways keep the ports they ask for: no internal gateway may get one.
        let external = DeploymentPlanning.externalGateways(of: blueprint, deployment: name)
        used.formUnion(external.map(\.port.number).filter { $0 != 0 })
        var ports = allocator
        let merged: Deployment
        do {
            merged = try DeploymentPlanning.merge(
                blueprint, into: existing, name: name, now: now, options: options,
                allocatePort: { () throws(VampErrors) -> Int in
                    do throws(GatewayPlanningError) {
                        let port = try ports.allocate(avoiding: used)
                        used.insert(port)
                        return port
                    } catch {
                        throw VampErrors([VampError(.invalidArtifact, error.description, kind: "deployment", name: name)])
                    }
                })
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }

        var externalGateways: [Gateway] = []
        for var gateway in external {
            for route in gateway.routes where !route.isExternal {
                let parts = route.path.split(separator: "/").map(String.init)
                guard parts.count == 3, merged.ports["\(parts[1]).\(parts[2])"] != nil else {
                    throw OperationError(.invalid, "deployment '\(name)': the gateway '\(gateway.name)' routes to '\(route.path.dropFirst(name.count + 1))', which is no port of a cluster of the deployment (write cluster/port)")
                }
            }
            if gateway.port.number == 0 {
                if let stored = gateways.first(where: { $0.name == gateway.name }), stored.port.number != 0 {
                    gateway.port.number = stored.port.number
                } else {
                    do throws(GatewayPlanningError) {
                        gateway.port.number = try ports.allocate(avoiding: used)
                        used.insert(gateway.port.number)
                    } catch {
                        throw OperationError(.invalid, "deployment '\(name)': \(error.description)", cause: error)
                    }
                }
            }
            externalGateways.append(gateway)
        }
        let clusterGateways = DeploymentPlanning.internalGateways(of: merged)
        let prefix = name + "/"
        let stale = Set(gateways.filter { $0.name.hasPrefix(prefix) && $0.isInternal }.map(\.name)).subtracting(clusterGateways.map(\.name))
        allocator = ports
        return DeploymentChange(
            name: name, deployment: merged, gateways: clusterGateways + externalGateways, removedGateways: stale.sorted(), breeds: inlineBreeds,
            events: [ArchiveEvents.event(existing == nil ? .create : .update, kind: .deployment, name: name, body: requestBody, at: now)])
    }

    /// Takes the services `blueprint` lists out of `existing` (`DELETE /deployments/{name}` with a body); `nil`
    /// when that changes nothing. With nothing left to serve, the deployment's external gateways go too.
    public static func slice(
        _ blueprint: Blueprint, from existing: Deployment, gateways: [Gateway], now: Date, requestBody: String?
    ) throws(OperationError) -> DeploymentChange? {
        let sliced: Deployment
        do throws(VampErrors) {
            sliced = try DeploymentPlanning.slice(blueprint, from: existing, now: now)
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }
        guard sliced != existing else { return nil }
        let clusterGateways = DeploymentPlanning.internalGateways(of: sliced)
        let prefix = existing.name + "/"
        let live = sliced.clusters.contains { $0.services.contains { $0.status.intention == .deployment } }
        let removed = Set(gateways.filter { $0.name.hasPrefix(prefix) && ($0.isInternal || !live) }.map(\.name))
            .subtracting(clusterGateways.map(\.name))
        return DeploymentChange(
            name: existing.name, deployment: sliced, gateways: clusterGateways, removedGateways: removed.sorted(),
            events: [ArchiveEvents.event(.update, kind: .deployment, name: existing.name, body: requestBody, at: now)])
    }

    /// A new scale for one service (`PUT …/scale`): the service is `Initiated` again.
    public static func scale(
        _ scale: Scale, of deployment: Deployment, cluster: String, service: String, now: Date
    ) throws(OperationError) -> DeploymentChange {
        var deployment = deployment
        guard let clusterIndex = deployment.clusters.firstIndex(where: { $0.name == cluster }),
              let serviceIndex = deployment.clusters[clusterIndex].services.firstIndex(where: { $0.breed.name == service && $0.status.intention == .deployment }) else {
            throw OperationError(.notFound, "deployment '\(deployment.name)' has no service '\(service)' in a cluster '\(cluster)'")
        }
        var scale = scale
        scale.name = nil
        deployment.clusters[clusterIndex].services[serviceIndex].scale = scale
        deployment.clusters[clusterIndex].services[serviceIndex].status = DeploymentPlanning.initiated(now)
        return DeploymentChange(
            name: deployment.name, deployment: deployment,
            events: [ArchiveEvents.event(.update, kind: .deployment, name: deployment.name, body: DSLWriter.yaml(.scale(scale)), at: now)])
    }

    /// A new or no SLA for one cluster (`PUT`, `POST`, `DELETE …/sla`); it replaces the cluster's SLA with the
    /// escalations the cluster added to it. An escalation written inline must target a cluster of the deployment.
    public static func sla(_ sla: ArtifactReference<SLA>?, of deployment: Deployment, cluster: String, now: Date) throws(OperationError) -> DeploymentChange {
        var deployment = deployment
        guard let index = deployment.clusters.firstIndex(where: { $0.name == cluster }) else {
            throw OperationError(.notFound, "deployment '\(deployment.name)' has no cluster '\(cluster)'")
        }
        var sla = sla
        if case .inline(var value)? = sla {
            // A cluster's SLA is anonymous: a name would make the stored deployment read as a named inline SLA.
            value.name = nil
            sla = .inline(value)
            let clusters = Set(deployment.clusters.map(\.name))
            let problems = value.escalations.enumerated().flatMap { index, escalation in
                unknownTargets(escalation, path: "escalations[\(index)]", clusters: clusters)
            }
            if !problems.isEmpty {
                throw OperationError(.invalid, problems.map { "deployment '\(deployment.name)', cluster '\(cluster)', sla.\($0)" }.joined(separator: "\n"))
            }
        }
        deployment.clusters[index].sla = sla
        deployment.clusters[index].slaEscalations = []
        return DeploymentChange(
            name: deployment.name, deployment: deployment,
            events: [ArchiveEvents.event(.update, kind: .deployment, name: deployment.name, body: nil, at: now)])
    }

    /// The inline escalations (at any level) whose `target` is not one of `clusters`.
    static func unknownTargets(_ reference: ArtifactReference<Escalation>, path: String, clusters: Set<String>) -> [String] {
        guard case .inline(let escalation) = reference else { return [] }
        switch escalation.definition {
        case .scaleInstances(_, _, _, let target?), .scaleCPU(_, _, _, let target?), .scaleMemory(_, _, _, let target?):
            guard !clusters.contains(target) else { return [] }
            return ["\(path).target: the escalation targets cluster '\(target)', which the deployment does not have (it has \(clusters.sorted().joined(separator: ", ")))"]
        case .toAll(let children), .toOne(let children):
            return children.enumerated().flatMap { index, child in unknownTargets(child, path: "\(path).escalations[\(index)]", clusters: clusters) }
        case .scaleInstances, .scaleCPU, .scaleMemory, .generic:
            return []
        }
    }

    /// A cluster's internal gateway as `PUT /gateways/{deployment}/{cluster}/{port}` sends it: weights,
    /// conditions, strengths, stickiness and virtual hosts may change, the set of routes may not (they follow the
    /// services).
    public static func internalGateway(_ gateway: Gateway, of deployment: Deployment) throws(OperationError) -> DeploymentChange {
        var deployment = deployment
        let parts = gateway.name.split(separator: "/").map(String.init)
        guard parts.count == 3, parts[0] == deployment.name,
              let clusterIndex = deployment.clusters.firstIndex(where: { $0.name == parts[1] }),
              let gatewayIndex = deployment.clusters[clusterIndex].gateways.firstIndex(where: { $0.name == parts[2] }) else {
            throw OperationError(.invalid, "gateway '\(gateway.name)': no deployment has this cluster gateway; clusterGateways gateways are created by deployments")
        }
        let prefix = "\(parts[0])/\(parts[1])/", suffix = "/\(parts[2])"
        var current = deployment.clusters[clusterIndex].gateways[gatewayIndex]
        var routes: [Route] = []
        for route in gateway.routes {
            var path = route.path
            if path.hasPrefix(prefix), path.hasSuffix(suffix) { path = String(path.dropFirst(prefix.count).dropLast(suffix.count)) }
            var copy = route
            copy.path = path
            copy.targets = []
            routes.append(copy)
        }
        let before = Set(current.routes.map(\.path)), after = Set(routes.map(\.path))
        guard before == after else {
            throw OperationError(.invalid, "gateway '\(gateway.name)': the routes of an clusterGateways gateway follow the cluster's services (\(before.sorted().joined(separator: ", "))); change weights and conditions, or merge and slice the deployment to add or remove one")
        }
        current.routes = DeploymentPlanning.rebalanced(routes)
        current.sticky = gateway.sticky
        current.virtualHosts = gateway.virtualHosts
        current.tls = gateway.tls
        let total = current.routes.reduce(0) { $0 + ($1.weight?.value ?? 0) }
        guard total == 100 || total == 0 else {
            throw OperationError(.invalid, "gateway '\(gateway.name)': the route weights add up to \(total)%; they must add up to 100%")
        }
        deployment.clusters[clusterIndex].gateways[gatewayIndex] = current
        guard let served = DeploymentPlanning.internalGateways(of: deployment).first(where: { $0.name == gateway.name }) else {
            throw OperationError(.invalid, "gateway '\(gateway.name)' is not a gateway of deployment '\(parts[0])'")
        }
        return DeploymentChange(name: deployment.name, deployment: deployment, gateways: [served])
    }

    /// The reconciler's changes of stored services, each only if the service still has the status the decision
    /// saw. Services removed leave their clusters; a deployment left without services is removed with its
    /// gateways. Deployments that do not change are left out; the synchronisation events of every update are
    /// returned beside the changes (an update can report what happened without changing what is stored).
    public static func reconcile(
        _ updates: [ReconcilePlanner.ServiceUpdate], deployments: [Deployment], gateways: [Gateway], now: Date
    ) -> (changes: [DeploymentChange], events: [Event]) {
        let byDeployment = Dictionary(grouping: updates, by: \.id.deployment)
        var changes: [DeploymentChange] = []
        var events: [Event] = []
        for name in byDeployment.keys.sorted() {
            guard var deployment = deployments.first(where: { $0.name == name }) else { continue }
            let before = deployment
            for update in byDeployment[name]! {
                guard let c = deployment.clusters.firstIndex(where: { $0.name == update.id.cluster }),
                      let s = deployment.clusters[c].services.firstIndex(where: { $0.breed.name == update.id.service }),
                      deployment.clusters[c].services[s].status == update.seen else { continue }
                if let status = update.status { deployment.clusters[c].services[s].status = status }
                if let instances = update.instances { deployment.clusters[c].services[s].instances = instances }
                if update.remove { deployment.clusters[c].services.remove(at: s) }
                if let event = update.event {
                    events.append(Event(
                        tags: ["deployments:\(update.id.deployment)", "clusters:\(update.id.cluster)", "services:\(update.id.service)", "synchronization:\(event.rawValue)"],
                        value: nil, timestamp: now, type: "synchronization"))
                }
            }
            deployment.clusters.removeAll { $0.services.isEmpty }
            guard deployment != before else { continue }
            if deployment.clusters.isEmpty {
                let prefix = name + "/"
                changes.append(DeploymentChange(
                    name: name, deployment: nil, removedGateways: gateways.filter { $0.name.hasPrefix(prefix) }.map(\.name),
                    events: [ArchiveEvents.event(.delete, kind: .deployment, name: name, body: nil, at: now)]))
            } else {
                changes.append(DeploymentChange(name: name, deployment: deployment))
            }
        }
        return (changes, events)
    }
}
