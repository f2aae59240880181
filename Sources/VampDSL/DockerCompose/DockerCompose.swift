public import VampModel

/// A blueprint converted from a docker-compose file, with notes on what was left out or
/// changed (Vamp 0.9.5 returned them as YAML comments above the blueprint).
public struct DockerComposeConversion: Sendable {
    /// The blueprint: a cluster per compose service with an inline breed `<service>:1.0.0`.
    public var blueprint: Blueprint
    /// What the conversion ignored or created, one line each (`ignored host port 8080`).
    public var notes: [String]

    /// The blueprint as canonical YAML, preceded by the notes as `#` comments.
    public var yaml: String {
        notes.map { "# \($0)\n" }.joined() + DSLWriter.yaml(.blueprint(blueprint))
    }
}

/// Converts docker-compose files to blueprints (`vamp convert --from docker-compose`,
/// `POST /api/v1/docker-compose?name=N`), as Vamp 0.9.5 did: each service becomes a cluster
/// with one inline breed; `image` is the deployable, `ports` the breed's ports (`port_80`;
/// host ports and addresses are dropped with a note, a protocol other than tcp is an error),
/// `environment` its variables, `depends_on` and `links` its dependencies, `command` the
/// docker dialect. A variable whose value is `service:port` becomes a reference to that
/// service's host and port, and the port is added to that service's breed.
public enum DockerCompose {
    /// Converts `text`; throws every error, each with its line and field path.
    public static func blueprint(from text: String, name: String, limits: DSLLimits = DSLLimits()) throws(VampErrors) -> DockerComposeConversion {
        let items: [DSLNode]
        do { items = try DSLReader.roots(text, limits: limits) } catch { throw VampErrors([error]) }
        guard items.count == 1, let root = items.first else {
            throw VampErrors([VampError(.invalidValue, "a docker-compose file is one document; this input holds \(items.count)", kind: "docker-compose")])
        }
        let context = ReadContext(kind: "docker-compose", document: nil)
        context.name = name
        let conversion = context.recover { try context.compose(root, name: name) }
        if !context.errors.isEmpty || conversion == nil {
            throw VampErrors(context.errors.sorted { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) })
        }
        // The blueprint's own rules, with the compose service's line for each cluster.
        let sourceMap = SourceMap(root: root)
        let errors = Validation.validate(.blueprint(conversion!.blueprint)).map { error -> VampError in
            var located = error
            if let path = error.path, path.hasPrefix("clusters.") {
                let cluster = path.dropFirst("clusters.".count).prefix { $0 != "." && $0 != "[" }
                if let position = sourceMap.position(of: "services.\(cluster)") {
                    located.line = position.line
                    located.column = position.column
                }
            }
            return located
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return conversion!
    }
}

extension ReadContext {
    /// Keys of a compose service this conversion uses; the rest are noted as left out.
    static let composeServiceKeys: Set<String> = ["image", "ports", "environment", "depends_on", "links", "command"]

    func compose(_ root: DSLNode, name blueprintName: String) throws -> DockerComposeConversion {
        let reader = try map(root, "")
        var notes: [String] = []
        if let version = try reader.take("version"), let text = try? optionalString(version, "version") {
            notes.append("Compose version: \(text).")
        }
        guard let servicesNode = try reader.take("services") else {
            throw error(.missingField, "a docker-compose file needs services (version 2 or later), e.g. services: {web: {image: nginx}}", path: "services", mark: reader.mark)
        }
        for key in reader.keys where !["version", "services"].contains(key) {
            notes.append("Did not include unsupported field: '\(key)'.")
        }
        reader.ignore(contentsOf: reader.keys)
        let services = try map(servicesNode, "services")
        var clusters: [Cluster] = []
        for entry in services.entries {
            services.ignore(entry.key)
            if let cluster = recover({ try composeService(entry.key, entry.value, "services.\(entry.key)", notes: &notes) }) {
                clusters.append(cluster)
            }
        }
        linkPortReferences(&clusters, notes: &notes)
        return DockerComposeConversion(blueprint: Blueprint(name: blueprintName, clusters: clusters), notes: notes)
    }

    func composeService(_ serviceName: String, _ node: DSLNode, _ path: String, notes: inout [String]) throws -> Cluster {
        let reader = try map(node, path)
        var breed = Breed(name: "\(serviceName):1.0.0")
        var dialects: [String: JSONValue] = [:]
        if let image = try reader.take("image") {
            breed.deployable = recover { Deployable(definition: try string(image, join(path, "image"))) }
        } else {
            errors.append(error(
                .missingField, "the service '\(serviceName)' has no image; Vamp deploys images (build: is not converted)",
                path: join(path, "image"), mark: reader.mark))
        }
        if let ports = try reader.take("ports") {
            breed.ports = each(try list(ports, join(path, "ports"))) { index, item in
                try composePort(item, "\(path).ports[\(index)]", service: serviceName, notes: &notes)
            }
        }
        if let environment = try reader.take("environment") {
            recover {
                let p = join(path, "environment")
                switch environment {
                case .sequence(let items, _):
                    breed.environmentVariables = each(items) { index, item in
                        let text = try string(item, "\(p)[\(index)]")
                        guard let equals = text.firstIndex(of: "=") else {
                            notes.append("The variable '\(text)' of '\(serviceName)' takes its value from the shell; it is a placeholder to fill in.")
                            return EnvironmentVariable(name: text, value: nil)
                        }
                        return EnvironmentVariable(name: String(text[..<equals]), value: String(text[text.index(after: equals)...]))
                    }
                default:
                    breed.environmentVariables = try map(environment, p).entries.compactMap { entry in
                        recover { EnvironmentVariable(name: entry.key, value: try optionalString(entry.value, join(p, entry.key))) }
                    }
                }
            }
        }
        var aliases: [(alias: String, service: String)] = []
        if let dependsOn = try reader.take("depends_on") {
            recover {
                let p = join(path, "depends_on")
                // A list of names, or (version 2.1+) a map of name to condition.
                let names: [String]
                if case .mapping(let entries, _) = dependsOn { names = entries.map(\.key) } else {
                    names = try listOrSingle(dependsOn, p).enumerated().map { try string($1, "\(p)[\($0)]") }
                }
                for name in names where !aliases.contains(where: { $0.alias == name }) { aliases.append((name, name)) }
            }
        }
        if let links = try reader.take("links") {
            recover {
                let p = join(path, "links")
                for (index, item) in listOrSingle(links, p).enumerated() {
                    // `db` or `db:alias`.
                    let parts = try string(item, "\(p)[\(index)]").split(separator: ":", maxSplits: 1).map(String.init)
                    let alias = parts.count == 2 ? parts[1] : parts[0]
                    if !aliases.contains(where: { $0.alias == alias }) { aliases.append((alias, parts[0])) }
                }
            }
        }
        breed.dependencies = aliases.map { Dependency(alias: $0.alias, breed: .reference("\($0.service):1.0.0")) }
        if let command = try reader.take("command") {
            recover {
                switch command {
                case .sequence(let items, _):
                    dialects["docker"] = .string(try items.enumerated().map { try string($1, "\(path).command[\($0)]") }.joined(separator: " "))
                default:
                    dialects["docker"] = .string(try string(command, join(path, "command")))
                }
            }
        }
        for key in reader.keys where !Self.composeServiceKeys.contains(key) {
            notes.append("Did not include unsupported field: '\(key)' of service '\(serviceName)'.")
        }
        reader.ignore(contentsOf: reader.keys)
        return Cluster(name: serviceName, services: [Service(breed: .inline(breed), dialects: dialects)])
    }

    /// `"80"`, `"8080:80"`, `"127.0.0.1:8080:80"`, `"80/tcp"`, `"3000-3005"` or the long form
    /// `{target: 80, published: 8080, protocol: tcp}`: the container port is kept.
    func composePort(_ node: DSLNode, _ path: String, service: String, notes: inout [String]) throws -> BreedPort {
        var text: String
        var protocolName: String?
        if case .mapping = node {
            let reader = try map(node, path)
            text = try string(try reader.require("target"), join(path, "target"))
            protocolName = try optionalString(try reader.take("protocol"), join(path, "protocol"))
            if let published = try reader.take("published") { notes.append("Ignored host port: \((try? string(published, path)) ?? "?") of '\(service)'.") }
            reader.ignore(contentsOf: reader.keys)
        } else {
            text = try string(node, path)
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1: break
            case 2: notes.append("Ignored host port: \(parts[0]) of '\(service)'.")
            case 3: notes.append("Ignored ip: \(parts[0]) and host port: \(parts[1]) of '\(service)'.")
            default: throw error(.invalidValue, "expected a port such as 80, 8080:80 or 127.0.0.1:8080:80/tcp but found '\(Self.short(text))'", path: path, at: node)
            }
            text = parts[parts.count - 1]
            if let slash = text.firstIndex(of: "/") {
                protocolName = String(text[text.index(after: slash)...])
                text = String(text[..<slash])
            }
        }
        if let protocolName, protocolName.lowercased() != "tcp" {
            throw error(.invalidValue, "the port protocol '\(Self.short(protocolName))' is not supported; Vamp's gateways carry tcp (and http over it)", path: path, at: node)
        }
        if let dash = text.firstIndex(of: "-") {
            notes.append("Ignored the port range to \(text[text.index(after: dash)...]) of '\(service)'; only its first port is used.")
            text = String(text[..<dash])
        }
        guard let number = Int(text), (1...65535).contains(number) else {
            throw error(.invalidValue, "expected a container port from 1 to 65535 but found '\(Self.short(text))'", path: path, at: node)
        }
        return BreedPort(name: "port_\(number)", number: number, type: protocolName == nil ? .http : .tcp)
    }

    /// Values such as `db:5432` that name another service become `$db.host:$db.ports.port_5432`,
    /// with `db` as a dependency and the port added to its breed.
    func linkPortReferences(_ clusters: inout [Cluster], notes: inout [String]) {
        let names = clusters.map(\.name)
        for index in clusters.indices {
            guard case .inline(var breed) = clusters[index].services[0].breed else { continue }
            for variableIndex in breed.environmentVariables.indices {
                guard let value = breed.environmentVariables[variableIndex].value, let colon = value.firstIndex(of: ":") else { continue }
                let target = String(value[..<colon])
                let port = String(value[value.index(after: colon)...])
                guard names.contains(target), target != clusters[index].name, let number = Int(port), (1...65535).contains(number) else { continue }
                let variable = breed.environmentVariables[variableIndex].name
                breed.environmentVariables[variableIndex].value = "$\(target).host:$\(target).ports.port_\(number)"
                notes.append("Created port reference in environment variable: '\(variable)'.")
                if !breed.dependencies.contains(where: { $0.alias == target }) {
                    breed.dependencies.append(Dependency(alias: target, breed: .reference("\(target):1.0.0")))
                }
                let targetIndex = clusters.firstIndex { $0.name == target }!
                if case .inline(var targetBreed) = clusters[targetIndex].services[0].breed, !targetBreed.ports.contains(where: { $0.name == "port_\(number)" }) {
                    targetBreed.ports.append(BreedPort(name: "port_\(number)", number: number))
                    clusters[targetIndex].services[0].breed = .inline(targetBreed)
                    notes.append("Created port: 'port_\(number)' in breed: '\(target):1.0.0'.")
                }
            }
            clusters[index].services[0].breed = .inline(breed)
        }
    }
}
