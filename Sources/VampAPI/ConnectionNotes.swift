import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What the requests of one connection of ``VampHTTPAPI/server(configuration:router:)`` tell the connection, and the
/// other way round: that the client went (for event streams), and why a WebSocket upgrade was refused.
final class ConnectionNotes: Sendable {
    private let departure = Mutex<(gone: Bool, waiting: [@Sendable () -> Void])>((false, []))
    private let refusal = Mutex<(head: HTTPResponse, body: ByteBuffer)?>(nil)

    /// Runs `action` once when the client goes: it closed its side (which the server allows, so the connection
    /// itself stays open until the answer ends), or the connection closed. At once when it has.
    func onDeparture(_ action: @escaping @Sendable () -> Void) {
        let now = departure.withLock { state in
            if state.gone { return true }
            state.waiting.append(action)
            return false
        }
        if now { action() }
    }

    func depart() {
        let waiting = departure.withLock { state in
            defer { state = (true, []) }
            return state.gone ? [] : state.waiting
        }
        for action in waiting { action() }
    }

    /// The router's refusal of a WebSocket upgrade, which hummingbird-websocket would answer as an empty 400.
    func refuseUpgrade(_ head: HTTPResponse, _ body: ByteBuffer) { refusal.withLock { $0 = (head, body) } }

    func takeUpgradeRefusal() -> (head: HTTPResponse, body: ByteBuffer)? {
        refusal.withLock { refusal in
            defer { refusal = nil }
            return refusal
        }
    }
}

/// In every connection's pipeline, before the HTTP decoder: keeps the connection's ``ConnectionNotes`` and tells them
/// when the client's input ends or the connection closes.
final class ConnectionNotesHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let notes = ConnectionNotes()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { notes.depart() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        notes.depart()
        context.fireChannelInactive()
    }
}

extension Channel {
    /// The ``ConnectionNotes`` of a connection of ``VampHTTPAPI/server(configuration:router:)``; `nil` for others
    /// (the test framework's).
    func connectionNotes() async -> ConnectionNotes? {
        try? await eventLoop.submit { [self] in
            try self.pipeline.syncOperations.handler(type: ConnectionNotesHandler.self).notes
        }.get()
    }
}

/// Outermost: a refused WebSocket upgrade (no token, a foreign origin, too many event streams) leaves its answer in
/// the connection's notes, for ``RefusedUpgradeWriter`` to send instead of hummingbird-websocket's empty 400.
struct UpgradeRefusalMiddleware: RouterMiddleware {
    typealias Context = VampRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.upgrade]?.lowercased().contains("websocket") == true else { return try await next(request, context) }
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        guard response.status.code >= 400, let notes = await context.channel.connectionNotes() else { return response }
        let collector = BodyCollector(limit: 64 << 10)
        try await response.body.write(collector)
        var head = HTTPResponse(status: response.status, headerFields: response.headers)
        head.headerFields[.contentLength] = String(collector.buffer.readableBytes)
        head.headerFields[.connection] = "close"
        notes.refuseUpgrade(head, collector.buffer)
        return Response(status: response.status, headers: response.headers, body: .init(byteBuffer: collector.buffer))
    }
}

/// After the HTTP codec of a connection that may upgrade: turns hummingbird-websocket's empty 400 for a refused
/// upgrade into the router's answer that ``UpgradeRefusalMiddleware`` noted (401, 403, 421, 429 with its message).
final class RefusedUpgradeWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var notes: ConnectionNotes?

    func handlerAdded(context: ChannelHandlerContext) {
        notes = try? context.pipeline.syncOperations.handler(type: ConnectionNotesHandler.self).notes
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data), head.status == .badRequest, head.headerFields[.contentLength] == "0",
           let (refusal, body) = notes?.takeUpgradeRefusal()
        {
            context.write(wrapOutboundOut(.head(refusal)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: promise)
            return
        }
        context.write(data, promise: promise)
    }
}
