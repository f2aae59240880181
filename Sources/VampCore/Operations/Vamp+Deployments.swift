import Foundation
import Persistence
import VampDSL
public import VampModel

extension Vamp {
    // MARK: Reading

    /// The stored deployment, or `nil`.
    public func deployment(named name: String) async throws(OperationError) -> Deployment? {
        guard case .deployment(let deployment)? = try await repository.artifact(.deployment, name: name) else { return nil }
        return deployment
    }

    /// Every stored deployment (the reconciler's and the gateway synchroniser's view).
    public func allDeployments() async throws(OperationError) -> [Deployment] {
        try await repository.all(.deployment).compactMap { if case .deployment(let deployment) = $0 { deployment } else { nil } }
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
        var workspace = Workspace(repository: repository)
        var allocator = self.allocator
        var events: [Event] = []
        let deployment = try await stageDeploy(request, name: name, in: &workspace, allocator: &allocator, requestBody: requestBody, events: &events)
        try await checkGateways(in: &workspace, changed: [])
        let json = ArtifactRepository.json(.deployment(deployment))
        if validateOnly { return StoredArtifact(kind: .deployment, name: deployment.name, version: 0, json: json) }
        let outcomes = try await commit(workspace, events: events)
        self.allocator = allocator
        guard let index = workspace.keys.firstIndex(of: .init(kind: .deployment, name: deployment.name)),
              let record = outcomes[index].record else {
            return StoredArtifact(kind: .deployment, name: deployment.name, version: 0, json: json)
        }
        return ArtifactRepository.stored(record, .deployment)
    }

    /// Plans a create or merge into the workspace; returns the deployment after it.
    func stageDeploy(
        _ request: DeploymentRequest, name: String?, in workspace: inout Workspace, allocator: inout GatewayPortAllocator,
        requestBody: String?, events: inout [Event]
    ) async throws(OperationError) -> Deployment {
        var blueprint = try await blueprint(of: request, in: &workspace)
        let deploymentName = name ?? blueprint.name
        if let problem = Names.artifactNameProblem(deploymentName) {
            throw OperationError(.invalid, "deployment '\(deploymentName)': illegal name: \(problem)")
        }
        if let problem = Names.labelProblem(deploymentName) {
            let source = name == nil ? " (the blueprint's name; PUT /deployments/NAME deploys it under another)" : ""
            throw OperationError(.invalid, "deployment '\(Names.printable(deploymentName))', field name: illegal deployment name\(source): \(problem)")
        }
        var inlineBreeds: [Breed] = []
        blueprint = try await resolved(blueprint, inlineBreeds: &inlineBreeds, in: &workspace)
        let existing: Deployment?
        if case .deployment(let stored)? = try await workspace.artifact(.deployment, deploymentName) { existing = stored } else { existing = nil }
        let change = try DeploymentOperations.deploy(
            blueprint, name: deploymentName, existing: existing, gateways: try await workspace.gateways(),
            deployments: try await workspace.deployments(), inlineBreeds: inlineBreeds, now: now, options: deploymentOptions,
            allocator: &allocator, requestBody: requestBody ?? DSLWriter.yaml(.blueprint(blueprint)))
        // The breeds a blueprint names are known only now, and a merge may close a cycle neither blueprint had.
        let cycles = Validation.dependencyCycles(of: change.deployment!)
        if !cycles.isEmpty { throw OperationError(.invalid, cycles.map(\.description).joined(separator: "\n")) }
        stage(change, in: &workspace, events: &events)
        return change.deployment!
    }

    /// Records a planned change in the workspace.
    nonisolated func stage(_ change: DeploymentChange, in workspace: inout Workspace, events: inout [Event]) {
        for breed in change.breeds { workspace.save(.breed(breed)) }
        for gateway in change.gateways { workspace.save(.gateway(gateway)) }
        for name in change.removedGateways { workspace.delete(.gateway, name) }
        if let deployment = change.deployment {
            workspace.save(.deployment(deployment))
        } else {
            workspace.delete(.deployment, change.name)
        }
        events += change.events
    }

    /// The blueprint a request names or carries.
    func blueprint(of request: DeploymentRequest, in workspace: inout Workspace) async throws(OperationError) -> Blueprint {
        switch request {
        case .blueprint(let blueprint): return blueprint
        case .reference(let name):
            guard case .blueprint(let blueprint)? = try await workspace.artifact(.blueprint, name) else {
                throw OperationError(.invalid, "there is no blueprint '\(name)'; store it first (POST /api/v1/blueprints) or send it inline")
            }
            return blueprint
        }
    }

    /// The blueprint with every breed and scale reference replaced by the stored artifact, and the cluster gateways
    /// written without a port name bound; the inline breeds (to be stored) are collected.
    func resolved(_ blueprint: Blueprint, inlineBreeds: inout [Breed], in workspace: inout Workspace) async throws(OperationError) -> Blueprint {
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
                    if case .breed(let breed)? = try await workspace.artifact(.breed, name) {
                        result.clusters[clusterIndex].services[serviceIndex].breed = .inline(breed)
                        breeds[name] = breed
                    } else {
                        problems.append("\(path).breed: there is no breed '\(name)'; store it first or write it inline")
                    }
                }
                if case .reference(let name)? = service.scale {
                    if case .scale(let scale)? = try await workspace.artifact(.scale, name) {
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
            throw OperationError(.invalid, error.description, cause: error)
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
        try await delete([], slicing: [(name, request)], validateOnly: validateOnly, requestBody: requestBody)
    }

    /// Plans a slice into the workspace.
    func stageSlice(
        _ request: DeploymentRequest, name: String, in workspace: inout Workspace, requestBody: String? = nil, events: inout [Event]
    ) async throws(OperationError) {
        let blueprint = try await blueprint(of: request, in: &workspace)
        guard case .deployment(let existing)? = try await workspace.artifact(.deployment, name) else {
            throw OperationError(.notFound, "there is no deployment '\(name)'")
        }
        guard let change = try DeploymentOperations.slice(blueprint, from: existing, gateways: try await workspace.gateways(), now: now, requestBody: requestBody) else { return }
        stage(change, in: &workspace, events: &events)
    }

    // MARK: Scale and SLA of one cluster

    /// The scale of a service (`GET …/clusters/{c}/services/{s}/scale`).
    public func scale(deployment name: String, cluster: String, service: String) async throws(OperationError) -> Scale? {
        guard let deployment = try await deployment(named: name) else { return nil }
        return deployment.clusters.first { $0.name == cluster }?.services.first { $0.breed.name == service && $0.status.intention == .deployment }?.scale
    }

    /// Replaces the scale of a service (`PUT …/scale`, a scale or a scale's name): the service is `Initiated` again
    /// and the reconciler makes the driver run that many instances. With `validateOnly`, everything is checked and
    /// nothing is written.
    public func setScale(
        _ scale: ArtifactReference<Scale>, deployment name: String, cluster: String, service: String, validateOnly: Bool = false
    ) async throws(OperationError) -> Scale {
        try await writes.run { () async throws(OperationError) -> Scale in
            var workspace = Workspace(repository: self.repository)
            let resolved: Scale
            switch scale {
            case .inline(let inline): resolved = inline
            case .reference(let reference):
                guard case .scale(let found)? = try await workspace.artifact(.scale, reference) else {
                    throw OperationError(.invalid, "there is no scale '\(reference)'")
                }
                resolved = found
            }
            guard case .deployment(let deployment)? = try await workspace.artifact(.deployment, name) else {
                throw OperationError(.notFound, "there is no deployment '\(name)'")
            }
            let change = try DeploymentOperations.scale(resolved, of: deployment, cluster: cluster, service: service, now: self.now)
            var events: [Event] = []
            self.stage(change, in: &workspace, events: &events)
            try await self.checkTotals(gateways: [], deployments: try await workspace.deployments(), changed: ["\(name)/\(cluster)"])
            if !validateOnly { try await self.commit(workspace, events: events) }
            var answer = resolved
            answer.name = nil
            return answer
        }
    }

    /// The SLA of a cluster (`GET …/clusters/{c}/sla`).
    public func sla(deployment name: String, cluster: String) async throws(OperationError) -> ArtifactReference<SLA>? {
        try await deployment(named: name)?.clusters.first { $0.name == cluster }?.sla
    }

    /// Replaces (`PUT`/`POST`) or removes (`nil`, `DELETE`) the SLA of a cluster; with `validateOnly`, only checks.
    public func setSLA(_ sla: ArtifactReference<SLA>?, deployment name: String, cluster: String, validateOnly: Bool = false) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            var workspace = Workspace(repository: self.repository)
            guard case .deployment(let deployment)? = try await workspace.artifact(.deployment, name) else {
                throw OperationError(.notFound, "there is no deployment '\(name)'")
            }
            if case .reference(let reference)? = sla, try await workspace.artifact(.sla, reference) == nil {
                throw OperationError(.invalid, "there is no SLA '\(reference)'")
            }
            let change = try DeploymentOperations.sla(sla, of: deployment, cluster: cluster, now: self.now)
            var events: [Event] = []
            self.stage(change, in: &workspace, events: &events)
            if !validateOnly { try await self.commit(workspace, events: events) }
        }
    }

    // MARK: Internal gateways through /gateways

    /// Plans an update of a cluster's internal gateway (`PUT /gateways/{deployment}/{cluster}/{port}`).
    func stageInternalGateway(_ gateway: Gateway, in workspace: inout Workspace) async throws(OperationError) {
        let owner = String(gateway.name.split(separator: "/").first ?? "")
        guard case .deployment(let deployment)? = try await workspace.artifact(.deployment, owner) else {
            throw OperationError(.invalid, "gateway '\(gateway.name)': no deployment has this cluster gateway; clusterGateways gateways are created by deployments")
        }
        let change = try DeploymentOperations.internalGateway(gateway, of: deployment)
        var events: [Event] = []
        stage(change, in: &workspace, events: &events)
    }

    // MARK: Reconciliation

    /// Applies the reconciler's changes of stored services (``DeploymentOperations/reconcile(_:deployments:gateways:now:)``)
    /// in one transaction, and publishes the synchronisation events.
    func applyReconcile(_ updates: [ReconcilePlanner.ServiceUpdate]) async throws(OperationError) {
        guard !updates.isEmpty else { return }
        try await writes.run { () async throws(OperationError) in
            var workspace = Workspace(repository: self.repository)
            let (changes, synchronization) = DeploymentOperations.reconcile(
                updates, deployments: try await workspace.deployments(), gateways: try await workspace.gateways(), now: self.now)
            var events: [Event] = []
            for change in changes { self.stage(change, in: &workspace, events: &events) }
            try await self.commit(workspace, events: events + synchronization)
        }
    }
}
