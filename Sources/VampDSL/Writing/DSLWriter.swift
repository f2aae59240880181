import Foundation
public import VampModel

/// Writes the model back as canonical, expanded YAML or JSON: snake_case keys, `"NN%"`
/// percentages, memory as `"256.00MB"`, short forms expanded. This is what the API returns.
/// Reading what was written gives the same model.
public enum DSLWriter {
    /// Canonical YAML of one artifact (with its `kind`).
    public static func yaml(_ artifact: Artifact) -> String { YAMLEmitter.emit(node(artifact)) }

    /// Canonical YAML of several artifacts as a multi-document stream.
    public static func yaml(_ artifacts: [Artifact]) -> String {
        artifacts.map { "---\n" + yaml($0) }.joined()
    }

    /// Canonical JSON of one artifact; `pretty` indents it.
    public static func json(_ artifact: Artifact, pretty: Bool = true) -> String { JSONEmitter.emit(node(artifact), pretty: pretty) }

    /// Canonical JSON array of several artifacts.
    public static func json(_ artifacts: [Artifact], pretty: Bool = true) -> String {
        JSONEmitter.emit(.list(artifacts.map(node)), pretty: pretty)
    }

    /// Canonical YAML or JSON of one artifact followed by a `status` map (what the server says of a release).
    public static func text(_ artifact: Artifact, status: JSONValue?, json: Bool) -> String {
        var out = node(artifact)
        if let status, case .map(var entries) = out {
            entries.append(("status", .from(status)))
            out = .map(entries)
        }
        return json ? JSONEmitter.emit(out, pretty: false) : YAMLEmitter.emit(out)
    }

    static func node(_ artifact: Artifact) -> OutNode {
        var entries: [(String, OutNode)]
        switch artifact {
        case .breed(let a): entries = breed(a)
        case .blueprint(let a): entries = blueprint(a)
        case .scale(let a): entries = scale(a)
        case .gateway(let a): entries = gateway(a, standalone: true)
        case .route(let a): entries = [("name", .string(a.name ?? a.path))] + route(Route(path: a.path, name: a.name, weight: a.weight, condition: a.condition, conditionStrength: a.conditionStrength, rewrites: a.rewrites, balance: a.balance, targets: a.targets))
        case .condition(let a): entries = condition(a)
        case .rewrite(let a): entries = rewrite(a)
        case .sla(let a): entries = sla(a)
        case .escalation(let a): entries = escalation(a)
        case .deployment(let a): entries = deployment(a)
        case .workflow(let a): entries = workflow(a)
        case .template(let a): entries = [("name", .string(a.name)), ("definition", .from(.object(a.definition)))]
        case .event(let a): entries = event(a)
        case .release(let a): entries = release(a)
        case .secret(let a): entries = [("name", .string(a.name)), ("certificate", .string(a.certificate))]
        }
        if let index = entries.firstIndex(where: { $0.0 == "name" }) {
            entries.insert(("kind", .string(artifact.kind.rawValue)), at: index + 1)
        } else {
            entries.insert(("kind", .string(artifact.kind.rawValue)), at: 0)
        }
        return .map(entries)
    }

    // MARK: Pieces

    static func object(_ value: [String: JSONValue]) -> OutNode { .from(.object(value)) }

    static func variables(_ variables: [EnvironmentVariable]) -> OutNode {
        .map(variables.map { ($0.key, $0.value.map(OutNode.string) ?? .null) })
    }

    static func arguments(_ arguments: [RunArgument]) -> OutNode {
        .list(arguments.map { .map([($0.key, .string($0.value))]) })
    }

    static func healthChecks(_ checks: [HealthCheck]) -> OutNode {
        .list(checks.map { check in
            .map([
                ("path", .string(check.path)), ("port", .string(check.port)),
                ("initial_delay", .string(check.initialDelay.description)), ("timeout", .string(check.timeout.description)),
                ("interval", .string(check.interval.description)), ("failures", .number(String(check.failures))),
                ("protocol", .string(check.protocol.rawValue)),
            ])
        })
    }

    static func reference<T>(_ ref: ArtifactReference<T>, inline: (T) -> [(String, OutNode)]) -> OutNode {
        switch ref {
        case .reference(let name): .map([("reference", .string(name))])
        case .inline(let value): .map(inline(value))
        }
    }

    static func breed(_ breed: Breed) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = [("name", .string(breed.name))]
        if let deployable = breed.deployable {
            out.append(("deployable", .map([("type", .string(deployable.type)), ("definition", .string(deployable.definition))])))
        }
        out.append(("ports", .map(breed.ports.map { ($0.name, $0.value.map(OutNode.string) ?? .null) })))
        out.append(("environment_variables", variables(breed.environmentVariables)))
        out.append(("constants", .map(breed.constants.map { ($0.name, .string($0.value)) })))
        out.append(("arguments", arguments(breed.arguments)))
        out.append(("dependencies", .map(breed.dependencies.map { ($0.alias, .map([("breed", reference($0.breed, inline: self.breed))])) })))
        if let checks = breed.healthChecks { out.append(("health_checks", healthChecks(checks))) }
        out.append(("metadata", object(breed.metadata)))
        return out
    }

    static func scale(_ scale: Scale) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if let name = scale.name { out.append(("name", .string(name))) }
        out += [
            ("cpu", scale.cpu.description.hasSuffix("m") ? .string(scale.cpu.description) : .number(scale.cpu.description)),
            ("memory", .string(scale.memory.description)),
            ("instances", .number(String(scale.instances))),
        ]
        return out
    }

    static func blueprint(_ blueprint: Blueprint) -> [(String, OutNode)] {
        [
            ("name", .string(blueprint.name)),
            ("gateways", .map(blueprint.gateways.map { ($0.name, .map(gateway($0, standalone: false, port: true))) })),
            ("clusters", .map(blueprint.clusters.map { ($0.name, .map(cluster($0))) })),
            ("environment_variables", variables(blueprint.environmentVariables)),
            ("dialects", object(blueprint.dialects)),
            ("metadata", object(blueprint.metadata)),
        ]
    }

    static func cluster(_ cluster: Cluster) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = [
            ("services", .list(cluster.services.map { .map(service($0)) })),
            ("gateways", clusterGateways(cluster.gateways)),
        ]
        if let sla = cluster.sla { out.append(("sla", slaReference(sla, escalations: cluster.slaEscalations))) }
        if let checks = cluster.healthChecks { out.append(("health_checks", healthChecks(checks))) }
        if let network = cluster.network { out.append(("network", .string(network))) }
        out.append(("dialects", object(cluster.dialects)))
        out.append(("metadata", object(cluster.metadata)))
        return out
    }

    /// Keyed by port name; a gateway without one (bound at deployment) in the short form.
    static func clusterGateways(_ gateways: [Gateway]) -> OutNode {
        if gateways.count == 1, gateways[0].name.isEmpty { return .map(gateway(gateways[0], standalone: false, port: false)) }
        return .map(gateways.map { ($0.name, .map(gateway($0, standalone: false, port: false))) })
    }

    static func slaReference(_ sla: ArtifactReference<SLA>, escalations: [ArtifactReference<Escalation>]) -> OutNode {
        if case .reference(let name) = sla, !escalations.isEmpty {
            return .map([("reference", .string(name)), ("escalations", .list(escalations.map { reference($0, inline: escalation) }))])
        }
        return reference(sla, inline: self.sla)
    }

    static func service(_ service: Service) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = [("breed", reference(service.breed, inline: breed))]
        if let scale = service.scale { out.append(("scale", reference(scale, inline: self.scale))) }
        out.append(("environment_variables", variables(service.environmentVariables)))
        out.append(("arguments", arguments(service.arguments)))
        if let checks = service.healthChecks { out.append(("health_checks", healthChecks(checks))) }
        if let network = service.network { out.append(("network", .string(network))) }
        out.append(("dialects", object(service.dialects)))
        return out
    }

    static func gateway(_ gateway: Gateway, standalone: Bool, port: Bool = true) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if standalone {
            out.append(("name", .string(gateway.name)))
            out.append(("lookup_name", .string(gateway.lookupName)))
            out.append(("internal", .bool(gateway.isInternal)))
        }
        if port { out.append(("port", .string(gateway.port.description))) }
        out.append(("sticky", gateway.sticky.map { .string($0.rawValue) } ?? .null))
        out.append(("virtual_hosts", .list(gateway.virtualHosts.map(OutNode.string))))
        if let tls = gateway.tls {
            out.append(("tls", .map(tls.secret.map { [("secret", .string($0))] } ?? [("certificate", .string(tls.certificate ?? ""))])))
        }
        out.append(("routes", .map(gateway.routes.map { ($0.path, .map(route($0))) })))
        if let service = gateway.service {
            out.append(("service", .map([("host", .string(service.host)), ("port", .number(String(service.port)))])))
        }
        if let deployed = gateway.deployed { out.append(("deployed", .bool(deployed))) }
        out.append(("metadata", object(gateway.metadata)))
        return out
    }

    static func route(_ route: Route) -> [(String, OutNode)] {
        if let reference = route.reference { return [("reference", .string(reference))] }
        var out: [(String, OutNode)] = [
            ("lookup_name", .string(route.lookupName)),
            ("weight", route.weight.map { .string($0.description) } ?? .null),
            ("balance", .string(route.balance ?? "default")),
            ("condition", routeCondition(route.condition)),
            ("condition_strength", route.conditionStrength.map { .string($0.description) } ?? .null),
            ("rewrites", .list(route.rewrites.map { reference($0, inline: rewrite) })),
        ]
        if !route.targets.isEmpty {
            out.append(("targets", .list(route.targets.map { target in
                switch target {
                case .instance(let name, let host, let port):
                    .map([("name", .string(name)), ("host", .string(host)), ("port", .number(String(port)))])
                case .url(let url): .map([("url", .string(url))])
                }
            })))
        }
        return out
    }

    /// A route's condition; an empty inline one is written as none, which is how it reads back.
    static func routeCondition(_ condition: ArtifactReference<Condition>?) -> OutNode {
        guard let condition else { return .null }
        if case .inline(let inline) = condition, Condition.isEmptyDefinition(inline.definition) { return .null }
        return reference(condition, inline: Self.condition)
    }

    static func condition(_ condition: Condition) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if let name = condition.name { out.append(("name", .string(name))) }
        out.append(("condition", .string(condition.definition)))
        return out
    }

    static func rewrite(_ rewrite: Rewrite) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if let name = rewrite.name { out.append(("name", .string(name))) }
        out.append(("path", .string(rewrite.definition)))
        return out
    }

    static func sla(_ sla: SLA) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if let name = sla.name { out.append(("name", .string(name))) }
        out.append(("type", .string(sla.type)))
        switch sla.definition {
        case .responseTimeSlidingWindow(let upper, let lower, let interval, let cooldown):
            out.append(("threshold", .map([("upper", .number(String(upper))), ("lower", .number(String(lower)))])))
            out.append(("window", .map([("interval", .number(String(interval))), ("cooldown", .number(String(cooldown)))])))
        case .escalationOnly: break
        case .generic(_, let parameters):
            for key in parameters.keys.sorted() { out.append((key, OutNode.from(parameters[key]!))) }
        }
        out.append(("escalations", .list(sla.escalations.map { reference($0, inline: escalation) })))
        return out
    }

    static func escalation(_ escalation: Escalation) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if let name = escalation.name { out.append(("name", .string(name))) }
        out.append(("type", .string(escalation.type)))
        func number(_ value: Double) -> OutNode {
            if case .number(let text) = JSONValue.number(value) { return .number(text) }
            return .null
        }
        switch escalation.definition {
        case .scaleInstances(let minimum, let maximum, let scaleBy, let target):
            out += [("minimum", .number(String(minimum))), ("maximum", .number(String(maximum))), ("scale_by", .number(String(scaleBy)))]
            if let target { out.append(("target", .string(target))) }
        case .scaleCPU(let minimum, let maximum, let scaleBy, let target), .scaleMemory(let minimum, let maximum, let scaleBy, let target):
            out += [("minimum", number(minimum)), ("maximum", number(maximum)), ("scale_by", number(scaleBy))]
            if let target { out.append(("target", .string(target))) }
        case .toAll(let children), .toOne(let children):
            out.append(("escalations", .list(children.map { reference($0, inline: self.escalation) })))
        case .generic(_, let parameters):
            for key in parameters.keys.sorted() { out.append((key, OutNode.from(parameters[key]!))) }
        }
        return out
    }

    static func timestamp(_ date: Date) -> OutNode {
        .string(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }

    static func workflow(_ workflow: Workflow) -> [(String, OutNode)] {
        let schedule: OutNode
        switch workflow.schedule {
        case .daemon: schedule = .string("daemon")
        case .event(let tags): schedule = .map([("event", .map([("tags", .list(tags.map(OutNode.string)))]))])
        case .time(let period, let start, let repeatCount):
            var time: [(String, OutNode)] = [("period", .string(period))]
            if let start { time.append(("start", .string(start))) }
            if let repeatCount { time.append(("repeat", .number(String(repeatCount)))) }
            schedule = .map([("time", .map(time))])
        }
        var out: [(String, OutNode)] = [
            ("name", .string(workflow.name)),
            ("breed", reference(workflow.breed, inline: breed)),
            ("schedule", schedule),
            ("status", .string(workflow.status.rawValue)),
            ("environment_variables", variables(workflow.environmentVariables)),
        ]
        if let scale = workflow.scale { out.append(("scale", reference(scale, inline: self.scale))) }
        out.append(("arguments", arguments(workflow.arguments)))
        if let network = workflow.network { out.append(("network", .string(network))) }
        if let checks = workflow.healthChecks { out.append(("health_checks", healthChecks(checks))) }
        out.append(("dialects", object(workflow.dialects)))
        return out
    }

    static func event(_ event: Event) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = []
        if let id = event.id { out.append(("id", .string(id))) }
        out.append(("tags", .list(event.tags.map(OutNode.string))))
        if let value = event.value { out.append(("value", .from(value))) }
        out.append(("timestamp", timestamp(event.timestamp)))
        out.append(("type", .string(event.type)))
        return out
    }

    static func deployment(_ deployment: Deployment) -> [(String, OutNode)] {
        [
            ("name", .string(deployment.name)),
            ("lookup_name", .string(deployment.lookupName)),
            ("clusters", .map(deployment.clusters.map { cluster in
                var entries: [(String, OutNode)] = [
                    ("services", .list(cluster.services.map { .map(deploymentService($0)) })),
                    ("gateways", .map(cluster.gateways.map { ($0.name, .map(gateway($0, standalone: false))) })),
                ]
                if let sla = cluster.sla { entries.append(("sla", slaReference(sla, escalations: cluster.slaEscalations))) }
                entries.append(("dialects", object(cluster.dialects)))
                return (cluster.name, .map(entries))
            })),
            ("ports", .map(deployment.ports.keys.sorted().map { ($0, .number(String(deployment.ports[$0]!))) })),
            ("environment_variables", variables(deployment.environmentVariables)),
            ("hosts", .map(deployment.hosts.keys.sorted().map { ($0, .string(deployment.hosts[$0]!)) })),
            ("dialects", object(deployment.dialects)),
        ]
    }

    static func deploymentService(_ service: DeploymentService) -> [(String, OutNode)] {
        var phase: [(String, OutNode)] = [("name", .string(service.status.phase.name.rawValue)), ("since", timestamp(service.status.phase.since))]
        if let notification = service.status.phase.notification { phase.append(("notification", .string(notification))) }
        var out: [(String, OutNode)] = [
            ("status", .map([("intention", .string(service.status.intention.rawValue)), ("since", timestamp(service.status.since)), ("phase", .map(phase))])),
            ("breed", .map(breed(service.breed))),
            ("environment_variables", variables(service.environmentVariables)),
            ("scale", .map(scale(service.scale))),
            ("instances", .list(service.instances.map { instance in
                .map([
                    ("name", .string(instance.name)), ("host", .string(instance.host)),
                    ("ports", .map(instance.ports.keys.sorted().map { ($0, .number(String(instance.ports[$0]!))) })),
                    ("deployed", .bool(instance.deployed)),
                ])
            })),
            ("arguments", arguments(service.arguments)),
        ]
        if let checks = service.healthChecks { out.append(("health_checks", healthChecks(checks))) }
        out.append(("dependencies", .map(service.dependencies.keys.sorted().map { ($0, .string(service.dependencies[$0]!)) })))
        out.append(("dialects", object(service.dialects)))
        if let health = service.health {
            out.append(("health", .map([
                ("staged", .number(String(health.staged))), ("running", .number(String(health.running))),
                ("healthy", .number(String(health.healthy))), ("unhealthy", .number(String(health.unhealthy))),
            ])))
        }
        return out
    }
}
