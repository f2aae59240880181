/// Why a key-value store operation failed: what happened, against which server and key, and
/// what to check.
public struct KeyValueStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure, stable across versions for callers that branch on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The key is not an absolute `/`-separated path without empty, `.` or `..` parts.
        public static let invalidKey = Code(name: "invalidKey")
        /// The server could not be reached or dropped the connection.
        public static let unavailable = Code(name: "unavailable")
        /// The server answered with an error status or error code.
        public static let serverError = Code(name: "serverError")
        /// The server's answer could not be understood.
        public static let protocolError = Code(name: "protocolError")
        /// The operation is not possible in the current state (for example deleting a ZooKeeper
        /// node that still has children).
        public static let conflict = Code(name: "conflict")
        /// A local file operation failed (file store).
        public static let io = Code(name: "io")
        /// A store configuration value is missing or malformed (type, address, path, timeout).
        public static let invalidConfiguration = Code(name: "invalidConfiguration")
        /// The value is larger than the store accepts (etcd's request limit, ZooKeeper's frame, Consul's
        /// 512 KiB); the message names both sizes.
        public static let valueTooLarge = Code(name: "valueTooLarge")
        /// The session was lost and is being rebuilt (ZooKeeper); retry.
        public static let sessionExpired = Code(name: "sessionExpired")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable message saying what failed and how to fix it.
    public var message: String
    /// The server address (or root folder) the store talks to.
    public var server: String
    /// The key involved, when there is one.
    public var key: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, server: String, key: String? = nil) {
        self.code = code
        self.message = message
        self.server = server
        self.key = key
    }

    public var description: String {
        var text = "\(code) at \(server)"
        if let key { text += " for key \(key)" }
        return text + ": " + message
    }
}
