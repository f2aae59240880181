import HTTPTypes
public import HummingbirdCore
import NIOCore
import NIOHTTPTypes

extension VampHTTPAPI {
    /// The HTTP/1.1 server to run ``router(vamp:namespaces:defaultNamespace:access:configuration:)`` on: Hummingbird's
    /// `.http1()`, except that a request whose `Content-Length` is over `configuration.maximumBodySize` is answered
    /// 413 at once, before any of its body is read, and its connection closed. A client sending 60 MB learns after
    /// the headers, not after the upload. Bodies without a length (chunked) are limited as they are read.
    ///
    /// Use it as `Application(router: router, server: VampHTTPAPI.server(configuration: configuration), ...)`.
    public static func server(configuration: VampAPIConfiguration = VampAPIConfiguration()) -> HTTPServerBuilder {
        let limit = configuration.maximumBodySize
        return .http1(configuration: .init(additionalChannelHandlers: [ContentLengthLimitHandler(limit: limit)]))
    }
}

/// Refuses a request whose declared body is over the limit, as soon as its head arrives: answers 413 with
/// `{"message": ...}`, passes nothing of it on, and closes the connection (its sending side at once, so the client
/// reads the end of the stream after the answer; the rest a second later).
///
/// The answer carries no `Connection: close` (RFC 9112 §9.6 has it as a SHOULD): AsyncHTTPClient, still uploading
/// when it reads that header, fails the request with "I/O on closed channel" instead of handing over the 413, while
/// without it curl, Python's requests and AsyncHTTPClient all read the 413 and stop sending.
///
/// Sits after the HTTP/1 decoder, before Hummingbird's request handling. The answer waits for the responses to the
/// requests before it on the connection (pipelining), so answers stay in order.
final class ContentLengthLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// How long what the client still sends after the answer is read and dropped before the connection is closed
    /// outright: closing with unread data resets the connection, and a reset can make the client lose the answer.
    /// Clients stop sending when they read the answer, so this is a bound, not a wait.
    static let linger = TimeAmount.seconds(1)

    let limit: Int
    /// Requests passed on whose response has not ended yet.
    private var unanswered = 0
    /// The declared length of the refused request; everything read after its head is dropped.
    private var refusedLength: Int?
    private var answered = false

    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard refusedLength == nil else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            if let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length > limit {
                refusedLength = length
                if unanswered == 0 { answer(context) }
                return
            }
            unanswered += 1
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        guard ended else { return }
        unanswered = max(0, unanswered - 1)
        if unanswered == 0, refusedLength != nil { answer(context) }
    }

    private func answer(_ context: ChannelHandlerContext) {
        guard !answered, let length = refusedLength else { return }
        answered = true
        let message = "the request body of \(length) bytes is larger than the limit of \(limit) bytes (vamp.http-api.max-body-size); send less"
        let body = ByteBuffer(string: #"{"message":"\#(message)"}"#)
        let head = HTTPResponse(status: .contentTooLarge, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes),
            .cacheControl: "no-store",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            let context = bound.value
            // The client reads the answer and the end of the stream; what it still sends is dropped until it closes.
            context.close(mode: .output, promise: nil)
            context.eventLoop.scheduleTask(in: Self.linger) { bound.value.close(promise: nil) }
        }
    }
}
