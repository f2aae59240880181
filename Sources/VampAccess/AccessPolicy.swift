public import Foundation

/// Who may do what, decided from the request alone: a pure function of the method, the path, the credential sent
/// and the token it belongs to. The API's middleware asks it before any handler runs.
public enum AccessPolicy {
    /// Where a request goes: its namespace and the path after `api/v1`.
    public struct Target: Sendable, Hashable {
        /// The namespace in the path (`/<namespace>/api/v1/...`), or `nil` for `/api/v1/...` (the default one).
        public var namespace: String?
        /// The path after `api/v1`, split (`["tokens", "ci"]`); the whole path when it is not under `api/v1`.
        public var rest: [String]
        /// False for paths outside the API (`/metrics`).
        public var isAPI: Bool

        /// Parses a request path.
        public init(path: String) {
            let parts = path.split(separator: "/").map(String.init)
            if parts.count >= 2, parts[0] == "api", parts[1] == "v1" {
                (namespace, rest, isAPI) = (nil, Array(parts.dropFirst(2)), true)
            } else if parts.count >= 3, parts[1] == "api", parts[2] == "v1" {
                (namespace, rest, isAPI) = (parts[0], Array(parts.dropFirst(3)), true)
            } else if parts.count == 2, parts[1] == "websocket" {
                // A namespace's WebSocket API: a token limited to the namespace may open it.
                (namespace, rest, isAPI) = (parts[0], ["websocket"], false)
            } else {
                (namespace, rest, isAPI) = (nil, parts, false)
            }
        }
    }

    /// What the client sent in `Authorization`.
    public enum Credential: Sendable, Hashable {
        /// No `Authorization` header.
        case none
        /// A header of another scheme or shape.
        case malformed
        /// `Bearer <secret>` or the original Node client's `token <secret>`.
        case secret(String)

        /// Reads an `Authorization` header. (By hand on the UTF-8 bytes: Foundation's trimming was a tenth of the
        /// server's time per request in a profile.)
        public init(authorization: String?) {
            guard let header = authorization else {
                self = .none
                return
            }
            let text = Self.trimmed(Substring(header))
            guard !text.isEmpty else {
                self = .none
                return
            }
            guard let space = text.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
                self = .malformed
                return
            }
            let scheme = text[..<space], secret = Self.trimmed(text[space...])
            guard Self.isScheme(scheme, "bearer") || Self.isScheme(scheme, "token"), !secret.isEmpty else {
                self = .malformed
                return
            }
            self = .secret(String(secret))
        }

        static func trimmed(_ text: Substring) -> Substring {
            var text = text
            while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
            while let last = text.last, last == " " || last == "\t" { text.removeLast() }
            return text
        }

        /// ASCII case-insensitive comparison with a lowercase scheme name.
        static func isScheme(_ text: Substring, _ name: String) -> Bool {
            text.utf8.count == name.utf8.count && zip(text.utf8, name.utf8).allSatisfy { ($0 | 0x20) == $1 }
        }
    }

    /// The outcome.
    public enum Decision: Sendable, Hashable {
        /// Go on, as this token (`nil`: no authentication needed, an `OPTIONS` preflight).
        case allowed(AccessToken?)
        /// 401: no credential, or one nobody knows; the message says what to send.
        case unauthenticated(String)
        /// 403: a known token that may not do this; the message names the token and what is needed.
        case forbidden(String)
    }

    /// The role a request needs; `nil` for none (CORS preflights, which carry no credential).
    public static func needed(method: String, target: Target) -> Role? {
        let method = method.uppercased()
        if method == "OPTIONS" { return nil }
        if target.isAPI, target.rest.first == "tokens" { return .admin }
        return ["GET", "HEAD"].contains(method) ? .read : .write
    }

    /// Decides a request: `token` is what the registry found for the credential (`nil`: unknown or expired).
    public static func decide(
        method: String, target: Target, credential: Credential, token: AccessToken?, defaultNamespace: String
    ) -> Decision {
        guard let needed = needed(method: method, target: target) else { return .allowed(nil) }
        var request: String { "\(method.uppercased()) /\(target.isAPI ? "api/v1/" : "")\(target.rest.joined(separator: "/"))" }
        switch credential {
        case .none:
            return .unauthenticated("\(request) needs a token with the role \(needed.described): send Authorization: Bearer <token> (vamp-server printed an admin token at its first start and wrote it to .vamp/admin-token)")
        case .malformed:
            return .unauthenticated("the Authorization header must read Bearer <token> (or token <token>)")
        case .secret:
            guard let token else {
                return .unauthenticated("the token sent is not known to this server or has expired; ask an admin for a token (POST /api/v1/tokens)")
            }
            let namespace = target.namespace.flatMap { $0 == "default" ? nil : $0 } ?? defaultNamespace
            guard token.reaches(namespace: namespace) else {
                return .forbidden("the token '\(token.name)' may reach the namespaces \((token.namespaces ?? []).joined(separator: ", ")), not '\(namespace)'")
            }
            let isPulse = method.uppercased() == "POST" && target.isAPI && target.rest == ["pulse"]
            if token.role == .agent {
                guard isPulse else {
                    return .forbidden("the token '\(token.name)' has the role agent, which may only send a gateway agent's figures (POST /api/v1/pulse); \(request) needs the role \(needed.described)")
                }
                return .allowed(token)
            }
            guard token.role >= needed else {
                return .forbidden("the token '\(token.name)' has the role \(token.role.rawValue); \(request) needs the role \(needed.described)")
            }
            return .allowed(token)
        }
    }
}
