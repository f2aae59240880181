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
                    throw error(.invalidValue, "expected a port like 8080, 8080/http or 9000/tcp but found '\(Self.short(text))'", path: p, at: entry.value)
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

    // MARK: Gateways

    /// The fields of a gateway body; a cluster's `gateways` holding any of them directly is the
    /// short form for the cluster's only port.
    static let gatewayFields: Set<String> = ["routes", "sticky", "virtual_hosts", "metadata"]

    /// Cluster gateways keyed by port name, or the short form bound to the only port. When the
    /// breeds are references (ports unknown), the short-form gateway is kept with an empty name
    /// and bound at deployment.
    func internalGateways(_ node: DSLNode, _ path: String, services: [Service]) throws -> [Gateway] {
        let reader = try map(node, path)
        if reader.entries.contains(where: { Self.gatewayFields.contains($0.key) }) {
            var ports: [String] = []
            for breed in services.compactMap(\.breed.inlineValue) {
                for port in breed.ports where !ports.contains(port.name) { ports.append(port.name) }
            }
            let unknown = services.contains { $0.breed.referenceName != nil }
            if ports.count > 1 || (ports.isEmpty && !unknown) {
                throw error(
                    .invalidArtifact,
                    "a cluster gateway without a port name needs exactly one port among the cluster's breeds (found \(ports.count)\(ports.isEmpty ? "" : ": " + ports.joined(separator: ", "))); key the gateway by port name, e.g. gateways: {\(ports.first ?? "web"): {routes: …}}",
                    path: path, at: node)
            }
            return [try gatewayBody(name: ports.first ?? "", port: GatewayPort(number: 0), node, path, standalone: false)]
        }
        return reader.entries.compactMap { entry in
            reader.ignore(entry.key)
            return recover { try gatewayBody(name: entry.key, port: GatewayPort(number: 0), entry.value, join(path, entry.key), standalone: false) }
        }
    }

    /// `"9050/http": web/port`, `"9050/http": {routes: …}`, or a name with the port inside:
    /// `web: {port: 8080/http, routes: cluster/web}`.
    func externalGateway(key: String, _ node: DSLNode, _ path: String, keyMark: SourceMark) throws -> Gateway {
        var port: GatewayPort
        if let (number, type) = BreedPort.parseValue(key) {
            port = GatewayPort(number: number, type: type)
        } else {
            guard case .mapping(let entries, _) = node, let portEntry = entries.first(where: { $0.key == "port" }) else {
                throw error(.invalidValue, "an external gateway is keyed by its port (9050 or 9050/http), or by a name with the port inside ({port: 9050/http, routes: …}), not '\(Self.short(key))' alone", path: path, mark: keyMark)
            }
            if let problem = Names.artifactNameProblem(key) {
                throw error(.illegalName, "illegal gateway name: \(problem)", path: path, mark: keyMark)
            }
            let text = try string(portEntry.value, join(path, "port"))
            guard let (number, type) = BreedPort.parseValue(text) else {
                throw error(.invalidValue, "expected a port such as 9050 or 9050/http but found '\(Self.short(text))'", path: join(path, "port"), at: portEntry.value)
            }
            port = GatewayPort(number: number, type: type)
        }
        if case .scalar = node, !node.isNull {
            let route = try string(node, path)
            return Gateway(name: key, port: port, routes: [Route(path: route)])
        }
        return try gatewayBody(name: key, port: port, node, path, standalone: false, external: true)
    }

    /// A standalone gateway artifact (`/api/v1/gateways`).
    func gateway(_ node: DSLNode, _ path: String) throws -> Gateway {
        let reader = try map(node, path)
        let nameNode = try reader.require("name")
        let gatewayName = try string(nameNode, "name")
        name = gatewayName
        if let problem = Names.gatewayNameProblem(gatewayName) {
            errors.append(error(.illegalName, problem, path: "name", at: nameNode))
        }
        var port = GatewayPort(number: 0)
        if let parsed = recover({ () throws -> GatewayPort in
            let portNode = try reader.require("port")
            let portText = try string(portNode, "port")
            guard let (number, type) = BreedPort.parseValue(portText) else {
                throw error(.invalidValue, "expected a port such as 9050 or 9050/http but found '\(Self.short(portText))'", path: "port", at: portNode)
            }
            return GatewayPort(number: number, type: type)
        }) {
            port = parsed
        }
        return try gatewayBody(name: gatewayName, port: port, node, path, standalone: true, skip: ["name", "port"])
    }

    /// The fields of a gateway. `port` belongs to standalone and blueprint (external) gateways
    /// and to the deployment read model, not to a blueprint's cluster gateways, which are keyed
    /// by port name.
    func gatewayBody(
        name gatewayName: String, port: GatewayPort, _ node: DSLNode, _ path: String, standalone: Bool, external: Bool = false,
        allowPort: Bool = false, skip: [String] = []
    ) throws -> Gateway {
        var gateway = Gateway(name: gatewayName, port: port)
        if node.isNull { return gateway }
        let reader = try map(node, path)
        reader.ignore(contentsOf: skip)
        if !standalone, external || allowPort, let portNode = try reader.take("port") {
            recover {
                let text = try string(portNode, join(path, "port"))
                guard let (number, type) = BreedPort.parseValue(text) else {
                    throw error(.invalidValue, "expected a port such as 9050/http but found '\(Self.short(text))'", path: join(path, "port"), at: portNode)
                }
                gateway.port = GatewayPort(number: number, type: type)
            }
        }
        if let sticky = try reader.take("sticky") {
            recover {
                if let text = try optionalString(sticky, join(path, "sticky")), text != "none" {
                    guard let value = Gateway.Sticky(rawValue: text) else {
                        throw error(.invalidValue, "sticky must be route, instance or none, not '\(Self.short(text))'", path: join(path, "sticky"), at: sticky)
                    }
                    gateway.sticky = value
                }
            }
        }
        if let hosts = try reader.take("virtual_hosts") {
            gateway.virtualHosts = recover { try listOrSingle(hosts, join(path, "virtual_hosts")).enumerated().map { try string($1, "\(path).virtual_hosts[\($0)]") } } ?? []
        }
        if let routes = try reader.take("routes") { gateway.routes = recover { try self.routes(routes, join(path, "routes")) } ?? [] }
        gateway.metadata = recover { try object(try reader.take("metadata"), join(path, "metadata")) } ?? [:]
        if standalone || allowPort, let service = try reader.take("service"), !service.isNull {
            recover {
                let sp = join(path, "service")
                let serviceReader = try map(service, sp)
                let host = try string(try serviceReader.require("host"), join(sp, "host"))
                let portNode = try serviceReader.require("port")
                // The port may carry its type (`31234/http`), as Vamp 0.9.5 wrote it.
                let portText = try string(portNode, join(sp, "port"))
                guard let (number, _) = BreedPort.parseValue(portText) else {
                    throw error(.invalidValue, "expected a port such as 31234 or 31234/http but found '\(Self.short(portText))'", path: join(sp, "port"), at: portNode)
                }
                gateway.service = GatewayService(host: host, port: number)
                serviceReader.finish()
            }
        }
        if standalone || allowPort, let deployed = try reader.take("deployed"), !deployed.isNull {
            gateway.deployed = recover { try bool(deployed, join(path, "deployed")) }
        }
        reader.ignore("kind", "lookup_name", "internal")
        reader.finish()
        return gateway
    }

    /// `routes: a`, `routes: [a, b]` or `routes: {a: {...}}`.
    /// A list's items are a route name or a one-key map of name to route
    /// (`- web/port1: {weight: 50%}`, `- web/port3`).
    func routes(_ node: DSLNode, _ path: String) throws -> [Route] {
        switch node {
        case .scalar:
            if node.isNull { return [] }
            return [Route(path: try string(node, path))]
        case .sequence(let items, _):
            return each(items) { index, item in
                let p = "\(path)[\(index)]"
                switch item {
                case .mapping(let entries, _) where entries.count == 1:
                    return try route(path: entries[0].key, entries[0].value, join(path, entries[0].key))
                case .scalar:
                    return Route(path: try string(item, p))
                default:
                    throw error(.invalidValue, "a route in a list is a name or a map of one name to its route, such as '- web/port: {weight: 50%}'", path: p, at: item)
                }
            }
        case .mapping(let entries, _):
            return entries.compactMap { entry in recover { try route(path: entry.key, entry.value, join(path, entry.key)) } }
        }
    }

    func route(path routePath: String, _ node: DSLNode, _ path: String, named: Bool = false) throws -> Route {
        var route = Route(path: routePath)
        if node.isNull { return route }
        // A bare string, `{reference: name}` or `{ref: name}`: a stored route artifact.
        if case .scalar = node {
            route.reference = try name(node, path)
            return route
        }
        if !named, case .mapping(let entries, _) = node, entries.contains(where: { $0.key == "reference" || $0.key == "ref" }) {
            let reader = try map(node, path)
            route.reference = try name(try reader.require("reference", "ref"), join(path, "reference"))
            reader.ignore("kind")
            reader.finish()
            return route
        }
        let reader = try map(node, path)
        if named {
            route.name = try name(try reader.require("name"), join(path, "name"))
            route.path = route.name!
            name = route.name
        }
        if let weight = try reader.take("weight"), !weight.isNull { route.weight = recover { try percentage(weight, join(path, "weight")) } }
        if let strength = try reader.take("condition_strength"), !strength.isNull {
            route.conditionStrength = recover { try percentage(strength, join(path, "condition_strength")) }
        }
        if let condition = try reader.take("condition"), !condition.isNull {
            route.condition = recover { try conditionReference(condition, join(path, "condition")) } ?? nil
        }
        if let rewrites = try reader.take("rewrites") {
            route.rewrites = each(listOrSingle(rewrites, join(path, "rewrites"))) { index, item in
                try rewriteReference(item, "\(path).rewrites[\(index)]")
            }
        }
        if let balance = try reader.take("balance") {
            recover {
                if let text = try optionalString(balance, join(path, "balance")), text != "default" { route.balance = text }
            }
        }
        if let targets = try reader.take("targets") { route.targets = recover { try self.targets(targets, join(path, "targets")) } ?? [] }
        reader.ignore("kind", "lookup_name")
        reader.finish()
        return route
    }

    func targets(_ node: DSLNode, _ path: String) throws -> [RouteTarget] {
        try listOrSingle(node, path).enumerated().map { index, item in
            let p = "\(path)[\(index)]"
            let reader = try map(item, p)
            if let url = try reader.take("url") {
                reader.finish()
                return .url(try string(url, join(p, "url")))
            }
            let target = RouteTarget.instance(
                name: try string(try reader.require("name"), join(p, "name")),
                host: try string(try reader.require("host"), join(p, "host")),
                port: try int(try reader.require("port"), join(p, "port"), range: 0...65535))
            reader.finish()
            return target
        }
    }

    // MARK: Condition and rewrite

    /// `"expr"`, `{condition: "expr"}` or a reference `{reference: name}`. An empty expression
    /// (`condition: ""`, `{condition: ""}`) is no condition, as in Vamp 0.9.5 (reference §1.5).
    func conditionReference(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Condition>? {
        if case .scalar = node {
            let text = try string(node, path)
            return Condition.isEmptyDefinition(text) ? nil : .inline(Condition(definition: text))
        }
        try rejectNamedInline(node, path, what: "condition")
        let read = try reference(node, path, what: "condition") { try condition($0, path, named: false) }
        if case .inline(let inline) = read, Condition.isEmptyDefinition(inline.definition) { return nil }
        return read
    }

    func condition(_ node: DSLNode, _ path: String, named: Bool) throws -> Condition {
        let reader = try map(node, path)
        var conditionName: String?
        if named {
            conditionName = try name(try reader.require("name"), join(path, "name"))
            name = conditionName
        }
        let definition = try string(try reader.require("condition", "definition"), join(path, "condition"))
        reader.ignore("kind")
        reader.finish()
        return Condition(name: conditionName, definition: definition)
    }

    func rewriteReference(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Rewrite> {
        if case .scalar = node {
            let text = try string(node, path)
            if let (newPath, condition) = Rewrite.parse(text) { return .inline(Rewrite(path: newPath, condition: condition)) }
            return .reference(try name(node, path))
        }
        try rejectNamedInline(node, path, what: "rewrite")
        return try reference(node, path, what: "rewrite") { try rewrite($0, path, named: false) }
    }

    func rewrite(_ node: DSLNode, _ path: String, named: Bool) throws -> Rewrite {
        let reader = try map(node, path)
        var rewriteName: String?
        if named {
            rewriteName = try name(try reader.require("name"), join(path, "name"))
            name = rewriteName
        }
        let pathNode = try reader.require("path")
        let text = try string(pathNode, join(path, "path"))
        guard let (newPath, condition) = Rewrite.parse(text) else {
            throw error(.invalidValue, "a rewrite is 'NEW_PATH if CONDITION', e.g. '/v2/%[path] if { path_beg /api }', not '\(Self.short(text))'", path: join(path, "path"), at: pathNode)
        }
        reader.ignore("kind")
        reader.finish()
        return Rewrite(name: rewriteName, path: newPath, condition: condition)
    }

    // MARK: SLA and escalations

    /// A cluster's SLA: a name, `{reference: name}` optionally with `escalations` added, or an
    /// anonymous inline SLA.
    func slaReference(_ node: DSLNode, _ path: String) throws -> (ArtifactReference<SLA>, [ArtifactReference<Escalation>]) {
        try rejectNamedInline(node, path, what: "sla")
        if case .mapping(let entries, _) = node, entries.contains(where: { $0.key == "reference" || $0.key == "ref" }) {
            let reader = try map(node, path)
            let reference = try name(try reader.require("reference", "ref"), join(path, "reference"))
            var escalations: [ArtifactReference<Escalation>] = []
            if let list = try reader.take("escalations") {
                escalations = each(listOrSingle(list, join(path, "escalations"))) { index, item in
                    try escalationReference(item, "\(path).escalations[\(index)]")
                }
            }
            reader.ignore("kind")
            reader.finish()
            return (.reference(reference), escalations)
        }
        return (try reference(node, path, what: "sla") { try sla($0, path, named: false) }, [])
    }

    func sla(_ node: DSLNode, _ path: String, named: Bool) throws -> SLA {
        let reader = try map(node, path)
        var slaName: String?
        if named {
            slaName = try name(try reader.require("name"), join(path, "name"))
            name = slaName
        }
        let typeNode = try reader.require("type")
        let type = try string(typeNode, join(path, "type"))
        let definition: SLA.Definition
        switch type {
        case "response_time_sliding_window":
            let tp = join(path, "threshold")
            let threshold = try map(try reader.require("threshold"), tp)
            let upper = try int(try threshold.require("upper"), join(tp, "upper"), range: 0...Int(Int32.max))
            let lower = try int(try threshold.require("lower"), join(tp, "lower"), range: 0...Int(Int32.max))
            threshold.finish()
            let wp = join(path, "window")
            let window = try map(try reader.require("window"), wp)
            let interval = try int(try window.require("interval"), join(wp, "interval"), range: 0...Int(Int32.max))
            let cooldown = try int(try window.require("cooldown"), join(wp, "cooldown"), range: 0...Int(Int32.max))
            window.finish()
            definition = .responseTimeSlidingWindow(upper: upper, lower: lower, interval: interval, cooldown: cooldown)
        case "escalation_only":
            definition = .escalationOnly
        default:
            var parameters: [String: JSONValue] = [:]
            for entry in reader.entries where !["name", "type", "escalations", "kind"].contains(entry.key) {
                parameters[entry.key] = json(entry.value)
                reader.ignore(entry.key)
            }
            definition = .generic(type: type, parameters: parameters)
        }
        var escalations: [ArtifactReference<Escalation>] = []
        if let list = try reader.take("escalations") {
            escalations = each(listOrSingle(list, join(path, "escalations"))) { index, item in
                try escalationReference(item, "\(path).escalations[\(index)]")
            }
            // Several escalations are one to_all group (reference §1.7).
            if escalations.count > 1 { escalations = [.inline(Escalation(definition: .toAll(escalations)))] }
        }
        reader.ignore("kind")
        reader.finish()
        return SLA(name: slaName, definition: definition, escalations: escalations)
    }

    func escalationReference(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Escalation> {
        try rejectNamedInline(node, path, what: "escalation")
        return try reference(node, path, what: "escalation") { try escalation($0, path, named: false) }
    }

    func escalation(_ node: DSLNode, _ path: String, named: Bool) throws -> Escalation {
        let reader = try map(node, path)
        var escalationName: String?
        if named {
            escalationName = try name(try reader.require("name"), join(path, "name"))
            name = escalationName
        }
        reader.ignore("kind")
        // Short forms {to_one: [..]} and {to_all: {escalations: [..]}}.
        for group in ["to_all", "to_one"] where reader.has(group) && !reader.has("type") {
            let groupNode = try reader.require(group)
            var childrenNode = groupNode
            if case .mapping = groupNode {
                let inner = try map(groupNode, join(path, group))
                childrenNode = try inner.require("escalations")
                inner.finish()
            }
            let children = try listOrSingle(childrenNode, join(path, group)).enumerated().map { index, item in
                try escalationReference(item, "\(path).\(group)[\(index)]")
            }
            reader.finish()
            return Escalation(name: escalationName, definition: group == "to_all" ? .toAll(children) : .toOne(children))
        }
        let type = try string(try reader.require("type"), join(path, "type"))
        let definition: Escalation.Definition
        switch type {
        case "scale_instances":
            definition = .scaleInstances(
                minimum: try int(try reader.require("minimum"), join(path, "minimum"), range: 0...100_000),
                maximum: try int(try reader.require("maximum"), join(path, "maximum"), range: 0...100_000),
                scaleBy: try int(try reader.require("scale_by"), join(path, "scale_by"), range: 0...100_000),
                target: try optionalString(try reader.take("target"), join(path, "target")))
        case "scale_cpu", "scale_memory":
            let minimum = try double(try reader.require("minimum"), join(path, "minimum"))
            let maximum = try double(try reader.require("maximum"), join(path, "maximum"))
            let scaleBy = try double(try reader.require("scale_by"), join(path, "scale_by"))
            let target = try optionalString(try reader.take("target"), join(path, "target"))
            definition = type == "scale_cpu"
                ? .scaleCPU(minimum: minimum, maximum: maximum, scaleBy: scaleBy, target: target)
                : .scaleMemory(minimum: minimum, maximum: maximum, scaleBy: scaleBy, target: target)
        case "to_all", "to_one":
            let children = try listOrSingle(try reader.require("escalations"), join(path, "escalations")).enumerated().map { index, item in
                try escalationReference(item, "\(path).escalations[\(index)]")
            }
            definition = type == "to_all" ? .toAll(children) : .toOne(children)
        default:
            var parameters: [String: JSONValue] = [:]
            for entry in reader.entries where !["name", "type", "kind"].contains(entry.key) {
                parameters[entry.key] = json(entry.value)
                reader.ignore(entry.key)
            }
            definition = .generic(type: type, parameters: parameters)
        }
        reader.finish()
        return Escalation(name: escalationName, definition: definition)
    }

    // MARK: Workflow, event, template

    func workflow(_ node: DSLNode, _ path: String) throws -> Workflow {
        let reader = try map(node, path)
        name = try self.name(try reader.require("name"), "name")
        let breed = recover { try breedReference(try reader.require("breed"), "breed") }
        let schedule = recover { try self.schedule(try reader.require("schedule"), "schedule") }
        var workflow = Workflow(name: name!, breed: breed ?? .reference(""), schedule: schedule ?? .daemon)
        if let status = try reader.take("status"), let text = try optionalString(status, "status") {
            guard let value = Workflow.Status(rawValue: text.lowercased()) else {
                throw error(.invalidValue, "illegal workflow status '\(Self.short(text))'; use one of \(Workflow.Status.allCases.map(\.rawValue).joined(separator: ", "))", path: "status", at: status)
            }
            workflow.status = value
        }
        if let env = try reader.take("environment_variables", "env") {
            workflow.environmentVariables = recover { try variables(env, "environment_variables", allowPlaceholders: false) } ?? []
        }
        if let scale = try reader.take("scale") { workflow.scale = recover { try scaleReference(scale, "scale") } }
        if let arguments = try reader.take("arguments") { workflow.arguments = try self.arguments(arguments, "arguments") }
        workflow.network = try optionalString(try reader.take("network"), "network")
        workflow.healthChecks = try reader.take("health_checks").map { try healthChecks($0, "health_checks") }
        workflow.dialects = try object(try reader.take("dialects", "dialect"), "dialects")
        reader.ignore("kind", "lookup_name", "instances", "health")
        reader.finish()
        return workflow
    }

    func schedule(_ node: DSLNode, _ path: String) throws -> Workflow.Schedule {
        if case .scalar = node {
            let text = try string(node, path)
            guard text == "daemon" else {
                throw error(.invalidValue, "a schedule is 'daemon', {event: tags} or {time: PERIOD}, not '\(Self.short(text))'", path: path, at: node)
            }
            return .daemon
        }
        let reader = try map(node, path)
        if let event = try reader.take("event") {
            let ep = join(path, "event")
            var tagsNode = event
            if case .mapping = event {
                let inner = try map(event, ep)
                tagsNode = try inner.require("tags")
                inner.finish()
            }
            let tags = try listOrSingle(tagsNode, ep).enumerated().map { try string($1, "\(ep)[\($0)]") }
            reader.finish()
            return .event(tags: tags)
        }
        if let time = try reader.take("time") {
            let tp = join(path, "time")
            if case .scalar = time {
                reader.finish()
                return .time(period: try string(time, tp), start: nil, repeat: nil)
            }
            let inner = try map(time, tp)
            let period = try string(try inner.require("period"), join(tp, "period"))
            let start = try optionalString(try inner.take("start"), join(tp, "start"))
            let repeatCount = try inner.take("repeat").map { try int($0, join(tp, "repeat"), range: 0...Int(Int32.max)) }
            inner.finish()
            reader.finish()
            return .time(period: period, start: start, repeat: repeatCount)
        }
        if reader.has("daemon") {
            reader.ignore("daemon")
            reader.finish()
            return .daemon
        }
        throw error(.invalidValue, "a schedule is 'daemon', {event: tags} or {time: PERIOD}", path: path, at: node)
    }

    func event(_ node: DSLNode, _ path: String) throws -> Event {
        let reader = try map(node, path)
        let tags = recover { () throws -> [String] in
            let tagsNode = try reader.require("tags")
            return try listOrSingle(tagsNode, "tags").enumerated().map { try string($1, "tags[\($0)]") }
        }
        var event = Event(tags: tags ?? [])
        if let id = try reader.take("id") { event.id = recover { try optionalString(id, "id") } ?? nil }
        if let value = try reader.take("value") { event.value = json(value) }
        if let type = try reader.take("type") { event.type = recover { try string(type, "type") } ?? event.type }
        if let timestamp = try reader.take("timestamp") {
            recover {
                let text = try string(timestamp, "timestamp")
                guard let date = Self.parseTimestamp(text) else {
                    throw error(.invalidValue, "expected an ISO-8601 timestamp with an offset, such as 2017-06-01T12:00:00Z, but found '\(Self.short(text))'", path: "timestamp", at: timestamp)
                }
                event.timestamp = date
            }
        }
        reader.ignore("kind")
        reader.finish()
        if tags == nil { throw AlreadyReported() }
        return event
    }

    static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    func template(_ node: DSLNode, _ path: String) throws -> Template {
        let reader = try map(node, path)
        name = try self.name(try reader.require("name"), "name")
        let definition = try object(try reader.take("definition", "def"), "definition")
        reader.ignore("kind")
        reader.finish()
        return Template(name: name!, definition: definition)
    }
}
