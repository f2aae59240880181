import HAProxyConfigGen
public import VampModel

/// Turns the gateways a user and the deployments declared into gateways HAProxy can serve: ports assigned,
/// route targets resolved, `deployed` set and default virtual hosts added (Vamp 0.9.5's gateway sync, §4.4).
///
/// A pure function of values: the synchroniser calls it with what the repository holds and the instances the
/// container driver reported, and writes the result.
public enum GatewayResolution {
    /// Options of the resolution.
    public struct Options: Sendable, Hashable {
        /// Add `<gateway>.vamp`, `<port>.<deployment>.vamp` and `<port>.<cluster>.<deployment>.vamp` to http
        /// gateways (Vamp's `vamp.operation.gateway.virtual-hosts`, on by default).
        public var defaultVirtualHosts: Bool
        /// The host a gateway-to-gateway hop goes to: where the agents' HAProxy listens for the other gateway.
        public var gatewayHost: String

        /// Creates options.
        public init(defaultVirtualHosts: Bool = true, gatewayHost: String = "127.0.0.1") {
            self.defaultVirtualHosts = defaultVirtualHosts
            self.gatewayHost = gatewayHost
        }
    }

    /// The gateways with ports, targets, `deployed` and virtual hosts filled in, ordered as HAProxy gets them
    /// (by number of name segments, then by name).
    ///
    /// - Parameters:
    ///   - gateways: every gateway: stored ones (`name`, `deployment/port`) and the clusters' internal ones
    ///     (`deployment/cluster/port`). Port 0 means "allocate one".
    ///   - deployments: where four-segment routes (`deployment/cluster/service/port`) find their instances.
    ///   - allocator: hands out ports for gateways with port 0; its cursor moves on.
    ///   - options: default virtual hosts on or off, and the host of gateway-to-gateway hops.
    /// - Throws: ``GatewayPlanningError`` when two gateways ask for the same port or the range is exhausted.
    public static func resolve(
        _ gateways: [Gateway], deployments: [Deployment], allocator: inout GatewayPortAllocator, options: Options = Options()
    ) throws(GatewayPlanningError) -> [Gateway] {
        var ordered = gateways.sorted { lhs, rhs in
            let (l, r) = (segments(lhs.name), segments(rhs.name))
            return l != r ? l < r : lhs.name < rhs.name
        }

        var owners: [Int: String] = [:]
        for gateway in ordered where gateway.port.number != 0 {
            if let other = owners[gateway.port.number] {
                throw GatewayPlanningError(
                    code: .portConflict, gateway: gateway.name,
                    message: "port \(gateway.port.number) is already used by gateway '\(other)'; choose another port")
            }
            owners[gateway.port.number] = gateway.name
        }
        var used = Set(owners.keys)
        for index in ordered.indices where ordered[index].port.number == 0 {
            let port = try allocator.allocate(avoiding: used)
            used.insert(port)
            ordered[index].port.number = port
        }

        let portsByName = Dictionary(ordered.map { ($0.name, $0.port.number) }, uniquingKeysWith: { first, _ in first })
        let services = instanceIndex(deployments)
        for index in ordered.indices {
            var gateway = ordered[index]
            for routeIndex in gateway.routes.indices {
                gateway.routes[routeIndex].targets = targets(
                    of: gateway.routes[routeIndex], gatewayPorts: portsByName, services: services, options: options)
            }
            // An internal gateway is served once some route has targets and every route that gets traffic (a weight,
            // or a condition with strength) has them: a canary merged at 0% does not take the gateway down while its
            // instances start.
            gateway.deployed = !gateway.isInternal || (
                gateway.routes.contains { !$0.targets.isEmpty }
                    && gateway.routes.allSatisfy { !$0.targets.isEmpty || !receivesTraffic($0) })
            if options.defaultVirtualHosts, gateway.port.type == .http {
                for host in defaultVirtualHosts(for: gateway) where !gateway.virtualHosts.contains(host) {
                    gateway.virtualHosts.append(host)
                }
            }
            ordered[index] = gateway
        }
        return ordered
    }

    /// Vamp's default virtual hosts of a gateway: `<name>.vamp` for a one-segment name, `<port>.<deployment>.vamp`
    /// for `deployment/port`, `<port>.<cluster>.<deployment>.vamp` for `deployment/cluster/port`. Characters other
    /// than letters and digits in a segment become `-` (`Names.virtualHostLabel(_:)`); the validation refuses the
    /// names whose label would not be one (`Names.labelProblem(_:)`).
    public static func defaultVirtualHosts(for gateway: Gateway) -> [String] {
        let parts = gateway.name.split(separator: "/", omittingEmptySubsequences: false).map { Names.virtualHostLabel($0) }
        switch parts.count {
        case 1: return ["\(parts[0]).vamp"]
        case 2: return ["\(parts[1]).\(parts[0]).vamp"]
        case 3: return ["\(parts[2]).\(parts[1]).\(parts[0]).vamp"]
        default: return []
        }
    }

    // MARK: Targets

    struct ServiceKey: Hashable {
        var deployment: String
        var cluster: String
        var service: String
    }

    static func instanceIndex(_ deployments: [Deployment]) -> [ServiceKey: [Instance]] {
        var index: [ServiceKey: [Instance]] = [:]
        for deployment in deployments {
            for cluster in deployment.clusters {
                for service in cluster.services {
                    index[ServiceKey(deployment: deployment.name, cluster: cluster.name, service: service.breed.name), default: []]
                        .append(contentsOf: service.instances)
                }
            }
        }
        return index
    }

    static func targets(
        of route: Route, gatewayPorts: [String: Int], services: [ServiceKey: [Instance]], options: Options
    ) -> [RouteTarget] {
        if route.isExternal { return [.url(String(route.path.dropFirst().dropLast()))] }
        let parts = route.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 4 {
            let key = ServiceKey(deployment: parts[0], cluster: parts[1], service: parts[2])
            return (services[key] ?? []).compactMap { instance in
                guard instance.deployed, let port = instance.ports[parts[3]] else { return nil }
                return .instance(name: instance.name, host: instance.host, port: port)
            }
        }
        guard let port = gatewayPorts[route.path] else { return [] }
        return [.instance(name: route.path, host: options.gatewayHost, port: port)]
    }

    /// True when the route gets requests: a weight above 0%, or a condition with a strength above 0%.
    static func receivesTraffic(_ route: Route) -> Bool {
        (route.weight?.value ?? 0) > 0 || (route.condition != nil && (route.conditionStrength?.value ?? 100) > 0)
    }

    static func segments(_ name: String) -> Int { name.utf8.reduce(1) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 } }
}
