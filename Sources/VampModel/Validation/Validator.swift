import Foundation

/// Collects validation errors for one artifact, each with the artifact's kind and name and the
/// field path.
struct ErrorCollector {
    let kind: String
    let name: String?
    var errors: [VampError] = []

    mutating func add(_ code: VampError.Code, _ path: String, _ message: String) {
        errors.append(VampError(code, message, kind: kind, name: name, path: path))
    }

    mutating func checkArtifactName(_ value: String, _ path: String) {
        if let problem = Names.artifactNameProblem(value) { add(.illegalName, path, "illegal name or reference: \(problem)") }
    }

    mutating func checkTraitName(_ value: String, _ path: String) {
        if let problem = Names.traitNameProblem(value) { add(.illegalName, path, "illegal name: \(problem)") }
    }

    /// Checks the references of a value and returns them parsed; `nil` when the value has no
    /// reference (no `$`, the common case, is not parsed at all) or does not parse.
    @discardableResult
    mutating func checkValue(_ value: String?, _ path: String) -> ValueExpression? {
        guard let value, value.utf8.contains(0x24) else { return nil }
        do {
            return try ValueExpression.parse(value)
        } catch {
            add(.invalidValue, path, "the value '\(Names.printable(value))' has a bad reference: \(error)")
            return nil
        }
    }
}

/// Vamp's validation rules (reference §1.2, §2.4, §2.7, §2.9). Every error names the artifact,
/// the field path and what to do.
public enum Validation {
    /// Validates any artifact.
    public static func validate(_ artifact: Artifact) -> [VampError] {
        switch artifact {
        case .breed(let a): validate(a)
        case .blueprint(let a): validate(a)
        case .scale(let a): validate(a, path: "", kind: "scale", name: a.name)
        case .gateway(let a): validate(a)
        case .route(let a): validateRoute(a, kind: "route", name: a.name ?? a.path, path: "", portType: .http)
        case .condition(let a): validate(a, path: "condition", kind: "condition", name: a.name)
        case .rewrite(let a): validate(a, path: "", kind: "rewrite", name: a.name)
        case .sla(let a): validate(a, path: "", kind: "sla", name: a.name, clusters: nil)
        case .escalation(let a): validate(a, path: "", kind: "escalation", name: a.name, clusters: nil)
        case .deployment(let a): validate(a)
        case .workflow(let a): validate(a)
        case .template(let a): nameOnly(kind: "template", name: a.name)
        case .event(let a): validate(a)
        }
    }

    static func nameOnly(kind: String, name: String) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        c.checkArtifactName(name, "name")
        return c.errors
    }

    // MARK: Breed

    /// Validates a breed: names, ports, variables, constants, arguments, dependencies, health checks.
    public static func validate(_ breed: Breed) -> [VampError] {
        var c = ErrorCollector(kind: "breed", name: breed.name)
        validateBreed(breed, path: "", into: &c, visiting: [])
        return c.errors
    }

    static func validateBreed(
        _ breed: Breed, path: String, into c: inout ErrorCollector, visiting: Set<String>, lookup: (String) -> Breed? = { _ in nil }
    ) {
        let p = path.isEmpty ? "" : path + "."
        c.checkArtifactName(breed.name, p + "name")
        if let deployable = breed.deployable {
            if deployable.definition.isEmpty { c.add(.invalidValue, p + "deployable", "the deployable definition is empty; give an image such as acme/catalog:2.1") }
            if deployable.type.isEmpty { c.add(.invalidValue, p + "deployable.type", "the deployable type is empty") }
        }
        var portNames = Set<String>()
        for port in breed.ports {
            c.checkTraitName(port.name, p + "ports.\(port.name)")
            if let expression = c.checkValue(port.reference, p + "ports.\(port.name)") {
                checkAliasReferences(expression, breed: breed, path: p + "ports.\(port.name)", into: &c)
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: lookup, path: p + "ports.\(port.name)", into: &c)
            }
            if !portNames.insert(port.name).inserted { c.add(.invalidArtifact, p + "ports.\(port.name)", "the port name '\(port.name)' is used twice") }
            if let number = port.number, !(0...65535).contains(number) {
                c.add(.invalidValue, p + "ports.\(port.name)", "port \(number) is outside 0...65535")
            }
        }
        var variableNames = Set<String>()
        for variable in breed.environmentVariables {
            let vp = p + "environment_variables.\(variable.key)"
            c.checkTraitName(variable.name, vp)
            if let alias = variable.alias { c.checkTraitName(alias, vp) }
            if !variableNames.insert(variable.name).inserted { c.add(.invalidArtifact, vp, "the variable '\(variable.name)' is defined twice") }
            if let expression = c.checkValue(variable.value, vp) {
                checkAliasReferences(expression, breed: breed, path: vp, into: &c)
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: lookup, path: vp, into: &c)
            }
        }
        for constant in breed.constants {
            c.checkTraitName(constant.name, p + "constants.\(constant.name)")
            if let expression = c.checkValue(constant.value, p + "constants.\(constant.name)") {
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: lookup, path: p + "constants.\(constant.name)", into: &c)
            }
        }
        validateArguments(breed.arguments, path: p + "arguments", into: &c)
        var aliases = Set<String>()
        for dependency in breed.dependencies {
            let dp = p + "dependencies.\(dependency.alias)"
            c.checkTraitName(dependency.alias, dp)
            if !aliases.insert(dependency.alias).inserted { c.add(.invalidArtifact, dp, "the dependency alias '\(dependency.alias)' is used twice") }
            if Names.dependency(dependency.breedName, isSatisfiedBy: breed.name) || visiting.contains(dependency.breedName) {
                c.add(.invalidArtifact, dp, "recursive dependency: '\(breed.name)' depends on itself through '\(dependency.breedName)'")
                continue
            }
            switch dependency.breed {
            case .reference(let name):
                let bare = name.hasSuffix("*") ? String(name.dropLast()) : name
                if let problem = Names.artifactNameProblem(bare.isEmpty ? "x" : bare) { c.add(.illegalName, dp, "illegal name or reference: \(problem)") }
            case .inline(let inner):
                validateBreed(inner, path: dp + ".breed", into: &c, visiting: visiting.union([breed.name]), lookup: lookup)
            }
        }
        validateHealthChecks(breed.healthChecks, ports: portNames, path: p + "health_checks", into: &c)
    }

    /// `$alias.…` references in a breed's values must use a declared dependency alias.
    static func checkAliasReferences(_ expression: ValueExpression, breed: Breed, path: String, into c: inout ErrorCollector) {
        for part in expression.parts {
            let cluster: String
            switch part {
            case .host(let name), .trait(let name, _, _): cluster = name
            default: continue
            }
            if !breed.dependencies.contains(where: { $0.alias == cluster }) {
                c.add(.invalidValue, path, "the value refers to '\(cluster)', which is not a dependency alias of breed '\(breed.name)'; declare it under dependencies")
            }
        }
    }

    /// `$alias.ports.p`, `$alias.environment_variables.V` and `$alias.constants.C` must name a
    /// trait the dependency's breed declares, when that breed is known (inline, or in the
    /// same blueprint).
    static func checkDependencyTraits(
        _ expression: ValueExpression, dependencies: [Dependency], lookup: (String) -> Breed?, path: String, into c: inout ErrorCollector
    ) {
        guard !dependencies.isEmpty else { return }
        for part in expression.parts {
            guard case .trait(let alias, let group, let name) = part,
                  let dependency = dependencies.first(where: { $0.alias == alias }) else { continue }
            let target: Breed?
            switch dependency.breed {
            case .inline(let breed): target = breed
            case .reference(let reference): target = lookup(reference)
            }
            guard let target else { continue }
            let declared: [String]
            let what: String
            switch group {
            case .ports: declared = target.ports.map(\.name); what = "port"
            case .environmentVariables: declared = target.environmentVariables.map(\.name); what = "environment variable"
            case .constants: declared = target.constants.map(\.name); what = "constant"
            }
            if !declared.contains(name) {
                let list = declared.isEmpty ? "none" : declared.joined(separator: ", ")
                c.add(.invalidValue, path, "'\(alias)' (breed '\(target.name)') has no \(what) '\(name)'; it declares: \(list)")
            }
        }
    }

    static func validateArguments(_ arguments: [RunArgument], path: String, into c: inout ErrorCollector) {
        for (index, argument) in arguments.enumerated() {
            if argument.key.isEmpty { c.add(.invalidValue, "\(path)[\(index)]", "an argument has an empty key") }
            if argument.key == "privileged", !["true", "false"].contains(argument.value.lowercased()) {
                c.add(.invalidValue, "\(path)[\(index)].privileged", "'privileged' must be true or false, not '\(argument.value)'")
            }
        }
    }

    static func validateHealthChecks(_ checks: [HealthCheck]?, ports: Set<String>?, path: String, into c: inout ErrorCollector) {
        for (index, check) in (checks ?? []).enumerated() {
            let hp = "\(path)[\(index)]"
            if let ports, !ports.contains(check.port) {
                let known = ports.sorted().joined(separator: ", ")
                c.add(.invalidArtifact, hp + ".port", "the health check names port '\(check.port)', which the breed does not define (ports: \(known.isEmpty ? "none" : known))")
            }
            if check.failures < 0 { c.add(.invalidValue, hp + ".failures", "failures must be 0 or more") }
            if !check.path.hasPrefix("/") || check.path.unicodeScalars.contains(where: { $0.value < 0x21 }) {
                c.add(.invalidValue, hp + ".path", "the health check path must start with '/' and contain no spaces or control characters")
            }
        }
    }

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
                if !gateway.name.isEmpty { c.checkTraitName(gateway.name, gp) }
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
