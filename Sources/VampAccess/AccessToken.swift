public import Foundation

/// A token as the server keeps it: who it is (its name), what it may do, and the salted hash of its secret. The secret
/// itself is never stored: it is shown once, when the token is created.
public struct AccessToken: Sendable, Hashable, Codable {
    /// A name of letters, digits, `.`, `-` and `_` (1 to 64), unique on the server: what archive events and logs
    /// name, never the secret.
    public var name: String
    /// What the token may do.
    public var role: Role
    /// The namespaces the token may reach; `nil`: every namespace.
    public var namespaces: [String]?
    /// When it stops working; `nil`: never.
    public var expires: Date?
    /// When it was created.
    public var created: Date
    /// Who created it (a token's name, `configuration` or `first start`).
    public var createdBy: String
    /// The lookup part of the secret (`vamp_<id>_...`); `nil` for a configured secret of another shape.
    public var id: String?
    /// The HMAC-SHA256 key the secret is hashed with, hex.
    public var salt: String
    /// HMAC-SHA256(salt, secret), hex.
    public var hash: String

    /// Creates a token record.
    public init(
        name: String, role: Role, namespaces: [String]? = nil, expires: Date? = nil, created: Date, createdBy: String,
        id: String?, salt: String, hash: String
    ) {
        self.name = name
        self.role = role
        self.namespaces = namespaces
        self.expires = expires
        self.created = created
        self.createdBy = createdBy
        self.id = id
        self.salt = salt
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case name, role, namespaces, expires, created, id, salt, hash
        case createdBy = "created_by"
    }

    /// True for a name the server accepts.
    public static func isName(_ name: String) -> Bool {
        (1...64).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// True when the token may reach `namespace`.
    public func reaches(namespace: String) -> Bool {
        namespaces.map { $0.contains(namespace) } ?? true
    }

    /// True once `expires` has passed.
    public func hasExpired(at now: Date) -> Bool {
        expires.map { $0 <= now } ?? false
    }

    /// What `GET /tokens` shows: everything but the salt and the hash.
    public var summary: [String: String] {
        var fields = ["name": name, "role": role.rawValue, "created": Self.timeFormat.string(from: created), "created_by": createdBy]
        if let expires { fields["expires"] = Self.timeFormat.string(from: expires) }
        if let namespaces { fields["namespaces"] = namespaces.joined(separator: ",") }
        return fields
    }

    nonisolated(unsafe) static let timeFormat: ISO8601DateFormatter = ISO8601DateFormatter()
}
