import Foundation
import VampModel

/// Readers of gateways, conditions and rewrites.
extension ReadContext {
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
                throw error(.invalidValue, "an external gateway is keyed by its port (9050 or 9050/http: 0-65535 in plain digits, without a sign or a leading zero), or by a name with the port inside ({port: 9050/http, routes: …}), not '\(Self.short(key))' alone", path: path, mark: keyMark)
            }
            if let problem = Names.artifactNameProblem(key) {
                throw error(.illegalName, "illegal gateway name: \(problem)", path: path, mark: keyMark)
            }
            let text = try string(portEntry.value, join(path, "port"))
            guard let (number, type) = BreedPort.parseValue(text) else {
                throw error(.invalidValue, "expected a port such as 9050 or 9050/http (a number 0-65535 in plain digits: no sign, no leading zero) but found '\(Self.short(text))'", path: join(path, "port"), at: portEntry.value)
            }
            port = GatewayPort(number: number, type: type)
        }
        if case .scalar = node, !node.isNull {
            let route = try string(node, path)
            return Gateway(name: key, port: port, routes: [Route(path: route)])
        }
        return try gatewayBody(name: key, port: port, node, path, standalone: false, external: true)
    }

    /// `tls: {certificate: /etc/vamp/certs/shop.pem}`: a PEM file (chain and key) on the gateway agents' machines; or
    /// `tls: {secret: shop}`: a secret stored with `PUT /api/v1/secrets/shop`, which the server hands to the agents.
    func gatewayTLS(_ node: DSLNode, _ path: String) throws -> GatewayTLS {
        let reader = try map(node, path)
        let certificateNode = try reader.take("certificate"), secretNode = try reader.take("secret")
        reader.finish()
        switch (certificateNode, secretNode) {
        case (let certificateNode?, nil):
            let certificate = try string(certificateNode, join(path, "certificate"))
            if let problem = GatewayTLS.certificatePathProblem(certificate) {
                throw error(.invalidValue, problem, path: join(path, "certificate"), at: certificateNode)
            }
            return GatewayTLS(certificate: certificate)
        case (nil, let secretNode?):
            let secret = try string(secretNode, join(path, "secret"))
            if let problem = Secret.nameProblem(secret) {
                throw error(.invalidValue, problem, path: join(path, "secret"), at: secretNode)
            }
            return GatewayTLS(secret: secret)
        case (_?, let secretNode?):
            throw error(.invalidArtifact, "give either certificate (a PEM file on the agents) or secret (a stored secret), not both", path: path, at: secretNode)
        case (nil, nil):
            throw error(.missingField, "give certificate (a PEM file on the agents) or secret (the name of a stored secret)", path: path, at: node)
        }
    }

    /// A secret (`kind: secret`): its name and the PEM text of its certificate and key.
    func secret(_ node: DSLNode, _ path: String) throws -> Secret {
        let reader = try map(node, path)
        let nameNode = try reader.require("name")
        let secretName = try string(nameNode, join(path, "name"))
        name = secretName
        if let problem = Secret.nameProblem(secretName) { throw error(.illegalName, problem, path: join(path, "name"), at: nameNode) }
        let certificateNode = try reader.require("certificate")
        let certificate = try string(certificateNode, join(path, "certificate"))
        if let problem = Secret.certificateProblem(certificate) {
            throw error(.invalidValue, problem, path: join(path, "certificate"), at: certificateNode)
        }
        reader.ignore("kind")
        reader.finish()
        return Secret(name: secretName, certificate: certificate)
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
                throw error(.invalidValue, "expected a port such as 9050 or 9050/http (a number 0-65535 in plain digits: no sign, no leading zero) but found '\(Self.short(portText))'", path: "port", at: portNode)
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
                    throw error(.invalidValue, "expected a port such as 9050/http (a number 0-65535 in plain digits: no sign, no leading zero) but found '\(Self.short(text))'", path: join(path, "port"), at: portNode)
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
        if let tls = try reader.take("tls"), !tls.isNull {
            gateway.tls = recover { try gatewayTLS(tls, join(path, "tls")) }
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
                    throw error(.invalidValue, "expected a port such as 31234 or 31234/http (a number 0-65535 in plain digits: no sign, no leading zero) but found '\(Self.short(portText))'", path: join(sp, "port"), at: portNode)
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
                port: try portNumber(try reader.require("port"), join(p, "port")))
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

}
