public import Hummingbird
public import HummingbirdWebSocket
import NIOCore
public import VampAccess
public import VampCore

/// The request context of Vamp's routes: Hummingbird's core storage plus what the API learns about a request
/// before its handler runs (the facade of its namespace, the caller and its token).
public struct VampRequestContext: RequestContext, WebSocketRequestContext {
    /// Hummingbird's per-request storage (parameters, allocator, logger).
    public var coreContext: CoreRequestContextStorage
    /// The facade of the request's namespace, once the router resolved it.
    public var vamp: Vamp?
    /// Who asks: the caller the facade sees (set by the access middleware before any handler).
    public var caller: Caller?
    /// The token the request was made with; `nil` without authentication.
    public var token: AccessToken?
    /// Where a `/websocket` upgrade leaves its connection's handler (hummingbird-websocket).
    public let webSocket = WebSocketHandlerReference<Self>()
    /// The connection of the request: the WebSocket API makes the context of each message's request with its
    /// socket's.
    let channel: any Channel
    /// Who the request counts as for the rate limits (its token, else its client address), and their counts; set
    /// by the access middleware.
    var limits: (limiter: RateLimiter, key: RateKey)?
    /// A request made from a `/websocket` message: its event stream is the socket's, counted at the upgrade.
    var insideWebSocket = false
    /// The event stream slot a `/websocket` upgrade took, given back when the socket closes.
    let webSocketSlot = SlotHolder()

    /// Creates the context of a request Hummingbird received.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension OperationError: HTTPResponseError {
    /// 400, 403, 404, 409, 412, 413 or 503, as the code says.
    public var status: HTTPResponse.Status {
        switch code {
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .preconditionFailed: .preconditionFailed
        case .unavailable: .serviceUnavailable
        case .forbidden: .forbidden
        default: .badRequest
        }
    }

    /// `{"message": ...}` with the status; 404 with an empty body (§3.1).
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        if status == .notFound { return Response(status: .notFound) }
        return APIAnswer.json(["message": message], status: status)
    }
}
