import ContainerDrivers
import Foundation
import Persistence
import VampDSL
public import VampModel

/// What a `POST /deployments`, `PUT /deployments/{name}` or `DELETE /deployments/{name}` body asks for.
public enum DeploymentRequest: Sendable {
    /// A blueprint (or a deployment, taken as its blueprint), inline.
    case blueprint(Blueprint)
    /// The name of a stored blueprint (`sava:1.0`, `{name: sava:1.0}` or `{reference: sava:1.0}`).
    case reference(String)

    /// Reads a request body: a blueprint, a deployment, or the name of a stored blueprint.
    /// The name a body of one bare word holds (`sava:1.0`, `"sava:1.0"`): how a stored artifact is referred to in a
    /// request body instead of being sent inline. `nil` for anything else.
    public static func bareName(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.contains("\n"), !trimmed.hasPrefix("{"), !trimmed.hasPrefix("["), !trimmed.contains(": ") else { return nil }
        let name = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        return name.isEmpty ? nil : name
    }

    public static func read(_ text: String) throws(OperationError) -> DeploymentRequest {
        if let name = bareName(text) { return .reference(name) }
        let blueprintError: VampErrors
        do {
            let documents = try DSLReader.read(text, kind: .blueprint)
            guard documents.count == 1 else { throw OperationError(.invalid, "send one blueprint or deployment, not \(documents.count) documents") }
            switch documents[0].artifact {
            case .blueprint(let blueprint):
                if blueprint.clusters.isEmpty, blueprint.gateways.isEmpty { return .reference(blueprint.name) }
                let problems = documents[0].validate()
                guard problems.isEmpty else { throw OperationError(.invalid, problems.map(\.description).joined(separator: "\n")) }
                return .blueprint(blueprint)
            case .deployment(let deployment):
                return .blueprint(DeploymentPlanning.blueprint(of: deployment))
            default:
                throw OperationError(.invalid, "a deployment is made from a blueprint; this body is a \(documents[0].artifact.kind)")
            }
        } catch let error as VampErrors {
            blueprintError = error
        } catch let error as OperationError {
            throw error
        } catch {
            throw OperationError(.invalid, "\(error)")
        }
        if let documents = try? DSLReader.read(text, kind: .deployment), documents.count == 1, case .deployment(let deployment) = documents[0].artifact {
            return .blueprint(DeploymentPlanning.blueprint(of: deployment))
        }
        throw OperationError(.invalid, blueprintError.description)
    }
}

extension Vamp {
    // MARK: Reading

    /// The stored deployment, or `nil`.
    public func deployment(named name: String) async throws(OperationError) -> Deployment? {
        guard let stored = try await read(.deployment, name: name) else { return nil }
        return try Self.decodeDeployment(stored.json, name: name)
    }

    /// Every stored deployment (the reconciler's and the gateway synchroniser's view).
    public func allDeployments() async throws(OperationError) -> [Deployment] {
        var deployments: [Deployment] = []
        var page = 1
        while true {
            let records = try await list(.deployment, page: PageRequest(page: page, perPage: 500))
            for record in records.items { deployments.append(try Self.decodeDeployment(record.json, name: record.name)) }
            if page * 500 >= records.total { return deployments }
            page += 1
        }
    }

    static func decodeDeployment(_ json: Data, name: String) throws(OperationError) -> Deployment {
        guard let text = String(data: json, encoding: .utf8),
              let document = try? DSLReader.read(text, kind: .deployment).first,
              case .deployment(let deployment) = document.artifact else {
            throw OperationError(.unavailable, "the stored deployment '\(name)' cannot be read back; repair or delete it")
        }
        return deployment
    }

    // MARK: Create and merge

    /// Creates or merges a deployment (`POST /deployments`, `PUT /deployments/{name}`, a `kind: deployment`
    /// document): the blueprint's services join the deployment, new ones at 0% next to existing ones (the first
    /// version at 100%), internal gateways get ports, the environment is resolved, inline breeds are stored, and the
    /// reconciler is woken. Nothing is written when any check fails or with `validateOnly`.
    ///
    /// - Parameters:
    ///   - request: the blueprint, inline or by name.
    ///   - name: the deployment's name (`PUT`'s path); `nil` takes the blueprint's name.
    ///   - validateOnly: run every check and write nothing.
    ///   - requestBody: the request text, the value of the archive event.
    public func deploy(
        _ request: DeploymentRequest, name: String? = nil, validateOnly: Bool = false, requestBody: String? = nil
    ) async throws(OperationError) -> StoredArtifact {
        try await writes.run { () async throws(OperationError) -> StoredArtifact in
            try await self.deployLocked(request, name: name, validateOnly: validateOnly, requestBody: requestBody)
        }
    }

    func deployLocked(
        _ request: DeploymentRequest, name: String?, validateOnly: Bool, requestBody: String?
    ) async throws(OperationError) -> StoredArtifact {
        let now = configuration.now()
        var blueprint = try await blueprint(of: request)
        let deploymentName = name ?? blueprint.name
        if let problem = Names.artifactNameProblem(deploymentName) {
            throw OperationError(.invalid, "deployment '\(deploymentName)': illegal name: \(problem)")
        }
        var inlineBreeds: [Breed] = []
        blueprint = try await resolved(blueprint, inlineBreeds: &inlineBreeds)
        let existing = try await deployment(named: deploymentName)

        // Ports: every gateway's and every deployment's are taken.
        let gateways = try await allGateways()
        var used = Set(gateways.map(\.port.number))
        for other in try await allDeployments() where other.name != deploymentName { used.formUnion(other.ports.values) }
        var allocator = self.allocator
        let merged: Deployment
        do {
            merged = try DeploymentPlanning.merge(
                blueprint, into: existing, name: deploymentName, now: now, options: deploymentOptions,
                allocatePort: { () throws(VampErrors) -> Int in
                    do throws(GatewayPlanningError) {
                        let port = try allocator.allocate(avoiding: used)
                        used.insert(port)
                        return port
                    } catch {
                        throw VampErrors([VampError(.invalidArtifact, error.description, kind: "deployment", name: deploymentName)])
                    }
                })
        } catch {
            throw OperationError(.invalid, error.description)
        }

        var external: [Gateway] = []
        for var gateway in DeploymentPlanning.externalGateways(of: blueprint, deployment: deploymentName) {
            for route in gateway.routes where !route.isExternal {
                let parts = route.path.split(separator: "/").map(String.init)
                guard parts.count == 3, merged.ports["\(parts[1]).\(parts[2])"] != nil else {
                    throw OperationError(.invalid, "deployment '\(deploymentName)': the gateway '\(gateway.name)' routes to '\(route.path.dropFirst(deploymentName.count + 1))', which is no port of a cluster of the deployment (write cluster/port)")
                }
            }
            if gateway.port.number == 0 {
                if let stored = gateways.first(where: { $0.name == gateway.name }), stored.port.number != 0 {
                    gateway.port.number = stored.port.number
                } else {
                    do throws(GatewayPlanningError) {
                        gateway.port.number = try allocator.allocate(avoiding: used)
                        used.insert(gateway.port.number)
                    } catch {
                        throw OperationError(.invalid, "deployment '\(deploymentName)': \(error.description)")
                    }
                }
            }
            external.append(gateway)
        }
        let clusterGateways = DeploymentPlanning.internalGateways(of: merged)
        let prefix = deploymentName + "/"
        let staleInternal = Set(gateways.filter { $0.name.hasPrefix(prefix) && $0.isInternal }.map(\.name))
            .subtracting(clusterGateways.map(\.name))
        var changed: [String: Gateway] = [:]
        for gateway in clusterGateways + external { changed[gateway.name] = gateway }
        try await checkGateways(replacing: changed, removing: staleInternal, deployments: [merged])

        let json = Self.json(.deployment(merged))
        if validateOnly { return StoredArtifact(kind: .deployment, name: deploymentName, version: 0, json: json) }
        self.allocator = allocator

        var writes: [Write] = inlineBreeds.map { .save(.breed, $0.name, Self.json(.breed($0))) }
        writes += (clusterGateways + external).map { .save(.gateway, $0.name, Self.json(.gateway($0))) }
        writes += staleInternal.sorted().map { .delete(.gateway, $0) }
        writes.append(.save(.deployment, deploymentName, json))
        let stored = try await perform(writes)
        await publishArchive([
            ArchiveEvents.event(existing == nil ? .create : .update, kind: .deployment, name: deploymentName, body: requestBody ?? DSLWriter.yaml(.blueprint(blueprint)), at: now)
        ])
        gatewayChanged.yield()
        deploymentChanged.yield()
        return stored.last!
    }

    /// The blueprint a request names or carries.
    func blueprint(of request: DeploymentRequest) async throws(OperationError) -> Blueprint {
        switch request {
        case .blueprint(let blueprint): return blueprint
        case .reference(let name):
            guard let stored = try await read(.blueprint, name: name) else {
                throw OperationError(.invalid, "there is no blueprint '\(name)'; store it first (POST /api/v1/blueprints) or send it inline")
            }
            guard let text = String(data: stored.json, encoding: .utf8),
                  case .blueprint(let blueprint)? = try? DSLReader.read(text, kind: .blueprint).first?.artifact else {
                throw OperationError(.unavailable, "the stored blueprint '\(name)' cannot be read back; repair or delete it")
            }
            return blueprint
        }
    }

    /// The blueprint with every breed and scale reference replaced by the stored artifact, and the cluster gateways
    /// written without a port name bound; the inline breeds (to be stored) are collected.
    func resolved(_ blueprint: Blueprint, inlineBreeds: inout [Breed]) async throws(OperationError) -> Blueprint {
        var result = blueprint
        var problems: [String] = []
        var breeds: [String: Breed] = [:]
        for clusterIndex in result.clusters.indices {
            for serviceIndex in result.clusters[clusterIndex].services.indices {
                let service = result.clusters[clusterIndex].services[serviceIndex]
                let path = "clusters.\(result.clusters[clusterIndex].name).services[\(serviceIndex)]"
                switch service.breed {
                case .inline(let breed):
                    if !inlineBreeds.contains(where: { $0.name == breed.name }) { inlineBreeds.append(breed) }
                    breeds[breed.name] = breed
                case .reference(let name):
                    if let stored = try await read(.breed, name: name), let text = String(data: stored.json, encoding: .utf8),
                       case .breed(let breed)? = try? DSLReader.read(text, kind: .breed).first?.artifact {
                        result.clusters[clusterIndex].services[serviceIndex].breed = .inline(breed)
                        breeds[name] = breed
                    } else {
                        problems.append("\(path).breed: there is no breed '\(name)'; store it first or write it inline")
                    }
                }
                if case .reference(let name)? = service.scale {
                    if let stored = try await read(.scale, name: name), let text = String(data: stored.json, encoding: .utf8),
                       case .scale(let scale)? = try? DSLReader.read(text, kind: .scale).first?.artifact {
                        result.clusters[clusterIndex].services[serviceIndex].scale = .inline(scale)
                    } else {
                        problems.append("\(path).scale: there is no scale '\(name)'; store it first or write it inline")
                    }
                }
                for dependency in (breeds[service.breedName]?.dependencies ?? []) where dependency.breedName.isEmpty {
                    problems.append("\(path).breed.dependencies.\(dependency.alias): a dependency needs a breed name")
                }
            }
        }
        guard problems.isEmpty else {
            throw OperationError(.invalid, problems.map { "deployment '\(blueprint.name)': \($0)" }.joined(separator: "\n"))
        }
        do {
            return try result.bindingClusterGateways { breeds[$0] }
        } catch {
            throw OperationError(.invalid, error.description)
        }
    }

    var deploymentOptions: DeploymentPlanning.Options {
        DeploymentPlanning.Options(defaultScale: configuration.defaultScale, gatewayHost: configuration.resolution.gatewayHost)
    }

    // MARK: Slice

    /// Takes the services the blueprint lists out of the deployment (`DELETE /deployments/{name}` with a body): they
    /// are undeployed by the reconciler, their routes leave the gateways at once, and once nothing of the deployment
    /// runs it is gone (404). An empty request changes nothing.
    public func slice(
        _ request: DeploymentRequest, name: String, validateOnly: Bool = false, requestBody: String? = nil
    ) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            let now = self.configuration.now()
            let blueprint = try await self.blueprint(of: request)
            guard let existing = try await self.deployment(named: name) else {
                throw OperationError(.notFound, "there is no deployment '\(name)'")
            }
            let sliced: Deployment
            do throws(VampErrors) {
                sliced = try DeploymentPlanning.slice(blueprint, from: existing, now: now)
            } catch {
                throw OperationError(.invalid, error.description)
            }
            guard sliced != existing else { return }
            let clusterGateways = DeploymentPlanning.internalGateways(of: sliced)
            let gateways = try await self.allGateways()
            let prefix = name + "/"
            let live = sliced.clusters.contains { $0.services.contains { $0.status.intention == .deployment } }
            // With nothing left to serve, the deployment's external gateways go too.
            let removed = Set(gateways.filter { $0.name.hasPrefix(prefix) && ($0.isInternal || !live) }.map(\.name))
                .subtracting(clusterGateways.map(\.name))
            var changed: [String: Gateway] = [:]
            for gateway in clusterGateways { changed[gateway.name] = gateway }
            try await self.checkGateways(replacing: changed, removing: removed, deployments: [sliced])
            guard !validateOnly else { return }
            var writes: [Write] = clusterGateways.map { .save(.gateway, $0.name, Self.json(.gateway($0))) }
            writes += removed.sorted().map { .delete(.gateway, $0) }
            writes.append(.save(.deployment, name, Self.json(.deployment(sliced))))
            _ = try await self.perform(writes)
            await self.publishArchive([ArchiveEvents.event(.update, kind: .deployment, name: name, body: requestBody, at: now)])
            self.gatewayChanged.yield()
            self.deploymentChanged.yield()
        }
    }

    // MARK: Scale and SLA of one cluster

    /// The scale of a service (`GET …/clusters/{c}/services/{s}/scale`).
    public func scale(deployment name: String, cluster: String, service: String) async throws(OperationError) -> Scale? {
        guard let deployment = try await deployment(named: name) else { return nil }
        return deployment.clusters.first { $0.name == cluster }?.services.first { $0.breed.name == service && $0.status.intention == .deployment }?.scale
    }

    /// Replaces the scale of a service (`PUT …/scale`, a scale or a scale's name): the service is `Initiated` again
    /// and the reconciler makes the driver run that many instances.
    public func setScale(_ scale: ArtifactReference<Scale>, deployment name: String, cluster: String, service: String) async throws(OperationError) -> Scale {
        try await writes.run { () async throws(OperationError) -> Scale in
            var resolved: Scale
            switch scale {
            case .inline(let inline): resolved = inline
            case .reference(let reference):
                guard let stored = try await self.read(.scale, name: reference), let text = String(data: stored.json, encoding: .utf8),
                      case .scale(let found)? = try? DSLReader.read(text, kind: .scale).first?.artifact else {
                    throw OperationError(.invalid, "there is no scale '\(reference)'")
                }
                resolved = found
            }
            resolved.name = nil
            guard var deployment = try await self.deployment(named: name) else { throw OperationError(.notFound, "there is no deployment '\(name)'") }
            guard let clusterIndex = deployment.clusters.firstIndex(where: { $0.name == cluster }),
                  let serviceIndex = deployment.clusters[clusterIndex].services.firstIndex(where: { $0.breed.name == service && $0.status.intention == .deployment }) else {
                throw OperationError(.notFound, "deployment '\(name)' has no service '\(service)' in a cluster '\(cluster)'")
            }
            let now = self.configuration.now()
            deployment.clusters[clusterIndex].services[serviceIndex].scale = resolved
            deployment.clusters[clusterIndex].services[serviceIndex].status = DeploymentPlanning.initiated(now)
            _ = try await self.perform([.save(.deployment, name, Self.json(.deployment(deployment)))])
            await self.publishArchive([ArchiveEvents.event(.update, kind: .deployment, name: name, body: DSLWriter.yaml(.scale(resolved)), at: now)])
            self.deploymentChanged.yield()
            return resolved
        }
    }

    /// The SLA of a cluster (`GET …/clusters/{c}/sla`).
    public func sla(deployment name: String, cluster: String) async throws(OperationError) -> ArtifactReference<SLA>? {
        try await deployment(named: name)?.clusters.first { $0.name == cluster }?.sla
    }

    /// Replaces (`PUT`/`POST`) or removes (`nil`, `DELETE`) the SLA of a cluster.
    public func setSLA(_ sla: ArtifactReference<SLA>?, deployment name: String, cluster: String) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            guard var deployment = try await self.deployment(named: name) else { throw OperationError(.notFound, "there is no deployment '\(name)'") }
            guard let index = deployment.clusters.firstIndex(where: { $0.name == cluster }) else {
                throw OperationError(.notFound, "deployment '\(name)' has no cluster '\(cluster)'")
            }
            if case .reference(let reference)? = sla, try await self.read(.sla, name: reference) == nil {
                throw OperationError(.invalid, "there is no SLA '\(reference)'")
            }
            deployment.clusters[index].sla = sla
            _ = try await self.perform([.save(.deployment, name, Self.json(.deployment(deployment)))])
            await self.publishArchive([ArchiveEvents.event(.update, kind: .deployment, name: name, body: nil, at: self.configuration.now())])
        }
    }

    // MARK: Internal gateways through /gateways

    /// Updates a cluster's internal gateway (`PUT /gateways/{deployment}/{cluster}/{port}`): weights, conditions,
    /// strengths, stickiness and virtual hosts may change, the set of routes may not (they follow the services).
    func updateInternalGateway(_ gateway: Gateway, validateOnly: Bool) async throws(OperationError) -> StoredArtifact {
        let parts = gateway.name.split(separator: "/").map(String.init)
        guard parts.count == 3, var deployment = try await deployment(named: parts[0]),
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
        let total = current.routes.reduce(0) { $0 + ($1.weight?.value ?? 0) }
        guard total == 100 || total == 0 else {
            throw OperationError(.invalid, "gateway '\(gateway.name)': the route weights add up to \(total)%; they must add up to 100%")
        }
        deployment.clusters[clusterIndex].gateways[gatewayIndex] = current
        guard let served = DeploymentPlanning.internalGateways(of: deployment).first(where: { $0.name == gateway.name }) else {
            throw OperationError(.invalid, "gateway '\(gateway.name)' is not a gateway of deployment '\(parts[0])'")
        }
        try await checkGateways(replacing: [served.name: served], removing: [], deployments: [deployment])
        let json = Self.json(.gateway(served))
        if validateOnly { return StoredArtifact(kind: .gateway, name: served.name, version: 0, json: json) }
        let stored = try await perform([.save(.gateway, served.name, json), .save(.deployment, deployment.name, Self.json(.deployment(deployment)))])
        gatewayChanged.yield()
        return stored[0]
    }

    // MARK: Reconciliation

    /// Applies the reconciler's changes of stored services: each only if the service still has the status the
    /// decision saw. Services removed leave their clusters; a deployment left without services is deleted with
    /// its gateways. Publishes the synchronisation events; wakes the gateway synchroniser when instances changed.
    func applyReconcile(_ updates: [ReconcilePlanner.ServiceUpdate]) async throws(OperationError) {
        guard !updates.isEmpty else { return }
        try await writes.run { () async throws(OperationError) in
            let now = self.configuration.now()
            var events: [Event] = []
            var gatewaysChanged = false
            let byDeployment = Dictionary(grouping: updates, by: \.id.deployment)
            for name in byDeployment.keys.sorted() {
                guard var deployment = try await self.deployment(named: name) else { continue }
                let before = deployment
                for update in byDeployment[name]! {
                    guard let c = deployment.clusters.firstIndex(where: { $0.name == update.id.cluster }),
                          let s = deployment.clusters[c].services.firstIndex(where: { $0.breed.name == update.id.service }),
                          deployment.clusters[c].services[s].status == update.seen else { continue }
                    if let status = update.status { deployment.clusters[c].services[s].status = status }
                    if let instances = update.instances {
                        deployment.clusters[c].services[s].instances = instances
                        gatewaysChanged = true
                    }
                    if update.remove {
                        deployment.clusters[c].services.remove(at: s)
                        gatewaysChanged = true
                    }
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
                    var writes: [Write] = try await self.allGateways().filter { $0.name.hasPrefix(prefix) }.map { .delete(.gateway, $0.name) }
                    writes.append(.delete(.deployment, name))
                    _ = try await self.perform(writes)
                    await self.publishArchive([ArchiveEvents.event(.delete, kind: .deployment, name: name, body: nil, at: now)])
                    gatewaysChanged = true
                } else {
                    _ = try await self.perform([.save(.deployment, name, Self.json(.deployment(deployment)))])
                }
            }
            if gatewaysChanged { self.gatewayChanged.yield() }
            await self.publishArchive(events)
        }
    }

    // MARK: Writes with undo

    enum Write {
        case save(ArtifactKind, String, Data)
        case delete(ArtifactKind, String)
    }

    /// Performs the writes in order; when one fails, puts back what the ones before it changed. Returns what was
    /// saved (deletions return nothing).
    func perform(_ writes: [Write]) async throws(OperationError) -> [StoredArtifact] {
        var undo: [(kind: ArtifactKind, name: String, previous: ArtifactRecord?)] = []
        var stored: [StoredArtifact] = []
        do throws(OperationError) {
            for write in writes {
                switch write {
                case .save(let kind, let name, let body):
                    let previous = try await storeCall("artifacts") { try await self.artifacts.read(kind: kind.plural, name: name) }
                    invalidate(kind)
                    defer { invalidate(kind) }
                    let record = try await storeCall("artifacts") { try await self.artifacts.save(kind: kind.plural, name: name, body: body) }
                    undo.append((kind, name, previous))
                    stored.append(Self.stored(record, kind))
                case .delete(let kind, let name):
                    let previous = try await storeCall("artifacts") { try await self.artifacts.read(kind: kind.plural, name: name) }
                    guard previous != nil else { continue }
                    _ = try await removeStored(kind, name: name, expectedVersion: nil)
                    undo.append((kind, name, previous))
                }
            }
        } catch {
            await rollBack(undo)
            throw error
        }
        return stored
    }
}
