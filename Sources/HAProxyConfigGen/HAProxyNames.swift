public import VampModel

extension HAProxyConfigurationGenerator {
    /// The id of a route's frontend and backend (its unix socket, its log lines' `ft`): stable across reloads.
    public static func routeID(gateway: String, route: String) -> String {
        Names.lookupName(kind: "route", name: "\(gateway)//\(route)")
    }

    /// The name of a target's `server` line in its route's backend (its log lines' `s`).
    public static func serverName(of target: RouteTarget) -> String {
        switch target {
        case .instance(let name, let host, let port): Names.lookupName(kind: "target", name: "\(name)@\(host):\(port)")
        case .url(let url): Names.lookupName(kind: "target", name: url)
        }
    }
}
