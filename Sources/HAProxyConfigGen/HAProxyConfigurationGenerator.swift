public import VampModel

/// Renders gateways into HAProxy 2.6+ configuration text (reference §2.8, gateway-haproxy-kv A6).
///
/// Layout per gateway `G` (ids are stable lookup names, so logs stay attributable across
/// reloads): a public `frontend G` on the gateway port sends requests whose condition matches
/// to `backend im_R` (condition strength: `R` or back to the weighted split) and everything
/// else to `backend o_G`, the weighted split over one pseudo-server per route. Each route `R`
/// has a `frontend R` on a unix socket (PROXY protocol) and a `backend R` with its targets,
/// rewrites and balance. Virtual hosts share one `frontend virtual_hosts`.
///
/// Output is deterministic: the same gateways give the same bytes.
public struct HAProxyConfigurationGenerator: Sendable {
    /// Where and how the generated frontends listen.
    public struct Options: Sendable, Hashable {
        /// Address the frontends of external gateways bind: those created through the API or a blueprint's
        /// `gateways:` (`0.0.0.0` for every IPv4 address, `::` for every address). An IP literal.
        public var bindAddress: String
        /// Address the frontends of internal gateways bind (a cluster port's gateway, `deployment/cluster/port`),
        /// and the virtual-hosts frontend: loopback by default, so that only this machine reaches them. Services
        /// reach internal gateways on the gateway host, which must be this address (or reach it). An IP literal.
        public var internalBindAddress: String
        /// Folder of the unix sockets between frontends and backends: an absolute path, or a path relative to the
        /// folder HAProxy runs in (the gateway agent's work directory), as ``defaultSocketDirectory`` is.
        public var socketDirectory: String
        /// The folder both the generator and the gateway agent use by default: `run`, relative, so the text in the
        /// KV store names no machine's path and every agent that reads it keeps the sockets in its own work
        /// directory (`<work directory>/run`), never in a folder shared by every Vamp on the host.
        public static let defaultSocketDirectory = "run"
        /// Port of the shared virtual-hosts frontend.
        public var virtualHostsPort: Int
        /// The certificate file of each stored secret a gateway may name (`tls: {secret: shop}`), by the secret's
        /// name: ``GatewayCertificates/file(secret:pem:)``, relative to the folder HAProxy runs in, where the agent
        /// writes it. A gateway naming a secret not here is refused.
        public var secretFiles: [String: String] = [:]

        /// Creates options.
        public init(
            bindAddress: String = "0.0.0.0", internalBindAddress: String = "127.0.0.1",
            socketDirectory: String = Options.defaultSocketDirectory, virtualHostsPort: Int = 80
        ) {
            self.bindAddress = bindAddress
            self.internalBindAddress = internalBindAddress
            self.socketDirectory = socketDirectory
            self.virtualHostsPort = virtualHostsPort
        }
    }

    /// The options.
    public var options: Options

    /// Creates a generator.
    public init(options: Options = Options()) { self.options = options }

    /// The configuration for `gateways`: frontends and backends, without the base sections
    /// (see ``HAProxyBaseConfiguration``). Route targets must be resolved and conditions and
    /// rewrites inline; unweighted routes share what the weighted ones leave.
    public func render(_ gateways: [Gateway]) throws(HAProxyConfigError) -> String {
        try checkOptions()
        let keyed: [(segments: Int, gateway: Gateway)] = gateways.map { gateway in
            var segments = 1
            for byte in gateway.name.utf8 where byte == UInt8(ascii: "/") { segments += 1 }
            return (segments, gateway)
        }
        let ordered: [Gateway] = keyed
            .sorted { $0.segments != $1.segments ? $0.segments < $1.segments : $0.gateway.name < $1.gateway.name }
            .map(\.gateway)
        var ports: [Int: String] = [:]
        var virtualHosts: [String: Gateway] = [:]
        var out = ""
        out.reserveCapacity(ordered.count * 4500)
        for gateway in ordered {
            guard (1...65535).contains(gateway.port.number) else {
                throw HAProxyConfigError(code: .invalidGateway, message: "port \(gateway.port.number) is not assigned; give the gateway a port 1-65535", gateway: gateway.name)
            }
            if let other = ports[gateway.port.number] {
                throw HAProxyConfigError(code: .invalidGateway, message: "port \(gateway.port.number) is also used by gateway '\(other)'", gateway: gateway.name)
            }
            if !gateway.virtualHosts.isEmpty, gateway.port.number == options.virtualHostsPort {
                throw HAProxyConfigError(code: .invalidGateway, message: "port \(gateway.port.number) is the virtual hosts port", gateway: gateway.name)
            }
            ports[gateway.port.number] = gateway.name
            for host in gateway.virtualHosts {
                guard HAProxyText.isHost(host) else {
                    throw HAProxyConfigError(code: .unsafeValue, message: "the virtual host '\(HAProxyText.comment(host))' is not a host name", gateway: gateway.name)
                }
                guard gateway.port.type == .http else {
                    throw HAProxyConfigError(code: .invalidGateway, message: "virtual hosts need an http gateway", gateway: gateway.name)
                }
                if let other = virtualHosts[host.lowercased()] {
                    throw HAProxyConfigError(code: .invalidGateway, message: "the virtual host '\(host)' also routes to gateway '\(other.name)'", gateway: gateway.name)
                }
                virtualHosts[host.lowercased()] = gateway
            }
            try render(gateway, into: &out)
        }
        if !virtualHosts.isEmpty { out += renderVirtualHosts(ordered.filter { !$0.virtualHosts.isEmpty }) }
        return out
    }

    // MARK: One gateway

    struct RenderedRoute {
        var route: Route
        var id: String
        var weight: Int
        var condition: ACLCondition?
        var strength: Int
    }

    func render(_ gateway: Gateway, into out: inout String) throws(HAProxyConfigError) {
        let g = gateway.lookupName
        let mode = gateway.port.type.rawValue
        let http = gateway.port.type == .http
        let weights: [Int]
        do {
            weights = try Self.resolveWeights(gateway.routes.map(\.weight?.value))
        } catch {
            throw HAProxyConfigError(code: .invalidGateway, message: error.message, gateway: gateway.name)
        }
        var routes: [RenderedRoute] = []
        var seen = Set<String>()
        for (index, route) in gateway.routes.enumerated() {
            guard seen.insert(route.path).inserted else {
                throw HAProxyConfigError(code: .invalidGateway, message: "the route is defined twice", gateway: gateway.name, route: route.path)
            }
            var condition: ACLCondition?
            if let reference = route.condition {
                guard http else { throw HAProxyConfigError(code: .invalidGateway, message: "conditions need an http gateway", gateway: gateway.name, route: route.path) }
                guard case .inline(let inline) = reference else {
                    throw HAProxyConfigError(code: .unresolvedReference, message: "the condition reference '\(reference.referenceName ?? "")' must be resolved before rendering", gateway: gateway.name, route: route.path)
                }
                do {
                    condition = try ConditionTranslator.translate(try inline.expression())
                    // `use_backend im_<route> if <expression>`: HAProxy reads at most 64 words on a line.
                    if let words = condition?.words, words + 3 > HAProxyText.maximumWords {
                        throw HAProxyConfigError(
                            code: .condition,
                            message: "the condition expands to \(words) ACL references and 'or's, more than HAProxy takes on one line (\(HAProxyText.maximumWords - 3)); simplify it")
                    }
                } catch let error as HAProxyConfigError {
                    throw HAProxyConfigError(code: error.code, message: error.message, gateway: gateway.name, route: route.path)
                } catch {
                    throw HAProxyConfigError(code: .condition, message: "the condition does not parse: \(error)", gateway: gateway.name, route: route.path)
                }
            }
            let strength = route.conditionStrength?.value ?? (condition == nil ? 0 : 100)
            routes.append(RenderedRoute(
                route: route, id: Self.routeID(gateway: gateway.name, route: route.path),
                weight: weights[index], condition: condition, strength: strength))
        }
        if gateway.sticky != nil && !http {
            throw HAProxyConfigError(code: .invalidGateway, message: "sticky sessions need an http gateway", gateway: gateway.name)
        }

        // The gateway agent cuts the text at this line (and at `# virtual hosts`) to leave out one gateway HAProxy
        // cannot serve; keep it the first line of each gateway's part (GatewaySectionsTests checks it).
        out += "\n# gateway \(HAProxyText.comment(gateway.name)) (\(gateway.port))\n"
        // Public frontend.
        out += "frontend \(g)\n"
        out += "  bind \(BindAddress.endpoint(options.bindAddress(of: gateway), port: gateway.port.number))\(try tlsBindOptions(of: gateway))\n"
        out += "  mode \(mode)\n"
        out += logLines(http: http)
        var declared = Set<ACL>()
        for route in routes {
            guard let condition = route.condition else { continue }
            for acl in condition.acls where declared.insert(acl).inserted {
                out += "  acl \(acl.id) \(acl.definition)\n"
            }
        }
        for route in routes {
            guard let condition = route.condition else { continue }
            if condition.always {
                out += "  use_backend im_\(route.id)\n"
            } else if !condition.terms.isEmpty {
                out += "  use_backend im_\(route.id) if \(condition.expression)\n"
            }
        }
        out += "  default_backend o_\(g)\n"

        // The weighted split, reachable again from the condition-strength backends.
        out += "\nfrontend o_\(g)\n"
        out += "  bind \(socket("o_\(g)")) accept-proxy\n"
        out += "  mode \(mode)\n"
        out += logLines(http: http)
        out += "  default_backend o_\(g)\n"

        out += "\nbackend o_\(g)\n"
        out += "  mode \(mode)\n"
        out += "  balance \(http ? "roundrobin" : "leastconn")\n"
        if gateway.sticky != nil { out += "  cookie o_\(g) insert indirect nocache\n" }
        for route in routes {
            out += "  server \(route.id) \(socket(route.id)) send-proxy weight \(route.weight)\(gateway.sticky != nil ? " cookie \(route.id)" : "")\n"
        }

        for route in routes {
            if route.condition != nil {
                out += "\nbackend im_\(route.id)\n"
                out += "  mode \(mode)\n"
                out += "  balance roundrobin\n"
                if gateway.sticky != nil {
                    // Sticky: the weighted part is spelled out route by route, each server with the route's
                    // cookie, so a client the split sent to a route stays there. (Through the `o_` hop it got no
                    // cookie from this backend, was balanced again on every request and drifted to the canary.)
                    out += "  cookie o_\(g) insert indirect nocache\n"
                    for (id, weight) in Self.stickyConditionWeights(conditional: route, all: routes) {
                        out += "  server \(id) \(socket(id)) send-proxy weight \(weight) cookie \(id)\n"
                    }
                } else {
                    out += "  server \(route.id) \(socket(route.id)) send-proxy weight \(route.strength)\n"
                    out += "  server o_\(g) \(socket("o_\(g)")) send-proxy weight \(100 - route.strength)\n"
                }
            }
            out += "\n# route \(HAProxyText.comment(gateway.name))//\(HAProxyText.comment(route.route.path))\n"
            out += "frontend \(route.id)\n"
            out += "  bind \(socket(route.id)) accept-proxy\n"
            out += "  mode \(mode)\n"
            out += logLines(http: http)
            out += "  default_backend \(route.id)\n"
            try renderRouteBackend(route, gateway: gateway, into: &out)
        }
    }

    /// The servers of a sticky condition backend: the conditional route with its strength, and the rest of the
    /// traffic over the routes by their weights, as HAProxy weights 0–256 (a 0.4% rounding at most).
    static func stickyConditionWeights(conditional: RenderedRoute, all routes: [RenderedRoute]) -> [(String, Int)] {
        let strength = Double(conditional.strength) / 100
        let total = Double(routes.reduce(0) { $0 + $1.weight })
        var shares: [(String, Double)] = [(conditional.id, strength)]
        for route in routes where route.weight > 0 && total > 0 {
            let share = (1 - strength) * Double(route.weight) / total
            if route.id == conditional.id { shares[0].1 += share } else { shares.append((route.id, share)) }
        }
        return shares.map { ($0.0, Int(($0.1 * 256).rounded())) }
    }

    func renderRouteBackend(_ rendered: RenderedRoute, gateway: Gateway, into out: inout String) throws(HAProxyConfigError) {
        let route = rendered.route
        let http = gateway.port.type == .http
        out += "\nbackend \(rendered.id)\n"
        out += "  mode \(gateway.port.type.rawValue)\n"
        let balance = route.balance.flatMap { $0 == "default" ? nil : $0 } ?? (http ? "roundrobin" : "leastconn")
        guard Validation.balanceAlgorithms.contains(balance) else {
            throw HAProxyConfigError(code: .unsafeValue, message: "unknown balance '\(HAProxyText.comment(balance))'", gateway: gateway.name, route: route.path)
        }
        out += "  balance \(balance)\n"
        if http { out += "  option forwardfor\n" }
        if gateway.sticky == .instance { out += "  cookie \(rendered.id) insert indirect nocache\n" }
        for rewrite in route.rewrites {
            guard http else { throw HAProxyConfigError(code: .invalidGateway, message: "rewrites need an http gateway", gateway: gateway.name, route: route.path) }
            guard case .inline(let value) = rewrite else {
                throw HAProxyConfigError(code: .unresolvedReference, message: "the rewrite reference '\(rewrite.referenceName ?? "")' must be resolved before rendering", gateway: gateway.name, route: route.path)
            }
            guard HAProxyText.isSingleLine(value.path), !value.path.unicodeScalars.contains(" "), !value.path.isEmpty else {
                throw HAProxyConfigError(code: .unsafeValue, message: "the rewrite '\(HAProxyText.comment(value.definition))' must have a path of one line without spaces", gateway: gateway.name, route: route.path)
            }
            let condition: String
            do {
                try ACLText.validateRewritePath(value.path)
                condition = try ACLText.validateRewriteCondition(value.condition)
            } catch {
                throw HAProxyConfigError(code: error.code, message: error.message, gateway: gateway.name, route: route.path)
            }
            out += "  http-request set-path \(HAProxyText.quoted(value.path)) if \(condition)\n"
        }
        var servers = Set<String>()
        for target in route.targets {
            let name: String
            let address: String
            switch target {
            case .instance(let targetName, let host, let port):
                guard HAProxyText.isHost(host), (1...65535).contains(port) else {
                    throw HAProxyConfigError(code: .unsafeValue, message: "the target '\(HAProxyText.comment(targetName))' has an invalid address \(HAProxyText.comment(host)):\(port)", gateway: gateway.name, route: route.path)
                }
                name = Self.serverName(of: target)
                address = "\(host):\(port)"
            case .url(let url):
                let parts = url.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, HAProxyText.isHost(String(parts[0])), let port = BreedPort.parseNumber(parts[1]), (1...65535).contains(port) else {
                    throw HAProxyConfigError(code: .unsafeValue, message: "the external target '\(HAProxyText.comment(url))' must be host:port", gateway: gateway.name, route: route.path)
                }
                name = Self.serverName(of: target)
                address = url
            }
            guard servers.insert(name).inserted else { continue }
            let cookie = http ? " cookie \(String(name.prefix(16)))" : ""
            out += "  server \(name) \(address)\(cookie) weight 100 check\n"
        }
    }

    // MARK: Pieces

    func socket(_ id: String) -> String { "unix@\(options.socketDirectory)/\(id).sock" }

    /// HTTP frontends inherit Vamp's JSON log format from the `defaults` section of ``HAProxyBaseConfiguration``
    /// (it is the same for every frontend, and writing it once keeps each gateway's text small); TCP frontends
    /// override it with the TCP format.
    func logLines(http: Bool) -> String {
        http ? "" : "  option tcplog\n  log-format \(LogFormat.tcp)\n"
    }

    func checkOptions() throws(HAProxyConfigError) {
        for (name, address) in [("bind address", options.bindAddress), ("internal bind address", options.internalBindAddress)]
        where !BindAddress.isIPLiteral(address) {
            throw HAProxyConfigError(code: .unsafeValue, message: "the \(name) '\(HAProxyText.comment(address))' is not an IPv4 or IPv6 address (0.0.0.0 or :: for every address)")
        }
        guard Self.isSafePath(options.socketDirectory) else {
            throw HAProxyConfigError(code: .unsafeValue, message: "the socket directory '\(HAProxyText.comment(options.socketDirectory))' must be a path of letters, digits, '/', '.', '_' and '-' (absolute, or relative to the gateway agent's work directory), at most 48 characters")
        }
        guard (1...65535).contains(options.virtualHostsPort) else {
            throw HAProxyConfigError(code: .invalidGateway, message: "the virtual hosts port \(options.virtualHostsPort) is outside 1-65535")
        }
    }

    /// Paths of `[A-Za-z0-9/._-]`, absolute or relative (not starting with `-`, which HAProxy would not take for a
    /// path), short enough for a unix socket with a 48-character id.
    static func isSafePath(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("-") && path.utf8.count <= 48
            && path.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || "/._-".utf8.contains($0) }
    }

    struct WeightError: Error { var message: String }

    /// Vamp's weight rule: explicit weights stay; routes without one share the remainder
    /// equally (the last takes the rounding rest). Weights must end up totalling 100 (or 0).
    static func resolveWeights(_ weights: [Int?]) throws(WeightError) -> [Int] {
        let explicit = weights.compactMap { $0 }.reduce(0, +)
        let missing = weights.filter { $0 == nil }.count
        if explicit > 100 { throw WeightError(message: "route weights total \(explicit)%; they may not exceed 100%") }
        if missing == 0 {
            if explicit != 100 && explicit != 0 {
                throw WeightError(message: "route weights total \(explicit)%; they must total 100% (or 0%)")
            }
            return weights.map { $0! }
        }
        let share = (100 - explicit) / missing
        var remaining = 100 - explicit
        var seen = 0
        return weights.map { weight in
            if let weight { return weight }
            seen += 1
            if seen == missing { return remaining }
            remaining -= share
            return share
        }
    }
}
