/// Why a gateway cannot be rendered: which gateway, which route, what to fix.
public struct HAProxyConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A value that would reach the configuration is not allowed there.
        public static let unsafeValue = Code("unsafe-value")
        /// A reference (condition, rewrite) was not resolved before rendering.
        public static let unresolvedReference = Code("unresolved-reference")
        /// The gateway breaks a rule (port in use, weights, tcp with http features).
        public static let invalidGateway = Code("invalid-gateway")
        /// A condition is too complex to express as HAProxy ACLs.
        public static let condition = Code("condition")
    }

    /// What kind of error.
    public var code: Code
    /// What is wrong and what to do.
    public var message: String
    /// The gateway's name.
    public var gateway: String?
    /// The route's path.
    public var route: String?

    public var description: String {
        var place = ""
        if let gateway { place += "gateway '\(gateway)'" }
        if let route { place += (place.isEmpty ? "" : ", ") + "route '\(route)'" }
        return place.isEmpty ? message : "\(place): \(message)"
    }
}
