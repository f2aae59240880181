import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

/// Vamp 0.9.5's `/websocket` API (and `/<namespace>/websocket`): each request of a frame is made into an HTTP
/// request and answered by the same router as REST, middleware included (host and origin checks, tokens, limits),
/// so the socket can do exactly what REST can. A PEEK of `.../events/stream` subscribes the connection to events
/// (one subscription per connection; a new one replaces the old), through the REST route's stream, filters included.
///
/// A browser cannot set `Authorization` on a WebSocket, so the upgrade may carry the token as the query parameter
/// `access_token` (RFC 6750 §2.3) instead; the messages' requests carry it as `Authorization`.
final class WebSocketAPI: Sendable {
    /// Events buffered for a slow client before the oldest is dropped (the original's 16).
    static let eventBuffer = 16
    /// The largest frame, and the largest message (frames joined).
    let maximumMessageSize: Int
    /// The router's responder, set once every route is in place (``complete(with:)``).
    private let responder = Mutex<(any HTTPResponder<VampRequestContext>)?>(nil)

    init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// The settings of the socket: frames up to 1 MiB (messages up to the body limit), a ping every 30 s.
    static func serverConfiguration(maximumBodySize: Int) -> WebSocketServerConfiguration {
        WebSocketServerConfiguration(maxFrameSize: min(maximumBodySize, 1 << 20), autoPing: .enabled(timePeriod: .seconds(30)))
    }

    /// Adds `GET /websocket` and `GET /:namespace/websocket`.
    func addRoutes(to router: Router<VampRequestContext>) {
        for path in ["websocket", ":namespace/websocket"] {
            router.ws(RouterPath(path), shouldUpgrade: { request, context in
                guard request.headers[.upgrade]?.lowercased().contains("websocket") == true,
                      request.headers[.connection]?.lowercased().contains("upgrade") == true
                else {
                    throw RequestRefusalError(status: .upgradeRequired, message: "\(request.uri.path) is Vamp's WebSocket API: connect with a WebSocket client (Upgrade: websocket)")
                }
                // A socket is an event stream of its token from its upgrade (429 before it, past the limit) until it closes.
                context.webSocketSlot.keep(try context.openEventStream())
                return .upgrade([:])
            }, onUpgrade: { [self] inbound, outbound, context in
                try await self.serve(inbound, outbound, context)
            })
        }
    }

    /// Gives the socket the router's responder, once the router is complete.
    func complete(with router: Router<VampRequestContext>) {
        responder.withLock { $0 = router.buildResponder() }
    }

    private func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ socket: WebSocketRouterContext<VampRequestContext>) async throws {
        defer { socket.requestContext.webSocketSlot.close() }
        guard let responder = responder.withLock({ $0 }) else { return }
        let connection = WebSocketConnection(responder: responder, upgrade: socket.request, context: socket.requestContext)
        // Pushed events go through a buffer of their own that drops the oldest, so that a slow client cannot hold
        // the server's events; answers are written in order as they are made.
        let (pushes, pushSink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(Self.eventBuffer))
        // Every part of the connection is a child of this group: the writer of pushes and each subscription, which
        // ends when the next one replaces it (its stop stream finishes) or when the connection does (cancelAll).
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await text in pushes { try await outbound.write(.text(text)) }
            }
            var stopCurrent: AsyncStream<Void>.Continuation?
            // A replaced subscription may still be reading an event when the next one starts: the gate drops what it
            // pushes from then on, so no event of the old filter arrives after the new subscription's answer.
            let gate = SubscriptionGate()
            defer {
                stopCurrent?.finish()
                pushSink.finish()
            }
            for try await message in inbound.messages(maxSize: maximumMessageSize) {
                guard case .text(let text) = message else {
                    try await outbound.write(.text(WebSocketMessage.error(WebSocketMessageError(message: "binary frames are not read: send requests as text (JSON or YAML)"))))
                    continue
                }
                for parsed in WebSocketMessage.requests(in: text) {
                    switch parsed {
                    case .failure(let error):
                        try await outbound.write(.text(WebSocketMessage.error(error)))
                    case .success(let request) where request.isEventSubscription:
                        stopCurrent?.finish()
                        let id = gate.open()
                        let (stop, stopper) = AsyncStream.makeStream(of: Void.self)
                        stopCurrent = stopper
                        // The next frame is read once the subscription is in place, so that an event published by a
                        // later request is pushed.
                        let (subscribed, signal) = AsyncStream.makeStream(of: Void.self)
                        group.addTask {
                            await connection.subscribe(
                                request, push: { gate.push($0, from: id, to: pushSink) }, until: stop, whenSubscribed: { signal.finish() })
                        }
                        for await _ in subscribed {}
                    case .success(let request):
                        try await outbound.write(.text(await connection.answer(request)))
                    }
                }
            }
            group.cancelAll()
        }
    }
}

/// What the requests of one socket share: the router's responder, and the upgrade request's host, origin and
/// credentials, which every request made from a message carries.
struct WebSocketConnection: Sendable {
    let responder: any HTTPResponder<VampRequestContext>
    let authority: String?
    let headers: HTTPFields
    let prefix: String
    let channel: any Channel
    let logger: Logger

    init(responder: any HTTPResponder<VampRequestContext>, upgrade: Request, context: VampRequestContext) {
        self.responder = responder
        self.authority = upgrade.head.authority
        var headers = HTTPFields()
        for name in [HTTPField.Name.origin, .userAgent, .authorization] {
            if let value = upgrade.headers[name] { headers[name] = value }
        }
        if headers[.authorization] == nil, let token = upgrade.uri.queryParameters.get("access_token") {
            headers[.authorization] = "Bearer \(token)"
        }
        self.headers = headers
        let segments = upgrade.uri.path.split(separator: "/")
        self.prefix = segments.count == 2 ? "/\(segments[0])/api/v1" : "/api/v1"
        self.channel = context.channel
        self.logger = context.logger
    }

    /// The answer to one request, as the REST API gives it.
    func answer(_ request: WebSocketRequest) async -> String {
        do {
            let response = try await respond(request)
            let collector = BodyCollector(limit: 64 << 20)
            try await response.body.write(collector)
            return WebSocketMessage.answer(
                to: request, status: Int(response.status.code), body: String(buffer: collector.buffer), headers: Self.parameters(response.headers))
        } catch {
            return WebSocketMessage.answer(to: request, status: 500, body: #"{"message":"the request could not be answered"}"#, headers: [:])
        }
    }

    /// Runs the REST event stream of `request` and pushes each of its events, until cancelled or the stream ends;
    /// a refused subscription (no token, a bad filter) is answered once with its error.
    func subscribe(
        _ request: WebSocketRequest, push: @escaping @Sendable (String) -> Void, until stop: AsyncStream<Void>,
        whenSubscribed: @escaping @Sendable () -> Void
    ) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.stream(request, push: push, whenSubscribed: whenSubscribed) }
            group.addTask { for await _ in stop {} }
            // Whichever ends first (the stream, or the replacement) ends the other.
            await group.next()
            group.cancelAll()
        }
    }

    private func stream(_ request: WebSocketRequest, push: @escaping @Sendable (String) -> Void, whenSubscribed: @Sendable () -> Void) async {
        defer { whenSubscribed() }
        do {
            let response = try await respond(request)
            whenSubscribed()
            guard response.status == .ok else {
                let collector = BodyCollector(limit: 1 << 20)
                try await response.body.write(collector)
                push(WebSocketMessage.answer(
                    to: request, status: Int(response.status.code), body: String(buffer: collector.buffer), headers: Self.parameters(response.headers)))
                return
            }
            let reader = ServerSentEventReader { data in push(WebSocketMessage.event(data, for: request)) }
            try await response.body.write(reader)
        } catch {
            // Cancelled (replaced, or the connection closed): nothing more to send.
        }
    }

    private func respond(_ request: WebSocketRequest) async throws -> Response {
        var fields = headers
        fields[.accept] = request.accept.mediaType
        if request.data != nil { fields[.contentType] = request.content.mediaType }
        let head = HTTPRequest(
            method: HTTPRequest.Method(request.method) ?? .get, scheme: nil, authority: authority,
            path: request.target(under: prefix), headerFields: fields)
        let body = HummingbirdCore.RequestBody(buffer: ByteBuffer(string: request.data ?? ""))
        var context = VampRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        context.insideWebSocket = true
        do {
            return try await responder.respond(to: Request(head: head, body: body), context: context)
        } catch let error as any HTTPResponseError {
            return try error.response(from: Request(head: head, body: .init(buffer: ByteBuffer())), context: context)
        }
    }

    /// The response headers as the answer's `parameters` (a repeated header's values joined with `, `).
    static func parameters(_ headers: HTTPFields) -> [String: String] {
        var parameters: [String: String] = [:]
        for field in headers {
            // As the original wrote them: X-Total-Count, Content-Type.
            let name = field.name.canonicalName.split(separator: "-", omittingEmptySubsequences: false).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-")
            parameters[name] = parameters[name].map { "\($0), \(field.value)" } ?? field.value
        }
        return parameters
    }
}

/// Collects a response body, up to a limit. (`ResponseBody.write` consumes its writer, so the bytes are kept in a
/// box the caller holds.)
struct BodyCollector: ResponseBodyWriter {
    final class Box {
        var buffer = ByteBuffer()
    }

    let limit: Int
    let box = Box()
    var buffer: ByteBuffer { box.buffer }

    mutating func write(_ part: ByteBuffer) async throws {
        guard box.buffer.readableBytes + part.readableBytes <= limit else { throw HTTPError(.contentTooLarge) }
        var part = part
        box.buffer.writeBuffer(&part)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// Reads a Server-Sent Events body as it is written and hands over each event's `data` (comments and `event:`
/// lines are skipped).
struct ServerSentEventReader: ResponseBodyWriter {
    let deliver: @Sendable (String) -> Void
    var pending: [UInt8] = []

    init(deliver: @escaping @Sendable (String) -> Void) {
        self.deliver = deliver
    }

    mutating func write(_ part: ByteBuffer) async throws {
        pending.append(contentsOf: part.readableBytesView)
        // Events end with a blank line.
        while let end = Self.blankLine(in: pending) {
            let event = String(decoding: pending[..<end], as: UTF8.self)
            pending.removeFirst(end + 2)
            let data = event.split(separator: "\n").filter { $0.hasPrefix("data:") }.map { $0.dropFirst(5).drop { $0 == " " } }
            if !data.isEmpty { deliver(data.joined(separator: "\n")) }
        }
    }

    static func blankLine(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 0..<(bytes.count - 1) where bytes[index] == 0x0A && bytes[index + 1] == 0x0A { return index }
        return nil
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// A refusal with `{"message": ...}` and its status.
struct RequestRefusalError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    func response(from request: Request, context: some RequestContext) throws -> Response {
        APIAnswer.json(["message": message], status: status)
    }
}

/// Which of a socket's subscriptions may push: the newest one. Opening a subscription and pushing are one lock apart,
/// so a push of a replaced subscription either went out before the replacement or never does.
final class SubscriptionGate: Sendable {
    private let current = Mutex(0)

    /// Makes a new subscription the one that pushes; returns its number.
    func open() -> Int {
        current.withLock { id in
            id += 1
            return id
        }
    }

    /// Yields `text` to `sink` when subscription `id` is still the newest.
    func push(_ text: String, from id: Int, to sink: AsyncStream<String>.Continuation) {
        current.withLock { newest in
            if newest == id { sink.yield(text) }
        }
    }
}
