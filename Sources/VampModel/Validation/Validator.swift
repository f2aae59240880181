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

    // MARK: Gateway

    /// Validates a standalone gateway: name, port, routes, weights, conditions, sticky, virtual hosts.
    public static func validate(_ gateway: Gateway) -> [VampError] {
        var c = ErrorCollector(kind: "gateway", name: gateway.name)
        if let problem = Names.gatewayNameProblem(gateway.name) { c.add(.illegalName, "name", problem) }
        validateGatewayBody(gateway, path: "", portType: gateway.port.type, into: &c)
        for route in gateway.routes where !route.isExternal {
            let segments = route.path.split(separator: "/", omittingEmptySubsequences: false)
            if segments.count > 4 || segments.contains(where: \.isEmpty) {
                c.add(.illegalName, "routes.\(route.path)", "a route path has 1 to 4 non-empty '/' segments or is '[host:port]', not '\(route.path)'")
            }
        }
        checkExternalWeights(gateway, path: "", into: &c)
        return c.errors
    }

    static func checkExternalWeights(_ gateway: Gateway, path: String, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "routes" : path + ".routes"
        let weights = gateway.routes.compactMap(\.weight?.value)
        let total = weights.reduce(0, +)
        if weights.count == gateway.routes.count, !gateway.routes.isEmpty, total != 0, total != 100 {
            let list = gateway.routes.map { "\($0.path) \($0.weight!)" }.joined(separator: ", ")
            c.add(.routeWeight, p, "total route weight is \(total)% (\(list)); it must be 0% or 100%")
        } else if total > 100 {
            c.add(.routeWeight, p, "total route weight is \(total)%; it may not exceed 100%")
        }
    }

    static func validateGatewayBody(_ gateway: Gateway, path: String, portType: BreedPort.PortType, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        if !(0...65535).contains(gateway.port.number) { c.add(.invalidValue, p + "port", "port \(gateway.port.number) is outside 0...65535") }
        if gateway.sticky != nil, portType != .http {
            c.add(.invalidArtifact, p + "sticky", "sticky sessions need an http port; this gateway's port is \(portType.rawValue)")
        }
        for (index, host) in gateway.virtualHosts.enumerated() where !isHostName(host) {
            c.add(.invalidValue, p + "virtual_hosts[\(index)]", "'\(Names.printable(host))' is not a host name (letters, digits, '-' and '.', labels of 1-63 characters)")
        }
        var seen = Set<String>()
        for route in gateway.routes {
            if !seen.insert(route.path).inserted { c.add(.invalidArtifact, p + "routes.\(route.path)", "the route '\(route.path)' is defined twice") }
            validateRoute(route, path: p + "routes.\(route.path)", portType: portType, into: &c)
        }
    }

    static func validateRoute(_ route: Route, kind: String, name: String, path: String, portType: BreedPort.PortType) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        validateRoute(route, path: path, portType: portType, into: &c)
        return c.errors
    }

    static func validateRoute(_ route: Route, path: String, portType: BreedPort.PortType, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        if route.isExternal {
            // Vamp 0.9.5 took any bracketed target (`[external/1/2]`); what it points to is
            // resolved at deployment. Whitespace, brackets and control characters never belong.
            let inner = route.path.dropFirst().dropLast()
            if inner.isEmpty || inner.unicodeScalars.contains(where: { Names.isWhitespaceOrControl($0) || "[]".unicodeScalars.contains($0) }) {
                c.add(.illegalName, path, "the external route '\(Names.printable(route.path))' must be '[target]', such as [legacy.example.test:8080], without spaces or brackets inside")
            }
        } else if route.path.unicodeScalars.contains(where: { Names.isWhitespaceOrControl($0) || "[]".unicodeScalars.contains($0) }) {
            c.add(.illegalName, path, "the route '\(Names.printable(route.path))' may not contain whitespace, '[' or ']' (except an external '[host:port]')")
        }
        if let condition = route.condition {
            if portType != .http { c.add(.invalidArtifact, p + "condition", "conditions need an http port; this gateway's port is \(portType.rawValue)") }
            if case .inline(let value) = condition { validate(value, path: p + "condition", into: &c) }
        }
        if !route.rewrites.isEmpty, portType != .http {
            c.add(.invalidArtifact, p + "rewrites", "rewrites need an http port; this gateway's port is \(portType.rawValue)")
        }
        for (index, rewrite) in route.rewrites.enumerated() {
            if case .inline(let value) = rewrite { _ = validate(value, path: "\(p)rewrites[\(index)]", into: &c) }
        }
        if let balance = route.balance, !Self.balanceAlgorithms.contains(balance) {
            c.add(.invalidValue, p + "balance", "unknown balance '\(Names.printable(balance))'; use one of \(Self.balanceAlgorithms.sorted().joined(separator: ", "))")
        }
    }

    /// HAProxy balance algorithms a route may name (`default` = roundrobin for http, leastconn for tcp).
    public static let balanceAlgorithms: Set<String> = ["default", "roundrobin", "static-rr", "leastconn", "first", "source", "uri", "random"]

    /// True for a DNS host name or IPv4 address: labels of letters, digits and `-`, 1–63 characters.
    public static func isHostName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        }
    }

    // MARK: Small artifacts

    static func validate(_ condition: Condition, path: String, kind: String, name: String?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        validate(condition, path: path, into: &c)
        return c.errors
    }

    static func validate(_ condition: Condition, path: String, into c: inout ErrorCollector) {
        do {
            _ = try condition.expression()
        } catch {
            c.add(.condition, path, "the condition '\(Names.printable(condition.definition))' does not parse: \(error)")
        }
    }

    static func validate(_ rewrite: Rewrite, path: String, kind: String, name: String?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        _ = validate(rewrite, path: path, into: &c)
        return c.errors
    }

    static func validate(_ rewrite: Rewrite, path: String, into c: inout ErrorCollector) -> Bool {
        let p = path.isEmpty ? "path" : path + ".path"
        if rewrite.path.isEmpty || rewrite.path.unicodeScalars.contains(where: { Names.isWhitespaceOrControl($0) }) {
            c.add(.invalidValue, p, "the rewrite path '\(Names.printable(rewrite.path))' must be non-empty without spaces or control characters")
            return false
        }
        if rewrite.condition.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            c.add(.invalidValue, p, "the rewrite condition contains a control character")
            return false
        }
        return true
    }

    static func validate(_ scale: Scale, path: String, kind: String, name: String?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        _ = validate(scale, path: path, into: &c)
        return c.errors
    }

    static func validate(_ scale: Scale, path: String, into c: inout ErrorCollector) -> Bool {
        let p = path.isEmpty ? "" : path + "."
        let before = c.errors.count
        if scale.cpu.cores <= 0 { c.add(.invalidValue, p + "cpu", "cpu must be more than 0") }
        if scale.memory.megabytes <= 0 { c.add(.invalidValue, p + "memory", "memory must be more than 0MB") }
        if scale.instances < 0 { c.add(.invalidValue, p + "instances", "instances must be 0 or more") }
        return c.errors.count == before
    }

    static func validate(
        _ sla: SLA, path: String, kind: String, name: String?, clusters: Set<String>?, defaultTarget: String? = nil
    ) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        let p = path.isEmpty ? "" : path + "."
        if kind == "sla", let name { c.checkArtifactName(name, "name") }
        if case .responseTimeSlidingWindow(let upper, let lower, let interval, let cooldown) = sla.definition {
            if lower < 0 || upper < lower { c.add(.invalidValue, p + "threshold", "the thresholds need 0 <= lower (\(lower)) <= upper (\(upper))") }
            if interval <= 0 { c.add(.invalidValue, p + "window.interval", "the window interval must be more than 0 seconds") }
            if cooldown < 0 { c.add(.invalidValue, p + "window.cooldown", "the window cooldown must be 0 or more seconds") }
        }
        for (index, escalation) in sla.escalations.enumerated() {
            if case .inline(let value) = escalation {
                validate(value, path: "\(p)escalations[\(index)]", clusters: clusters, into: &c)
            }
        }
        return c.errors
    }

    static func validate(_ escalation: Escalation, path: String, kind: String, name: String?, clusters: Set<String>?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        validate(escalation, path: path, clusters: clusters, into: &c)
        return c.errors
    }

    static func validate(_ escalation: Escalation, path: String, clusters: Set<String>?, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        func checkTarget(_ target: String?) {
            if let target, let clusters, !clusters.contains(target) {
                c.add(.invalidArtifact, p + "target", "the escalation targets cluster '\(target)', which the blueprint does not define")
            }
        }
        switch escalation.definition {
        case .scaleInstances(let minimum, let maximum, let scaleBy, let target):
            if minimum < 0 || maximum < minimum { c.add(.invalidValue, p + "minimum", "need 0 <= minimum (\(minimum)) <= maximum (\(maximum))") }
            if scaleBy <= 0 { c.add(.invalidValue, p + "scale_by", "scale_by must be more than 0") }
            checkTarget(target)
        case .scaleCPU(let minimum, let maximum, let scaleBy, let target), .scaleMemory(let minimum, let maximum, let scaleBy, let target):
            if minimum < 0 || maximum < minimum { c.add(.invalidValue, p + "minimum", "need 0 <= minimum (\(minimum)) <= maximum (\(maximum))") }
            if scaleBy <= 0 { c.add(.invalidValue, p + "scale_by", "scale_by must be more than 0") }
            checkTarget(target)
        case .toAll(let children), .toOne(let children):
            for (index, child) in children.enumerated() {
                if case .inline(let value) = child { validate(value, path: "\(p)escalations[\(index)]", clusters: clusters, into: &c) }
            }
        case .generic: break
        }
    }

    // MARK: Deployment, workflow, event

    /// Validates a deployment read model (names, ports, instances).
    public static func validate(_ deployment: Deployment) -> [VampError] {
        var c = ErrorCollector(kind: "deployment", name: deployment.name)
        c.checkArtifactName(deployment.name, "name")
        for cluster in deployment.clusters {
            c.checkTraitName(cluster.name, "clusters.\(cluster.name)")
            for (index, service) in cluster.services.enumerated() {
                validateBreed(service.breed, path: "clusters.\(cluster.name).services[\(index)].breed", into: &c, visiting: [])
            }
        }
        return c.errors
    }

    /// Validates a workflow: name, breed reference, schedule, scale.
    public static func validate(_ workflow: Workflow) -> [VampError] {
        var c = ErrorCollector(kind: "workflow", name: workflow.name)
        c.checkArtifactName(workflow.name, "name")
        switch workflow.breed {
        case .reference(let name): c.checkArtifactName(name, "breed")
        case .inline(let breed): validateBreed(breed, path: "breed", into: &c, visiting: [])
        }
        switch workflow.schedule {
        case .daemon: break
        case .event(let tags):
            if tags.isEmpty || tags.contains(where: \.isEmpty) { c.add(.invalidValue, "schedule.event", "an event schedule needs at least one non-empty tag") }
        case .time(let period, _, let repeatCount):
            if !Workflow.isISO8601Duration(period) {
                c.add(.invalidValue, "schedule.time.period", "'\(Names.printable(period))' is not an ISO-8601 duration such as PT1M or P1DT2H")
            }
            if let repeatCount, repeatCount < 0 { c.add(.invalidValue, "schedule.time.repeat", "repeat must be 0 or more") }
        }
        if case .inline(let scale) = workflow.scale { _ = validate(scale, path: "scale", into: &c) }
        for variable in workflow.environmentVariables {
            if let expression = c.checkValue(variable.value, "environment_variables.\(variable.key)"), case .inline(let breed) = workflow.breed {
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: { _ in nil }, path: "environment_variables.\(variable.key)", into: &c)
            }
        }
        if case .inline(let breed) = workflow.breed { c.errors += undeclaredEnvironment(workflow: workflow, breed: breed) }
        validateArguments(workflow.arguments, path: "arguments", into: &c)
        return c.errors
    }

    /// The variables the workflow driver sets for a workflow's agent (reference §1.10, §4.2); a
    /// workflow may set them without its breed declaring them, as Vamp 0.9.5's examples do.
    public static let workflowAgentVariables: Set<String> = [
        "VAMP_URL", "VAMP_NAMESPACE", "VAMP_KEY_VALUE_STORE_TYPE", "VAMP_KEY_VALUE_STORE_CONNECTION",
        "VAMP_KEY_VALUE_STORE_PATH", "VAMP_WORKFLOW_EXECUTION_PERIOD", "VAMP_WORKFLOW_EXECUTION_TIMEOUT",
        "VAMP_ELASTICSEARCH_URL",
    ]

    /// The errors for the workflow's `environment_variables` that `breed` does not declare: like a
    /// blueprint service, a workflow only gives values to its breed's variables (reference §1.2),
    /// apart from ``workflowAgentVariables``. Validating a workflow applies this to an inline
    /// breed; for a breed referenced by name, call it once the stored breed is looked up. Each
    /// error names the workflow and the field (`environment_variables.NAME`); a `DSLDocument`
    /// adds the line.
    public static func undeclaredEnvironment(workflow: Workflow, breed: Breed) -> [VampError] {
        var c = ErrorCollector(kind: "workflow", name: workflow.name)
        let declared = breed.environmentVariables.map(\.name)
        for variable in workflow.environmentVariables
        where !declared.contains(variable.name) && !workflowAgentVariables.contains(variable.name) {
            let list = declared.isEmpty ? "none" : declared.joined(separator: ", ")
            c.add(
                .invalidArtifact, "environment_variables.\(variable.key)",
                "the breed '\(breed.name)' does not declare the variable '\(Names.printable(variable.name))' (it declares: \(list)); declare it in the breed or leave it out")
        }
        return c.errors
    }

    /// True when `type` matches Vamp's `^[\w\d\-_]+$` (ASCII letters, digits, `_` and `-`).
    public static func isEventType(_ type: String) -> Bool {
        !type.isEmpty && type.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
    }

    /// Validates an event: at least one tag, a legal type.
    public static func validate(_ event: Event) -> [VampError] {
        var c = ErrorCollector(kind: "event", name: event.id)
        if event.tags.isEmpty { c.add(.missingField, "tags", "an event needs at least one tag") }
        for (index, tag) in event.tags.enumerated() where tag.isEmpty || tag.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            c.add(.invalidValue, "tags[\(index)]", "tags must be non-empty without control characters")
        }
        if !isEventType(event.type) { c.add(.invalidValue, "type", "the event type '\(Names.printable(event.type))' must match ^[\\w\\d\\-_]+$") }
        return c.errors
    }
}
