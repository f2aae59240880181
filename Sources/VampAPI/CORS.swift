import Foundation
import HTTPTypes
import Hummingbird

/// Which browser pages may call the API: those of the server's own origin (no CORS needed, none sent) and those of
/// the origins in `vamp.http-api.cors.allowed-origins`. A configured `*` allows any origin, and even then no
/// `Access-Control-Allow-Credentials` is sent: the API takes `Authorization: Bearer`, which needs no credentials mode.
struct OriginPolicy: Sendable {
    let origins: Set<String>
    let anyOrigin: Bool

    /// A policy allowing `allowedOrigins` (`https://ui.example.com`, `http://localhost:3000`, or `*`).
    init(allowedOrigins: [String]) {
        let entries = allowedOrigins.map(Self.normalized).filter { !$0.isEmpty }
        anyOrigin = entries.contains("*")
        origins = Set(entries.filter { $0 != "*" })
    }

    /// What to answer a request carrying `Origin: origin` sent to `host`.
    func decide(origin: String, host: String?) -> Decision {
        let origin = Self.normalized(origin)
        // No browser page has a ws: or wss: origin; WebSocket client libraries send one of the URL they connect to.
        if ["ws", "wss"].contains(Self.scheme(of: origin)) { return .sameOrigin }
        if anyOrigin { return .allowed("*") }
        if origins.contains(origin) { return .allowed(origin) }
        if let host, Self.authority(of: origin) == Self.withoutDefaultPort(host.lowercased(), scheme: Self.scheme(of: origin)) {
            return .sameOrigin
        }
        return .refused
    }

    /// What ``decide(origin:host:)`` says of a request.
    enum Decision: Equatable, Sendable {
        /// A page of the server's own origin: answered, without CORS headers.
        case sameOrigin
        /// A configured origin: answered with `Access-Control-Allow-Origin` set to this value.
        case allowed(String)
        /// Another site's page: refused.
        case refused
    }

    static func normalized(_ origin: String) -> String {
        var origin = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while origin.hasSuffix("/") { origin.removeLast() }
        return origin
    }

    static func scheme(of origin: String) -> String {
        origin.range(of: "://").map { String(origin[..<$0.lowerBound]) } ?? ""
    }

    /// `host:port` of an origin, the port left out when it is the scheme's default.
    static func authority(of origin: String) -> String? {
        guard let separator = origin.range(of: "://") else { return nil }
        return withoutDefaultPort(String(origin[separator.upperBound...]), scheme: scheme(of: origin))
    }

    static func withoutDefaultPort(_ authority: String, scheme: String) -> String {
        let port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nil
        if let port, authority.hasSuffix(port) { return String(authority.dropLast(port.count)) }
        return authority
    }
}

/// CORS by ``OriginPolicy``: a request from another site's page (an `Origin` that is neither the server's own nor
/// configured) gets 403 naming the setting, so that a page cannot even send a simple cross-site POST; a configured
/// origin's preflight is answered 204, and its answers carry `Access-Control-Allow-Origin: <origin>` and
/// `Vary: Origin`. Requests without `Origin` (every client but a browser) pass untouched.
struct OriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: OriginPolicy

    static var allowedHeaders: String { "Accept, Authorization, Content-Type, Origin, If-Match, If-None-Match" }
    static var allowedMethods: String { "GET, POST, HEAD, OPTIONS, DELETE, PUT" }
    static var exposedHeaders: String { "Link, X-Total-Count, ETag" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        switch policy.decide(origin: origin, host: request.head.authority) {
        case .sameOrigin:
            return try await next(request, context)
        case .refused:
            let message = "pages of the origin '\(origin)' may not call this API; add the origin to vamp.http-api.cors.allowed-origins to allow them"
            return .refusal(.forbidden, message)
        case .allowed(let allowed):
            if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
                var response = Response(status: .noContent)
                response.headers[.accessControlAllowMethods] = Self.allowedMethods
                response.headers[.accessControlAllowHeaders] = Self.allowedHeaders
                response.headers[.accessControlMaxAge] = "1800"
                response.headers[.cacheControl] = "no-store"
                return Self.marked(response, allowed)
            }
            var response = try await next(request, context)
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
            return Self.marked(response, allowed)
        }
    }

    static func marked(_ response: Response, _ allowed: String) -> Response {
        var response = response
        response.headers[.accessControlAllowOrigin] = allowed
        if allowed != "*" { response.headers[.vary] = "Origin" }
        return response
    }
}
