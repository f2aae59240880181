/// The rules of blueprints: clusters, services, their gateways and variables.
extension Validation {
    // MARK: Blueprint

    /// Validates a blueprint: at least one service, unique breeds, satisfiable dependencies,
    /// gateway ports and routes, weights, env var keys, SLA targets.
    public static func validate(_ blueprint: Blueprint) -> [VampError] {
        var c = ErrorCollector(kind: "blueprint", name: blueprint.name)
        c.checkArtifactName(blueprint.name, "name")
        let clusterNames = Set(blueprint.clusters.map(\.name))
        if blueprint.clusters.allSatisfy({ $0.services.isEmpty }) {
            c.add(.invalidArtifact, "clusters", "expected at least one service; add a cluster with a breed, e.g. clusters: {web: catalog:2.1}")
        }
        let lookup: (String) -> Breed? = { reference in
            for cluster in blueprint.clusters {
                for service in cluster.services {
                    if case .inline(let breed) = service.breed, Names.dependency(reference, isSatisfiedBy: breed.name) { return breed }
                }
            }
            return nil
        }
        var breedUse: [String: String] = [:]
        var allBreeds: [String] = []
        var seenClusters = Set<String>()
        for cluster in blueprint.clusters {
            let cp = "clusters.\(cluster.name)"
            c.checkTraitName(cluster.name, cp)
            c.checkLabel(cluster.name, cp, "cluster name")
            if cluster.services.count > Limits.routesPerGateway {
                c.add(.limit, cp + ".services", "the cluster has \(cluster.services.count) services; at most \(Limits.routesPerGateway) are allowed (each service is a route of the cluster's gateways, and a gateway has at most \(Limits.routesPerGateway) routes)")
            }
            if !seenClusters.insert(cluster.name).inserted { c.add(.invalidArtifact, cp, "the cluster '\(cluster.name)' is defined twice") }
            var clusterPorts: [String: BreedPort.PortType] = [:]
            var clusterBreedNames = Set<String>()
            for (index, service) in cluster.services.enumerated() {
                let sp = "\(cp).services[\(index)]"
                let breedName = service.breedName
                if let other = breedUse[breedName] {
                    c.add(.invalidArtifact, sp + ".breed", "the breed '\(breedName)' is already used in cluster '\(other)'; a breed may appear once per blueprint")
                }
                breedUse[breedName] = cluster.name
                allBreeds.append(breedName)
                clusterBreedNames.insert(breedName)
                switch service.breed {
                case .reference(let name): c.checkArtifactName(name, sp + ".breed")
                case .inline(let breed):
                    validateBreed(breed, path: sp + ".breed", into: &c, visiting: [], lookup: lookup)
                    for port in breed.ports { clusterPorts[port.name] = port.type }
                    for variable in service.environmentVariables {
                        if !breed.environmentVariables.contains(where: { $0.name == variable.name }) {
                            c.add(.invalidArtifact, sp + ".environment_variables.\(variable.name)", "the breed '\(breed.name)' has no variable '\(variable.name)' to override")
                        }
                    }
                    validateHealthChecks(service.healthChecks, ports: Set(breed.ports.map(\.name)), path: sp + ".health_checks", into: &c)
                }
                if case .inline(let scale) = service.scale { _ = validate(scale, path: sp + ".scale", into: &c) }
                if case .reference(let name) = service.scale { c.checkArtifactName(name, sp + ".scale") }
                for variable in service.environmentVariables {
                    let vp = sp + ".environment_variables.\(variable.key)"
                    c.checkTraitName(variable.name, vp)
                    if variable.value == nil { c.add(.invalidValue, vp, "a service variable must have a value") }
                    c.checkValue(variable.value, vp)
                }
                validateArguments(service.arguments, path: sp + ".arguments", into: &c)
            }
            let knownPorts = clusterPorts.isEmpty ? nil : Set(clusterPorts.keys)
            validateHealthChecks(cluster.healthChecks, ports: knownPorts, path: cp + ".health_checks", into: &c)
            var gatewayNames = Set<String>()
            for gateway in cluster.gateways {
                // An empty name: the short form whose port is bound at deployment.
                let gp = gateway.name.isEmpty ? "\(cp).gateways" : "\(cp).gateways.\(gateway.name)"
                if !gateway.name.isEmpty {
                    c.checkTraitName(gateway.name, gp)
                    c.checkLabel(gateway.name, gp, "port name")
                }
                if !gatewayNames.insert(gateway.name).inserted { c.add(.invalidArtifact, gp, "the port '\(gateway.name)' has two gateways") }
                if let knownPorts, !gateway.name.isEmpty, !knownPorts.contains(gateway.name) {
                    c.add(.invalidArtifact, gp, "the cluster's breeds have no port named '\(gateway.name)'; internal gateways are keyed by port name")
                }
                let portType = clusterPorts[gateway.name] ?? gateway.port.type
                validateGatewayBody(gateway, path: gp, portType: portType, into: &c)
                for route in gateway.routes where !clusterBreedNames.contains(route.path) {
                    c.add(.invalidArtifact, "\(gp).routes.\(route.path)", "the route '\(route.path)' is not a breed of cluster '\(cluster.name)'; internal routes are keyed by breed name")
                }
                let weights = gateway.routes.compactMap(\.weight?.value)
                let total = weights.reduce(0, +)
                if total > 100 {
                    c.add(.routeWeight, "\(gp).routes", "total route weight is \(total)%; in a cluster gateway it may be at most 100%")
                }
            }
            if let sla = cluster.sla, case .inline(let value) = sla {
                c.errors += validate(value, path: cp + ".sla", kind: "blueprint", name: blueprint.name, clusters: clusterNames, defaultTarget: cluster.name)
            }
            for (index, escalation) in cluster.slaEscalations.enumerated() {
                if case .inline(let value) = escalation { validate(value, path: "\(cp).sla.escalations[\(index)]", clusters: clusterNames, into: &c) }
            }
        }
        c.errors += dependencyCycles(of: blueprint)
        // Dependencies of inline breeds must be satisfied by a breed of the blueprint.
        for cluster in blueprint.clusters {
            for (index, service) in cluster.services.enumerated() {
                guard case .inline(let breed) = service.breed else { continue }
                for dependency in breed.dependencies where !allBreeds.contains(where: { Names.dependency(dependency.breedName, isSatisfiedBy: $0) }) {
                    c.add(.unresolvedDependency, "clusters.\(cluster.name).services[\(index)].breed.dependencies.\(dependency.alias)",
                          "the dependency '\(dependency.alias)' needs breed '\(dependency.breedName)', which no cluster of the blueprint runs; add a cluster with it")
                }
            }
        }
        var ports: [Int: String] = [:]
        for gateway in blueprint.gateways {
            let gp = "gateways.\(gateway.port)"
            // A gateway keyed by a name (`web: {port: 9050/http, …}`) becomes `deployment/web`.
            if BreedPort.parseValue(gateway.name) == nil {
                c.checkArtifactName(gateway.name, "gateways.\(gateway.name)")
                c.checkLabel(gateway.name, "gateways.\(gateway.name)", "gateway name")
            }
            if gateway.port.number != 0 {
                if let other = ports[gateway.port.number] {
                    c.add(.duplicatePort, gp, "port \(gateway.port.number) is used by two gateways ('\(other)' and '\(gateway.port)'); gateway ports must be unique")
                }
                ports[gateway.port.number] = gateway.port.description
            }
            validateGatewayBody(gateway, path: gp, portType: gateway.port.type, into: &c)
            for route in gateway.routes {
                let segments = route.path.split(separator: "/", omittingEmptySubsequences: false)
                if route.isExternal { continue }
                if segments.count != 2 {
                    c.add(.invalidArtifact, "\(gp).routes.\(route.path)", "a blueprint gateway route must be 'cluster/port', not '\(route.path)'")
                } else if !clusterNames.contains(String(segments[0])) {
                    c.add(.invalidArtifact, "\(gp).routes.\(route.path)", "the route '\(route.path)' names cluster '\(segments[0])', which the blueprint does not define")
                } else if let ports = knownPorts(of: blueprint.clusters.first { $0.name == segments[0] }!), !ports.contains(String(segments[1])) {
                    c.add(.invalidArtifact, "\(gp).routes.\(route.path)", "the breeds of cluster '\(segments[0])' have no port '\(segments[1])' (ports: \(ports.isEmpty ? "none" : ports.sorted().joined(separator: ", ")))")
                }
            }
            checkExternalWeights(gateway, path: gp, into: &c)
        }
        var blueprintVariables = Set<String>()
        for variable in blueprint.environmentVariables {
            let vp = "environment_variables.\(variable.key)"
            if !blueprintVariables.insert(variable.name).inserted { c.add(.invalidArtifact, vp, "the variable '\(variable.name)' is defined twice") }
            let parts = variable.name.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count != 2 || parts.contains(where: \.isEmpty) {
                c.add(.invalidValue, vp, "blueprint variables are keyed 'cluster.VARIABLE', not '\(variable.name)'")
            } else if !clusterNames.contains(String(parts[0])) {
                c.add(.invalidArtifact, vp, "the variable names cluster '\(parts[0])', which the blueprint does not define")
            } else if let cluster = blueprint.clusters.first(where: { $0.name == parts[0] }), knownPorts(of: cluster) != nil {
                // Every breed of the cluster is known: the variable must be one of theirs.
                let breeds = cluster.services.compactMap(\.breed.inlineValue)
                let variable = String(parts[1])
                if !breeds.contains(where: { breed in breed.environmentVariables.contains { $0.name == variable } }) {
                    if let breed = breeds.first(where: { breed in breed.ports.contains { $0.name == variable } }) {
                        c.add(.invalidArtifact, vp, "'\(variable)' is a port of breed '\(breed.name)', not a variable; blueprint variables set environment variables")
                    } else {
                        c.add(.invalidArtifact, vp, "the breeds of cluster '\(parts[0])' (\(breeds.map(\.name).joined(separator: ", "))) do not declare the variable '\(variable)'; declare it in the breed")
                    }
                }
            }
            c.checkValue(variable.value, vp)
        }
        return c.errors
    }

    /// The port names of a cluster whose breeds are all inline; `nil` when one is a reference
    /// (its ports are known only at deployment).
    static func knownPorts(of cluster: Cluster) -> Set<String>? {
        var ports = Set<String>()
        for service in cluster.services {
            guard case .inline(let breed) = service.breed else { return nil }
            for port in breed.ports { ports.insert(port.name) }
        }
        return ports
    }
}
