import Foundation

/// A gateway: a port where traffic enters and is split over routes by weight and condition
/// (reference §1.4).
public struct Gateway: Sendable, Hashable {
    /// Stickiness of a gateway.
    public enum Sticky: String, Sendable, Hashable, CaseIterable {
        /// A client stays on its route.
        case route
        /// A client stays on its instance.
        case instance
    }

    /// Name: 1–4 `/` segments (`shop/9050`, `shop/web/port`); inside a blueprint, the port name
    /// (internal) or the port (external).
    public var name: String
    /// The port and its type.
    public var port: GatewayPort
    /// Stickiness, `nil` for none.
    public var sticky: Sticky?
    /// Host names that route to this gateway.
    public var virtualHosts: [String]
    /// HTTPS: the certificate HAProxy terminates TLS with on the gateway's port; `nil` for plain HTTP or TCP.
    public var tls: GatewayTLS?
    /// Routes, in document order.
    public var routes: [Route]
    /// Free metadata.
    public var metadata: [String: JSONValue]
    /// Read-only: where the gateway is served, filled in by the server.
    public var service: GatewayService?
    /// Read-only: whether the gateway sync deployed it.
    public var deployed: Bool?

    /// Creates a gateway.
    public init(
        name: String, port: GatewayPort, sticky: Sticky? = nil, virtualHosts: [String] = [], routes: [Route] = [],
        metadata: [String: JSONValue] = [:], service: GatewayService? = nil, deployed: Bool? = nil, tls: GatewayTLS? = nil
    ) {
        self.tls = tls
        self.name = name
        self.port = port
        self.sticky = sticky
        self.virtualHosts = virtualHosts
        self.routes = routes
        self.metadata = metadata
        self.service = service
        self.deployed = deployed
    }

    /// True for a cluster gateway (`deployment/cluster/port`: 3 segments).
    public var isInternal: Bool { name.split(separator: "/").count == 3 }

    /// The stable lookup name.
    public var lookupName: String { Names.lookupName(kind: "gateway", name: name) }
}

/// A gateway port: number (0 = assign one) and type; written `"9050/http"`.
public struct GatewayPort: Sendable, Hashable, CustomStringConvertible {
    /// 0...65535; 0 means the server assigns a port.
    public var number: Int
    /// http or tcp.
    public var type: BreedPort.PortType

    /// Creates a port.
    public init(number: Int, type: BreedPort.PortType = .http) {
        self.number = number
        self.type = type
    }

    /// `"9050/http"`.
    public var description: String { "\(number)/\(type.rawValue)" }
}

/// Where a deployed gateway is reachable.
public struct GatewayService: Sendable, Hashable {
    /// Host.
    public var host: String
    /// BreedPort.
    public var port: Int

    /// Creates a service address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// A route of a gateway: a weight of the traffic, optionally only requests matching a condition.
public struct Route: Sendable, Hashable {
    /// The route's key: another gateway, `deployment/port`, `deployment/cluster/port`,
    /// `deployment/cluster/service/port`, a breed name (inside a cluster), or `[host:port]`.
    /// For a stored route artifact, its name.
    public var path: String
    /// Name when stored as a route artifact.
    public var name: String?
    /// Share of the weighted traffic; `nil` lets the server distribute the remainder.
    public var weight: Percentage?
    /// Condition a request must meet to be sent by `conditionStrength`.
    public var condition: ArtifactReference<Condition>?
    /// Share of the matching requests that go to this route (the rest follow the weights).
    public var conditionStrength: Percentage?
    /// Path rewrites.
    public var rewrites: [ArtifactReference<Rewrite>]
    /// HAProxy balance algorithm; `nil` = default (roundrobin for http, leastconn for tcp).
    public var balance: String?
    /// Read-only: resolved targets.
    public var targets: [RouteTarget]
    /// A stored route artifact this route refers to (`web/port: canary` or `{reference: canary}`);
    /// the server puts the referenced route in its place before deployment.
    public var reference: String?

    /// Creates a route.
    public init(
        path: String, name: String? = nil, weight: Percentage? = nil, condition: ArtifactReference<Condition>? = nil,
        conditionStrength: Percentage? = nil, rewrites: [ArtifactReference<Rewrite>] = [], balance: String? = nil,
        targets: [RouteTarget] = [], reference: String? = nil
    ) {
        self.reference = reference
        self.path = path
        self.name = name
        self.weight = weight
        self.condition = condition
        self.conditionStrength = conditionStrength
        self.rewrites = rewrites
        self.balance = balance
        self.targets = targets
    }

    /// True when the path is an external `[host:port]` target.
    public var isExternal: Bool { path.hasPrefix("[") && path.hasSuffix("]") }

    /// The stable lookup name.
    public var lookupName: String { Names.lookupName(kind: "route", name: path) }
}

/// A resolved target of a route: an instance or gateway (`host:port`) or an external URL.
public enum RouteTarget: Sendable, Hashable {
    /// A named host and port.
    case instance(name: String, host: String, port: Int)
    /// An external address (`host:port` from `[host:port]`).
    case url(String)
}

/// A named condition artifact: `{name, condition: "<expression>"}` (reference §1.5).
public struct Condition: Sendable, Hashable {
    /// Name when stored.
    public var name: String?
    /// The expression as written.
    public var definition: String

    /// Creates a condition.
    public init(name: String? = nil, definition: String) {
        self.name = name
        self.definition = definition
    }

    /// The parsed expression.
    public func expression() throws(ConditionSyntaxError) -> ConditionExpression {
        try ConditionParser.parse(definition)
    }

    /// True for an expression of nothing but whitespace: on a route it means no condition
    /// (Vamp 0.9.5 read `condition: ""` so; reference §1.5).
    package static func isEmptyDefinition(_ definition: String) -> Bool {
        definition.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
    }
}

/// A path rewrite: `path: "NEW if COND"` (reference §1.6).
public struct Rewrite: Sendable, Hashable {
    /// Name when stored.
    public var name: String?
    /// The new path.
    public var path: String
    /// The HAProxy condition under which the path is set.
    public var condition: String

    /// Creates a rewrite.
    public init(name: String? = nil, path: String, condition: String) {
        self.name = name
        self.path = path
        self.condition = condition
    }

    /// Parses `"NEW if COND"` (case-insensitive `if`).
    public static func parse(_ text: String) -> (path: String, condition: String)? {
        guard let range = text.range(of: " if ", options: .caseInsensitive) else { return nil }
        let path = text[..<range.lowerBound].trimmedSpaces
        let condition = text[range.upperBound...].trimmedSpaces
        guard !path.isEmpty, !condition.isEmpty else { return nil }
        return (String(path), String(condition))
    }

    /// `"NEW if COND"`.
    public var definition: String { "\(path) if \(condition)" }
}
