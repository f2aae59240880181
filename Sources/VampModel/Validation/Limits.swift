extension Validation {
    /// The sizes Vamp accepts, so that every accepted gateway can be rendered into HAProxy's configuration and checked
    /// (`haproxy -c`) quickly: all gateways share one configuration file, and one gateway too large to render or to
    /// check used to hold back every other gateway's update (a gateway of 10,000 routes did). A write past a limit is
    /// refused with a 400 that names the artifact, the field and the limit. `Documentation/dsl.md` lists them.
    public enum Limits {
        /// Routes of one gateway. Weights are whole percentages, so a gateway of more routes could not give each
        /// of them a share; each route is a frontend, a backend and a unix socket in HAProxy.
        public static let routesPerGateway = 100
        /// Virtual hosts one gateway lists (its own; the default ones Vamp adds are not counted).
        public static let virtualHostsPerGateway = 64
        /// Rewrites of one route.
        public static let rewritesPerRoute = 16
        /// Characters of one condition. Its values and raw ACLs are at most 1,024 bytes each; the condition may
        /// expand to at most 64 alternatives (the HAProxy generator refuses more).
        public static let conditionLength = 4096
        /// Instances of one service (a scale's `instances`, an escalation's `maximum`): each instance is a server
        /// line of its route's backend.
        public static let instancesPerService = 1000
        /// Routes of all gateways together: they share one HAProxy configuration, which `haproxy -c` checks in about
        /// a second at 10,000 routes (measured with HAProxy 2.6; the time grows with the routes). The server's
        /// default; `Vamp.Configuration.maximumRoutes` sets it.
        public static let routesInTotal = 10_000
        /// Instances of all deployed services together (each is a server line in HAProxy's configuration). The
        /// server's default; `Vamp.Configuration.maximumInstances` sets it.
        public static let instancesInTotal = 10_000
        /// Steps of one release: its weights are whole percentages that only go up.
        public static let stepsPerRelease = 100
        /// Webhooks of one release (each is called, one after the other, at its moment).
        public static let webhooksPerRelease = 16
    }

    /// The errors of a gateway past ``Validation/Limits``: its routes and its virtual hosts. The validation of a gateway
    /// reports them; the server checks them again on the gateways a deployment makes, whose routes grow with
    /// every merge.
    public static func sizeErrors(of gateway: Gateway) -> [VampError] {
        var c = ErrorCollector(kind: "gateway", name: gateway.name)
        checkSizes(of: gateway, path: "", into: &c)
        return c.errors
    }

    static func checkSizes(of gateway: Gateway, path: String, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        if gateway.virtualHosts.count > Limits.virtualHostsPerGateway {
            c.add(.limit, p + "virtual_hosts", "the gateway lists \(gateway.virtualHosts.count) virtual hosts; at most \(Limits.virtualHostsPerGateway) are allowed")
        }
        if gateway.routes.count > Limits.routesPerGateway {
            c.add(.limit, p + "routes", "the gateway has \(gateway.routes.count) routes; at most \(Limits.routesPerGateway) are allowed (weights are whole percentages, and every route is a frontend and a backend in HAProxy)")
        }
    }
}
