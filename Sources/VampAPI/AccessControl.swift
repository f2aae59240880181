import Foundation
import HTTPTypes
public import Hummingbird
public import VampAccess
import VampCore

/// How the API decides who may do what.
public enum APIAccess: Sendable {
    /// No authentication: every request may do everything, commands included (`vamp.http-api.auth: none`, which
    /// `vamp-server` accepts only on a loopback interface).
    case open
    /// `Authorization: Bearer <token>` with the tokens of the registry and their roles.
    case tokens(TokenRegistry)
}

/// Decides every request before its handler (``AccessPolicy``), answers 401 and 403 with a message, and runs the
/// handler with the request's ``VampCore/Caller`` as the current one, so that the facade names the token in its
/// archive events and refuses new commands to a token that may not run them. Counts each request against its
/// token's rate limit (a request without a valid token against its client address), refusals included: 429.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = VampRequestContext
    let access: APIAccess
    let defaultNamespace: String
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let caller: Caller
        // Unix sockets and the like have no address: one count for them all.
        let address = RateKey.address(context.channel.remoteAddress?.ipAddress ?? "local")
        switch access {
        case .open:
            try admit(address, &context)
            caller = Caller(name: nil, mayRunCommands: true)
        case .tokens(let registry):
            let target = AccessPolicy.Target(path: request.uri.path)
            // A browser cannot send Authorization with a WebSocket upgrade: `?access_token=` there (RFC 6750 §2.3).
            let authorization = request.headers[.authorization]
                ?? (target.rest == ["websocket"] ? request.uri.queryParameters.get("access_token").map { "Bearer \($0)" } : nil)
            let credential = AccessPolicy.Credential(authorization: authorization)
            var token: AccessToken?
            if case .secret(let secret) = credential {
                await registry.ready()
                token = registry.authenticate(secret, at: Date())
            }
            try admit(token.map { RateKey.token($0.name) } ?? address, &context)
            switch AccessPolicy.decide(
                method: request.method.rawValue, target: target, credential: credential, token: token, defaultNamespace: defaultNamespace)
            {
            case .allowed(let token):
                context.token = token
                caller = Caller(name: token?.name, mayRunCommands: token.map { $0.role >= .command } ?? false)
            case .unauthenticated(let message):
                throw AccessRefusal(status: .unauthorized, message: message)
            case .forbidden(let message):
                throw AccessRefusal(status: .forbidden, message: message)
            }
        }
        context.caller = caller
        return try await Caller.$current.withValue(caller) { try await next(request, context) }
    }

    /// Counts the request against `key`'s rate; 429 when it is over.
    func admit(_ key: RateKey, _ context: inout Context) throws(RateLimitRefusal) {
        context.limits = (limiter, key)
        if case .refused(let retryAfter) = limiter.admit(key) {
            throw RateLimitRefusal(key: key, limits: limiter.limits, retryAfter: retryAfter)
        }
    }
}

/// A 401 or 403 with `{"message": ...}`; a 401 also says which scheme to use (`WWW-Authenticate`).
struct AccessRefusal: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = APIAnswer.json(["message": message], status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="vamp""# }
        return response
    }
}
