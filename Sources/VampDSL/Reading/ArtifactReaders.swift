import Foundation
import VampModel

/// Readers of every artifact kind, accepting the short forms of reference §2.2.
extension ReadContext {
    // MARK: References

    /// `x`, `{reference: x}` / `{ref: x}` → reference; otherwise `inline` reads the map.
    func reference<T>(_ node: DSLNode, _ path: String, what: String, inline: (DSLNode) throws -> T) throws -> ArtifactReference<T> {
        if case .scalar = node, !node.isNull { return .reference(try name(node, path)) }
        if case .mapping(let entries, _) = node, entries.contains(where: { $0.key == "reference" || $0.key == "ref" }) {
            let reader = try map(node, path)
            let value = try name(try reader.require("reference", "ref"), join(path, "reference"))
            reader.ignore("kind")
            reader.finish()
            return .reference(value)
        }
        if case .mapping = node { return .inline(try inline(node)) }
        throw error(.invalidValue, "expected a \(what) name or definition but found \(node.typeName)", path: path, at: node)
    }

    /// Anonymous inline artifacts (scale, sla, escalation, condition, rewrite) may not carry a name.
    func rejectNamedInline(_ node: DSLNode, _ path: String, what: String) throws {
        if case .mapping(let entries, _) = node, let entry = entries.first(where: { $0.key == "name" }) {
            throw error(
                .referenceOrAnonymous,
                "a nested \(what) is either a reference ({reference: name}) or anonymous (no name); this one has a name",
                path: join(path, "name"), mark: entry.keyMark)
        }
    }

    // MARK: Breed

    func breed(_ node: DSLNode, _ path: String, topLevel: Bool = false) throws -> Breed {
        let reader = try map(node, path)
        let breedName = recover { try name(try reader.require("name"), join(path, "name")) } ?? ""
        if topLevel { name = breedName }
        var breed = Breed(name: breedName)
        if let deployable = try reader.take("deployable") {
            breed.deployable = recover { try self.deployable(deployable, join(path, "deployable")) }
        } else {
            // Vamp 0.9.5 refuses a breed without one; a document with only a name is no breed.
            errors.append(error(
                .missingField, "a breed needs a deployable, e.g. deployable: acme/catalog:2.1 (or use {reference: \(breedName.isEmpty ? "name" : breedName)} to refer to a stored breed)",
                path: join(path, "deployable"), mark: reader.mark))
        }
        if let ports = try reader.take("ports") { breed.ports = recover { try self.ports(ports, join(path, "ports")) } ?? [] }
        if let env = try reader.take("environment_variables", "env") {
            breed.environmentVariables = recover { try variables(env, join(path, "environment_variables"), allowPlaceholders: true) } ?? []
        }
        if let constants = try reader.take("constants") {
            let p = join(path, "constants")
            breed.constants = recover {
                try map(constants, p).entries.compactMap { entry in
                    recover {
                        let cp = join(p, entry.key)
                        guard let value = try optionalString(entry.value, cp) else {
                            throw error(.invalidValue, "the constant '\(entry.key)' needs a value", path: cp, at: entry.value)
                        }
                        return Constant(name: entry.key, value: value)
                    }
                }
            } ?? []
        }
        if let arguments = try reader.take("arguments") { breed.arguments = recover { try self.arguments(arguments, join(path, "arguments")) } ?? [] }
        if let dependencies = try reader.take("dependencies") {
            let p = join(path, "dependencies")
            breed.dependencies = recover {
                try map(dependencies, p).entries.compactMap { entry in
                    recover { Dependency(alias: entry.key, breed: try dependencyBreed(entry.value, join(p, entry.key))) }
                }
            } ?? []
        }
        if let checks = try reader.take("health_checks") { breed.healthChecks = recover { try healthChecks(checks, join(path, "health_checks")) } }
        breed.metadata = recover { try object(try reader.take("metadata"), join(path, "metadata")) } ?? [:]
        reader.ignore("kind", "lookup_name")
        reader.finish()
        return breed
    }

    func dependencyBreed(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Breed> {
        if case .scalar = node, !node.isNull {
            let text = try string(node, path)
            let bare = text.hasSuffix("*") ? String(text.dropLast()) : text
            if !bare.isEmpty, let problem = Names.artifactNameProblem(bare) {
                throw error(.illegalName, "illegal name or reference: \(problem)", path: path, at: node)
            }
            return .reference(text)
        }
        if case .mapping(let entries, _) = node, entries.count == 1, entries[0].key == "breed" {
            return try dependencyBreed(entries[0].value, join(path, "breed"))
        }
        return try breedReference(node, path)
    }

    /// A breed reference; inline breeds must carry a name.
    func breedReference(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Breed> {
        try reference(node, path, what: "breed") { inline in
            if case .mapping(let entries, _) = inline, !entries.contains(where: { $0.key == "name" }) {
                throw error(.missingField, "an inline breed needs a name (or use {reference: name})", path: join(path, "name"), at: inline)
            }
            return try breed(inline, path)
        }
    }

    func deployable(_ node: DSLNode, _ path: String) throws -> Deployable {
        if case .scalar = node { return Deployable(definition: try string(node, path)) }
        let reader = try map(node, path)
        let definition = try string(try reader.require("definition", "def"), join(path, "definition"))
        let type = try optionalString(try reader.take("type"), join(path, "type")) ?? Deployable.defaultType
        reader.finish()
        return Deployable(type: type, definition: definition)
    }

    func ports(_ node: DSLNode, _ path: String) throws -> [BreedPort] {
        try map(node, path).entries.compactMap { entry in
            recover {
                let p = join(path, entry.key)
                if let problem = Names.traitNameProblem(entry.key) {
                    throw error(.illegalName, "illegal port name: \(problem)", path: p, mark: entry.keyMark)
                }
                guard let text = try optionalString(entry.value, p) else {
                    throw error(.invalidValue, "the port '\(entry.key)' needs a value: a number such as 8080/http, or a reference such as $db.constants.port", path: p, at: entry.value)
                }
                if text.hasPrefix("$") { return try portReference(name: entry.key, text, p, at: entry.value) }
                guard let (number, type) = BreedPort.parseValue(text) else {
                    throw error(.invalidValue, "expected a port like 8080, 8080/http or 9000/tcp (a number 0-65535 in plain digits: no sign, no leading zero) but found '\(Self.short(text))'", path: p, at: entry.value)
                }
                return BreedPort(name: entry.key, number: number, type: type)
            }
        }
    }

    /// `web: $db.constants.port` (optionally `/tcp`): one reference, kept in the canonical `${…}` form.
    func portReference(name portName: String, _ text: String, _ path: String, at node: DSLNode) throws -> BreedPort {
        var body = Substring(text)
        var type = BreedPort.PortType.http
        if let slash = body.lastIndex(of: "/"), let suffix = BreedPort.PortType(rawValue: body[body.index(after: slash)...].lowercased()) {
            type = suffix
            body = body[..<slash]
        }
        let expression: ValueExpression
        do {
            expression = try ValueExpression.parse(String(body))
        } catch {
            throw self.error(.invalidValue, "the port value '\(Self.short(text))' has a bad reference: \(error)", path: path, at: node)
        }
        guard expression.parts.count == 1, expression.hasReferences else {
            throw self.error(.invalidValue, "a port value is a number (8080/http) or one reference ($db.constants.port), not '\(Self.short(text))'", path: path, at: node)
        }
        return BreedPort(name: portName, number: nil, type: type, reference: expression.description)
    }

    /// Environment variables: keys `NAME` or `name[ALIAS]`; `~` is a placeholder when allowed.
    func variables(_ node: DSLNode, _ path: String, allowPlaceholders: Bool) throws -> [EnvironmentVariable] {
        try map(node, path).entries.compactMap { entry in recover {
            let p = join(path, entry.key)
            var name = entry.key
            var alias: String?
            if name.hasSuffix("]"), let open = name.firstIndex(of: "[") {
                alias = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
                name = String(name[..<open])
                if alias!.isEmpty || name.isEmpty {
                    throw error(.illegalName, "a variable key is NAME or name[ALIAS], not '\(Self.short(entry.key))'", path: p, mark: entry.keyMark)
                }
            }
            let value = try optionalString(entry.value, p)
            if value == nil, !allowPlaceholders {
                throw error(.invalidValue, "the variable '\(entry.key)' needs a value here (a placeholder '~' is only allowed in breeds)", path: p, at: entry.value)
            }
            return EnvironmentVariable(name: name, alias: alias, value: value)
        } }
    }

    /// `[{privileged: true}]` or the map short form `{privileged: true}`.
    func arguments(_ node: DSLNode, _ path: String) throws -> [RunArgument] {
        if case .mapping(let entries, _) = node {
            return try entries.map { RunArgument(key: $0.key, value: try string($0.value, join(path, $0.key))) }
        }
        return try list(node, path).enumerated().map { index, item in
            let p = "\(path)[\(index)]"
            guard case .mapping(let entries, _) = item, entries.count == 1 else {
                throw error(.invalidValue, "each argument is a map with one key, such as '- privileged: true'", path: p, at: item)
            }
            return RunArgument(key: entries[0].key, value: try string(entries[0].value, join(p, entries[0].key)))
        }
    }

    func healthChecks(_ node: DSLNode, _ path: String) throws -> [HealthCheck] {
        try listOrSingle(node, path).enumerated().map { index, item in
            let p = "\(path)[\(index)]"
            let reader = try map(item, p)
            var checkPath = try optionalString(try reader.take("path"), join(p, "path")) ?? "/"
            // Vamp 0.9.5 took `path/to/check`; it means the same as `/path/to/check`.
            if !checkPath.hasPrefix("/") { checkPath = "/" + checkPath }
            let check = HealthCheck(
                path: checkPath,
                port: try string(try reader.require("port"), join(p, "port")),
                initialDelay: try time(try reader.require("initial_delay"), join(p, "initial_delay")),
                timeout: try time(try reader.require("timeout"), join(p, "timeout")),
                interval: try time(try reader.require("interval"), join(p, "interval")),
                failures: try int(try reader.require("failures"), join(p, "failures"), range: 0...1_000_000),
                protocol: try checkProtocol(try reader.take("protocol"), join(p, "protocol")))
            reader.finish()
            return check
        }
    }

    func checkProtocol(_ node: DSLNode?, _ path: String) throws -> HealthCheck.CheckProtocol {
        guard let text = try optionalString(node, path) else { return .http }
        guard let value = HealthCheck.CheckProtocol(rawValue: text.uppercased()) else {
            throw error(.invalidValue, "the protocol must be HTTP or HTTPS, not '\(Self.short(text))'", path: path, at: node)
        }
        return value
    }

    // MARK: Scale

    func scale(_ node: DSLNode, _ path: String, named: Bool) throws -> Scale {
        let reader = try map(node, path)
        var scaleName: String?
        if named {
            scaleName = try name(try reader.require("name"), join(path, "name"))
            name = scaleName
        }
        let cpu = recover { () throws -> CPU in
            let cpuNode = try reader.require("cpu")
            let cpuText = try string(cpuNode, join(path, "cpu"))
            guard let cpu = CPU(parsing: cpuText) else {
                throw error(.invalidValue, "expected cpu as a number of cores (0.5) or millicores (\"500m\") but found '\(Self.short(cpuText))'", path: join(path, "cpu"), at: cpuNode)
            }
            return cpu
        }
        let memory = recover { () throws -> Memory in
            let memoryNode = try reader.require("memory")
            let memoryText = try string(memoryNode, join(path, "memory"))
            guard let memory = Memory(parsing: memoryText) else {
                let hint = Double(memoryText) != nil ? "; a bare number has no unit, write \(memoryText)MB" : ""
                throw error(.invalidValue, "expected memory such as 256MB, 0.5GB or 256Mi but found '\(Self.short(memoryText))'\(hint)", path: join(path, "memory"), at: memoryNode)
            }
            return memory
        }
        let instances = recover { try reader.take("instances").map { try int($0, join(path, "instances"), range: 0...100_000) } ?? 1 }
        reader.ignore("kind")
        reader.finish()
        guard let cpu, let memory, let instances else { throw AlreadyReported() }
        return Scale(name: scaleName, cpu: cpu, memory: memory, instances: instances)
    }

    func scaleReference(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Scale> {
        try rejectNamedInline(node, path, what: "scale")
        return try reference(node, path, what: "scale") { try scale($0, path, named: false) }
    }

    // MARK: Blueprint

    func blueprint(_ node: DSLNode, _ path: String) throws -> Blueprint {
        let reader = try map(node, path)
        name = recover { try self.name(try reader.require("name"), join(path, "name")) } ?? ""
        var blueprint = Blueprint(name: name!)
        if let clusters = try reader.take("clusters") {
            blueprint.clusters = recover {
                try map(clusters, "clusters").entries.compactMap { entry in
                    recover { try cluster(name: entry.key, entry.value, "clusters.\(entry.key)", keyMark: entry.keyMark) }
                }
            } ?? []
        } else {
            errors.append(error(.missingField, "a blueprint needs clusters, e.g. clusters: {web: catalog:2.1}", path: "clusters", mark: reader.mark))
        }
        if let gateways = try reader.take("gateways") {
            blueprint.gateways = recover {
                try map(gateways, "gateways").entries.compactMap { entry in
                    recover { try externalGateway(key: entry.key, entry.value, "gateways.\(entry.key)", keyMark: entry.keyMark) }
                }
            } ?? []
        }
        if let env = try reader.take("environment_variables", "env") {
            blueprint.environmentVariables = recover { try variables(env, "environment_variables", allowPlaceholders: false) } ?? []
        }
        blueprint.dialects = recover { try object(try reader.take("dialects", "dialect"), "dialects") } ?? [:]
        blueprint.metadata = recover { try object(try reader.take("metadata"), "metadata") } ?? [:]
        reader.ignore("kind")
        reader.finish()
        return blueprint
    }

    func cluster(name clusterName: String, _ node: DSLNode, _ path: String, keyMark: SourceMark) throws -> Cluster {
        if let problem = Names.traitNameProblem(clusterName) {
            throw error(.illegalName, "illegal cluster name: \(problem)", path: path, mark: keyMark)
        }
        var cluster = Cluster(name: clusterName)
        switch node {
        case .scalar, .sequence:
            cluster.services = try services(node, join(path, "services"))
        case .mapping(let entries, _):
            let reader = try map(node, path)
            if entries.contains(where: { $0.key == "services" }) {
                cluster.services = recover { try services(try reader.require("services"), join(path, "services")) } ?? []
                cluster.healthChecks = recover { try reader.take("health_checks").map { try healthChecks($0, join(path, "health_checks")) } } ?? nil
                cluster.network = recover { try optionalString(try reader.take("network"), join(path, "network")) } ?? nil
                cluster.dialects = recover { try object(try reader.take("dialects", "dialect"), join(path, "dialects")) } ?? [:]
                cluster.metadata = recover { try object(try reader.take("metadata"), join(path, "metadata")) } ?? [:]
            } else {
                // All keys except sla/gateways form the single service.
                let serviceEntries = entries.filter { $0.key != "sla" && $0.key != "gateways" }
                reader.ignore(contentsOf: serviceEntries.map(\.key))
                cluster.services = recover { [try service(.mapping(serviceEntries, node.mark), join(path, "services[0]"))] } ?? []
            }
            if let sla = try reader.take("sla"), !sla.isNull {
                if let (reference, escalations) = recover({ try slaReference(sla, join(path, "sla")) }) {
                    cluster.sla = reference
                    cluster.slaEscalations = escalations
                }
            }
            if let gateways = try reader.take("gateways") {
                cluster.gateways = recover { try internalGateways(gateways, join(path, "gateways"), services: cluster.services) } ?? []
            }
            reader.finish()
        }
        return cluster
    }

    func services(_ node: DSLNode, _ path: String) throws -> [Service] {
        switch node {
        case .scalar: return [Service(breed: try breedReference(node, "\(path)[0].breed"))]
        case .mapping: return [try service(node, "\(path)[0]")]
        case .sequence(let items, _):
            return each(items) { index, item in
                if case .scalar = item { return Service(breed: try breedReference(item, "\(path)[\(index)].breed")) }
                return try service(item, "\(path)[\(index)]")
            }
        }
    }

    func service(_ node: DSLNode, _ path: String) throws -> Service {
        let reader = try map(node, path)
        if reader.has("name") && !reader.has("breed") {
            return Service(breed: .inline(try breed(node, join(path, "breed"))))
        }
        var service: Service
        if !reader.has("breed"), let reference = try reader.take("reference", "ref") {
            // `- reference: catalog:2.1` (or `ref:`): the breed by reference, the rest is the service.
            service = Service(breed: .reference(try name(reference, join(path, "breed"))))
        } else {
            service = Service(breed: try breedReference(try reader.require("breed"), join(path, "breed")))
        }
        if let scale = try reader.take("scale") { service.scale = recover { try scaleReference(scale, join(path, "scale")) } }
        if let env = try reader.take("environment_variables", "env") {
            service.environmentVariables = recover { try variables(env, join(path, "environment_variables"), allowPlaceholders: false) } ?? []
        }
        if let arguments = try reader.take("arguments") { service.arguments = recover { try self.arguments(arguments, join(path, "arguments")) } ?? [] }
        service.healthChecks = recover { try reader.take("health_checks").map { try healthChecks($0, join(path, "health_checks")) } } ?? nil
        service.network = recover { try optionalString(try reader.take("network"), join(path, "network")) } ?? nil
        service.dialects = recover { try object(try reader.take("dialects", "dialect"), join(path, "dialects")) } ?? [:]
        reader.finish()
        return service
    }

}
