public import HAProxyConfigGen
public import VampModel
public import VampPulse

/// How HAProxy's names in the log lines (`ft`, `b`, `s`) map to Vamp's: gateway `G`'s requests are counted in
/// frontend `G.lookupName`, its route `R`'s in the route's own frontend (the second hop), and an instance's under
/// that frontend by its server name. Built from the gateways as they are rendered, so a gateway, route or instance
/// added later is known from the next rendering on; lines of names nobody knows are kept and counted as unknown.
public struct PulseNames: Sendable, Hashable {
    /// A route of a gateway.
    public struct RouteName: Sendable, Hashable {
        /// The gateway's name.
        public var gateway: String
        /// The route's path (`deployment/cluster/service/port` for a cluster gateway's service).
        public var route: String
    }

    /// Frontend → gateway.
    public private(set) var gateways: [String: String] = [:]
    /// Frontend → route.
    public private(set) var routes: [String: RouteName] = [:]
    /// Route frontend → server → instance name.
    public private(set) var instances: [String: [String: String]] = [:]
    private var gatewayFrontends: [String: String] = [:]
    private var routeFrontends: [RouteName: String] = [:]

    /// No names.
    public init() {}

    /// The names of `gateways` (resolved: routes with their targets), as the generator writes them.
    public init(_ gateways: [Gateway]) {
        for gateway in gateways {
            let frontend = gateway.lookupName
            self.gateways[frontend] = gateway.name
            gatewayFrontends[gateway.name] = frontend
            for route in gateway.routes {
                let name = RouteName(gateway: gateway.name, route: route.path)
                let id = HAProxyConfigurationGenerator.routeID(gateway: gateway.name, route: route.path)
                routes[id] = name
                routeFrontends[name] = id
                var servers: [String: String] = [:]
                for target in route.targets {
                    let server = HAProxyConfigurationGenerator.serverName(of: target)
                    if case .instance(let instance, _, _) = target { servers[server] = instance } else { servers[server] = server }
                }
                instances[id] = servers
            }
        }
    }

    /// The frontend that counts `gateway`'s requests, or `nil` for a gateway that is not served.
    public func frontend(gateway: String) -> String? { gatewayFrontends[gateway] }

    /// The frontend that counts the requests of `route` of `gateway`, or `nil`.
    public func frontend(gateway: String, route: String) -> String? { routeFrontends[RouteName(gateway: gateway, route: route)] }

    /// The gateways' names.
    public var gatewayNames: [String] { gatewayFrontends.keys.sorted() }

    /// The routes of `gateway`, in name order.
    public func routes(of gateway: String) -> [String] {
        routeFrontends.keys.filter { $0.gateway == gateway }.map(\.route).sorted()
    }

    /// True when `key` was counted by a frontend these names know.
    public func knows(_ key: PulseKey) -> Bool { gateways[key.frontend] != nil || routes[key.frontend] != nil }
}
