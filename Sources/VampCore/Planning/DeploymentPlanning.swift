public import Foundation
public import VampModel

/// Merge and slice of deployments (reference §4.1, §4.2): pure functions of the deployment as stored, the
/// blueprint of the request and the clock. The facade resolves references and allocates ports; what a merge or a
/// slice does is decided here and tested with plain values.
public enum DeploymentPlanning {
    /// Settings of a merge.
    public struct Options: Sendable, Hashable {
        /// The scale of a service that gives none (Vamp's `vamp.operation.deployment.scale`: 1 cpu, 1 GB, 1 instance).
        public var defaultScale: Scale
        /// Where the gateway agents' HAProxy serves the internal gateways: `$cluster.host` (`vamp.gateway-driver.host`).
        public var gatewayHost: String

        /// Creates options.
        public init(defaultScale: Scale = .default, gatewayHost: String = "127.0.0.1") {
            self.defaultScale = defaultScale
            self.gatewayHost = gatewayHost
        }
    }

    // MARK: Merge

    /// Merges `blueprint` into `existing` (or into an empty deployment named `name`), as `POST /deployments` and
    /// `PUT /deployments/{name}` do.
    ///
    /// - Services keep their identity (their breed name): an existing service keeps its instances and status unless
    ///   what runs changes (breed, scale, environment, arguments, health checks); a new service is appended with
    ///   `Deployment/Initiated`.
    /// - Every cluster gets one internal gateway per port name, with one route per live service exposing it: routes
    ///   from the blueprint's cluster gateway where it names them, else as they were; a new route gets no weight,
    ///   and the routes without weight share what is left of 100% (the first version 100%, a canary next to it 0%).
    /// - Ports of new internal gateways come from `allocatePort`; `$cluster.host`, `$cluster.ports.p` and the other
    ///   references of every service's environment are resolved at once, so an unfilled placeholder is an error of
    ///   this request.
    ///
    /// - Parameters:
    ///   - blueprint: every service's breed inline (the facade resolved the references); a service's scale `nil`
    ///     when the request gives none.
    ///   - existing: the deployment as stored, `nil` when there is none yet.
    ///   - name: the deployment's name.
    ///   - now: the time of the status changes.
    ///   - options: the default scale and the gateway host.
    ///   - allocatePort: the next free port for an internal gateway.
    /// - Throws: every problem found, each naming the cluster and service or gateway.
    public static func merge(
        _ blueprint: Blueprint, into existing: Deployment?, name: String, now: Date, options: Options = Options(),
        allocatePort: () throws(VampErrors) -> Int
    ) throws(VampErrors) -> Deployment {
        var deployment = existing ?? Deployment(name: name)
        var errors: [VampError] = []
        func problem(_ message: String, _ path: String) {
            errors.append(VampError(.invalidArtifact, message, kind: "deployment", name: name, path: path))
        }

        for variable in blueprint.environmentVariables {
            deployment.environmentVariables.removeAll { $0.name == variable.name }
            deployment.environmentVariables.append(variable)
        }
        deployment.dialects.merge(blueprint.dialects) { _, new in new }

        for cluster in blueprint.clusters {
            let clusterIndex: Int
            if let index = deployment.clusters.firstIndex(where: { $0.name == cluster.name }) {
                clusterIndex = index
            } else {
                deployment.clusters.append(DeploymentCluster(name: cluster.name))
                clusterIndex = deployment.clusters.count - 1
            }
            var target = deployment.clusters[clusterIndex]
            if cluster.sla != nil {
                target.sla = cluster.sla
                target.slaEscalations = cluster.slaEscalations
            }
            target.dialects.merge(cluster.dialects) { _, new in new }
            for (serviceIndex, service) in cluster.services.enumerated() {
                guard case .inline(let breed) = service.breed else {
                    problem("the breed '\(service.breedName)' is not resolved", "clusters.\(cluster.name).services[\(serviceIndex)].breed")
                    continue
                }
                var scale: Scale?
                switch service.scale {
                case .inline(let inline): scale = inline
                case .reference(let name): problem("the scale '\(name)' is not resolved", "clusters.\(cluster.name).services[\(serviceIndex)].scale")
                case nil: scale = nil
                }
                let healthChecks = service.healthChecks ?? cluster.healthChecks
                if let index = target.services.firstIndex(where: { $0.breed.name == breed.name }) {
                    var current = target.services[index]
                    current.breed = breed
                    if let scale { current.scale = scale }
                    current.arguments = service.arguments
                    current.healthChecks = healthChecks
                    current.dialects.merge(service.dialects) { _, new in new }
                    if current.status.intention == .undeployment { current.status = initiated(now) }
                    target.services[index] = current
                } else {
                    target.services.append(DeploymentService(
                        status: initiated(now), breed: breed, scale: scale ?? options.defaultScale,
                        arguments: service.arguments, healthChecks: healthChecks, dialects: service.dialects))
                }
            }
            deployment.clusters[clusterIndex] = target
        }

        // Internal gateways, one per port name of the live services of each cluster.
        let given = Dictionary(blueprint.clusters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for clusterIndex in deployment.clusters.indices {
            var cluster = deployment.clusters[clusterIndex]
            let live = cluster.services.filter { $0.status.intention == .deployment }
            var portNames: [(String, BreedPort.PortType)] = []
            for service in live {
                for port in service.breed.ports where !portNames.contains(where: { $0.0 == port.name }) {
                    portNames.append((port.name, port.type))
                }
            }
            var gateways: [Gateway] = []
            for (portName, portType) in portNames {
                let path = "clusters.\(cluster.name).gateways.\(portName)"
                let requested = given[cluster.name]?.gateways.first { $0.name == portName }
                var gateway = cluster.gateways.first { $0.name == portName }
                    ?? Gateway(name: portName, port: GatewayPort(number: deployment.ports["\(cluster.name).\(portName)"] ?? 0, type: portType))
                if let requested {
                    gateway.sticky = requested.sticky
                    gateway.tls = requested.tls
                    if !requested.virtualHosts.isEmpty { gateway.virtualHosts = requested.virtualHosts }
                    for route in requested.routes where !live.contains(where: { $0.breed.name == route.path && $0.breed.ports.contains { $0.name == portName } }) {
                        problem("the gateway of port '\(portName)' has a route '\(route.path)', but no service of the cluster with that breed exposes the port", path)
                    }
                }
                var routes: [Route] = []
                for service in live where service.breed.ports.contains(where: { $0.name == portName }) {
                    let name = service.breed.name
                    if let route = requested?.routes.first(where: { $0.path == name }) {
                        routes.append(route)
                    } else if let route = gateway.routes.first(where: { $0.path == name }) {
                        routes.append(route)
                    } else {
                        routes.append(Route(path: name))
                    }
                }
                gateway.routes = rebalanced(routes)
                let total = gateway.routes.reduce(0) { $0 + ($1.weight?.value ?? 0) }
                if total != 0, total != 100 {
                    let weights = gateway.routes.map { "\($0.path) \($0.weight?.description ?? "0%")" }.joined(separator: ", ")
                    problem("the route weights of port '\(portName)' add up to \(total)% (\(weights)); they must add up to 100%", path)
                }
                if gateway.port.number == 0 {
                    do {
                        gateway.port.number = try allocatePort()
                    } catch {
                        errors += error.errors
                    }
                }
                deployment.ports["\(cluster.name).\(portName)"] = gateway.port.number
                gateways.append(gateway)
            }
            for stale in cluster.gateways where !gateways.contains(where: { $0.name == stale.name }) {
                deployment.ports["\(cluster.name).\(stale.name)"] = nil
            }
            cluster.gateways = gateways
            deployment.clusters[clusterIndex] = cluster
        }
        for (clusterName, cluster) in given {
            for gateway in cluster.gateways where !deployment.clusters.contains(where: { $0.name == clusterName && $0.gateways.contains { $0.name == gateway.name } }) {
                problem("the cluster gateway '\(gateway.name)' names no port of the cluster's services", "clusters.\(clusterName).gateways.\(gateway.name)")
            }
        }
        for variable in deployment.environmentVariables {
            let parts = variable.name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, let cluster = deployment.clusters.first(where: { $0.name == parts[0] }) else {
                problem("the variable '\(variable.name)' names no cluster of the deployment (write cluster.VARIABLE)", "environment_variables.\(variable.name)")
                continue
            }
            if !cluster.services.contains(where: { service in service.breed.environmentVariables.contains { $0.name == parts[1] } }) {
                problem("the variable '\(variable.name)': no breed of cluster '\(parts[0])' has a variable '\(parts[1])'", "environment_variables.\(variable.name)")
            }
        }

        if !errors.isEmpty { throw VampErrors(errors) }
        deployment = try EnvironmentResolution.resolve(deployment, given: blueprintServiceVariables(blueprint), gatewayHost: options.gatewayHost)

        // A service that runs differently now (breed, scale, variables, arguments, health checks) starts over; one
        // that was being undeployed is deployed again.
        for clusterIndex in deployment.clusters.indices {
            for index in deployment.clusters[clusterIndex].services.indices {
                let service = deployment.clusters[clusterIndex].services[index]
                let previous = existing?.clusters.first { $0.name == deployment.clusters[clusterIndex].name }?
                    .services.first { $0.breed.name == service.breed.name }
                guard let previous else { continue }
                if previous.status.intention == .undeployment || !sameRun(previous, service) {
                    deployment.clusters[clusterIndex].services[index].status = initiated(now)
                }
            }
        }
        return deployment
    }

    /// The variables each service of the request gives (`cluster` → breed name → variables): they override the breed's
    /// and the deployment's values.
    static func blueprintServiceVariables(_ blueprint: Blueprint) -> [String: [String: [EnvironmentVariable]]] {
        var result: [String: [String: [EnvironmentVariable]]] = [:]
        for cluster in blueprint.clusters {
            for service in cluster.services { result[cluster.name, default: [:]][service.breedName] = service.environmentVariables }
        }
        return result
    }

    /// True when the two describe the same running service (what would make a driver restart it is the same).
    static func sameRun(_ lhs: DeploymentService, _ rhs: DeploymentService) -> Bool {
        lhs.breed == rhs.breed && lhs.scale == rhs.scale && lhs.environmentVariables == rhs.environmentVariables
            && lhs.arguments == rhs.arguments && lhs.healthChecks == rhs.healthChecks && lhs.dialects == rhs.dialects
    }

    static func initiated(_ now: Date) -> ServiceStatus {
        ServiceStatus(intention: .deployment, since: now, phase: .init(name: .initiated, since: now))
    }

    /// Vamp's weight rebalancing: when the routes with a weight add up to at most 100%, the routes without one share
    /// the rest equally (the last gets the remainder of the division). A route with a condition and no strength gets
    /// 100% strength.
    public static func rebalanced(_ routes: [Route]) -> [Route] {
        var routes = routes
        for index in routes.indices where routes[index].condition != nil && routes[index].conditionStrength == nil {
            routes[index].conditionStrength = .full
        }
        let explicit = routes.reduce(0) { $0 + ($1.weight?.value ?? 0) }
        let open = routes.indices.filter { routes[$0].weight == nil }
        guard !open.isEmpty, explicit <= 100 else { return routes }
        let share = (100 - explicit) / open.count
        for (position, index) in open.enumerated() {
            let value = position == open.count - 1 ? 100 - explicit - share * (open.count - 1) : share
            routes[index].weight = Percentage(value)
        }
        return routes
    }

    // MARK: Slice

    /// Takes the services `blueprint` lists out of `deployment` (`DELETE /deployments/{name}` with a body): they get
    /// `Undeployment/Initiated` and their routes leave the cluster's gateways. Unknown clusters and services are
    /// ignored; an empty blueprint changes nothing.
    ///
    /// - Throws: when the routes that remain on a port do not add up to 100% (move the weight first), naming the port.
    public static func slice(_ blueprint: Blueprint, from deployment: Deployment, now: Date) throws(VampErrors) -> Deployment {
        var result = deployment
        var errors: [VampError] = []
        for cluster in blueprint.clusters {
            guard let clusterIndex = result.clusters.firstIndex(where: { $0.name == cluster.name }) else { continue }
            var target = result.clusters[clusterIndex]
            let removed = Set(cluster.services.map(\.breedName))
            var changed = false
            for index in target.services.indices where removed.contains(target.services[index].breed.name) && target.services[index].status.intention == .deployment {
                target.services[index].status = ServiceStatus(intention: .undeployment, since: now, phase: .init(name: .initiated, since: now))
                changed = true
            }
            guard changed else { continue }
            let live = target.services.filter { $0.status.intention == .deployment }
            var gateways: [Gateway] = []
            for var gateway in target.gateways {
                gateway.routes.removeAll { removed.contains($0.path) }
                guard !gateway.routes.isEmpty, !live.isEmpty else {
                    result.ports["\(target.name).\(gateway.name)"] = nil
                    continue
                }
                let total = gateway.routes.reduce(0) { $0 + ($1.weight?.value ?? 0) }
                if total != 100 {
                    let weights = gateway.routes.map { "\($0.path) \($0.weight?.description ?? "0%")" }.joined(separator: ", ")
                    errors.append(VampError(
                        .invalidArtifact,
                        "Invalid route weight: after removing \(removed.sorted().joined(separator: ", ")) the routes of port '\(gateway.name)' add up to \(total)% (\(weights)); move the weight to the remaining services first",
                        kind: "deployment", name: deployment.name, path: "clusters.\(target.name).gateways.\(gateway.name)"))
                }
                gateways.append(gateway)
            }
            target.gateways = gateways
            result.clusters[clusterIndex] = target
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return result
    }

    // MARK: Gateways of a deployment

    /// The internal gateways of the deployment as HAProxy serves them: `deployment/cluster/port`, with one route
    /// `deployment/cluster/breed/port` per service.
    public static func internalGateways(of deployment: Deployment) -> [Gateway] {
        deployment.clusters.flatMap { cluster in
            cluster.gateways.map { gateway in
                var served = gateway
                served.name = "\(deployment.name)/\(cluster.name)/\(gateway.name)"
                served.routes = gateway.routes.map { route in
                    var route = route
                    route.path = "\(deployment.name)/\(cluster.name)/\(route.path)/\(gateway.name)"
                    route.targets = []
                    return route
                }
                served.deployed = nil
                return served
            }
        }
    }

    /// The blueprint's external gateways as the deployment's: `deployment/<port>` (or `deployment/<name>`), with
    /// every route `cluster/port` turned into `deployment/cluster/port`, the cluster's internal gateway.
    public static func externalGateways(of blueprint: Blueprint, deployment: String) -> [Gateway] {
        blueprint.gateways.map { gateway in
            var external = gateway
            let key = BreedPort.parseValue(gateway.name).map { String($0.number) } ?? gateway.name
            external.name = "\(deployment)/\(key)"
            external.routes = gateway.routes.map { route in
                var route = route
                if !route.isExternal { route.path = "\(deployment)/\(route.path)" }
                return route
            }
            external.routes = rebalanced(external.routes)
            return external
        }
    }

    // MARK: Reading

    /// The deployment as a blueprint (`GET /deployments/{name}?as_blueprint=true`): its live services with their
    /// breeds, scales, the variables that differ from the breed's, arguments, health checks, and the clusters'
    /// gateways and SLAs; no external gateways.
    public static func blueprint(of deployment: Deployment) -> Blueprint {
        var blueprint = Blueprint(name: deployment.name, dialects: deployment.dialects)
        blueprint.environmentVariables = deployment.environmentVariables
        for cluster in deployment.clusters {
            let live = cluster.services.filter { $0.status.intention == .deployment }
            guard !live.isEmpty else { continue }
            var out = Cluster(name: cluster.name, sla: cluster.sla, dialects: cluster.dialects)
            out.slaEscalations = cluster.slaEscalations
            out.services = live.map { service in
                let breedValues = Dictionary(service.breed.environmentVariables.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
                let own = service.environmentVariables.filter { variable in
                    guard let value = breedValues[variable.name] else { return true }
                    return value != variable.value
                }
                return Service(
                    breed: .inline(service.breed), scale: .inline(service.scale), environmentVariables: own,
                    arguments: service.arguments, healthChecks: service.healthChecks, dialects: service.dialects)
            }
            out.gateways = cluster.gateways.map { gateway in
                var gateway = gateway
                gateway.port.number = 0
                gateway.routes = gateway.routes.map { var route = $0; route.targets = []; return route }
                gateway.deployed = nil
                gateway.service = nil
                return gateway
            }
            blueprint.clusters.append(out)
        }
        return blueprint
    }

    /// The service status rolled up per deployment (§4.3): `Failed`, `Initiating`, `Undeploying`, `Deploying` or
    /// `Deployed`, the first that applies.
    public static func rolledUpStatus(of deployment: Deployment) -> String {
        let statuses = deployment.clusters.flatMap(\.services).map(\.status)
        if statuses.contains(where: { $0.phase.name == .failed }) { return "Failed" }
        if statuses.contains(where: { $0.phase.name == .initiated }) { return "Initiating" }
        if statuses.contains(where: { $0.phase.name == .updating && $0.intention == .undeployment }) { return "Undeploying" }
        if statuses.contains(where: { $0.phase.name == .updating }) { return "Deploying" }
        return "Deployed"
    }
}
