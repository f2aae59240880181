import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Refuses a request whose declared body is over the limit, as soon as its head arrives: answers 413 with
/// `{"message": ...}`, passes nothing of it on, and closes the connection (its sending side at once, so the client
/// reads the end of the stream after the answer; the rest a second later).
///
/// The answer carries no `Connection: close` (RFC 9112 §9.6 has it as a SHOULD): AsyncHTTPClient, still uploading
/// when it reads that header, fails the request with "I/O on closed channel" instead of handing over the 413, while
/// without it curl, Python's requests and AsyncHTTPClient all read the 413 and stop sending.
///
/// Sits after the HTTP/1 decoder, before Hummingbird's request handling. The answer waits for the responses to the
/// requests before it on the connection (pipelining), so answers stay in order. It answers the refusals made on the
/// raw bytes before the decoder (``RequestRefusal``: a read timeout, a chunked body over the limit) the same way.
final class ContentLengthLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limit: Int
    /// Requests passed on whose response has not ended yet.
    private var unanswered = 0
    /// A response's head is written and its end not yet.
    private var responding = false
    /// The refusal to answer once the answers before it are out; everything read after it is dropped.
    private var refusal: RequestRefusal?
    private var answered = false

    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard refusal == nil else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            if let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length > limit {
                let message = "the request body of \(length) bytes is larger than the limit of \(limit) bytes (vamp.http-api.max-body-size); send less"
                refuse(context, RequestRefusal(status: .contentTooLarge, message: message, headPassedOn: false))
                return
            }
            unanswered += 1
        }
        context.fireChannelRead(data)
    }

    /// A refusal made on the raw bytes (``RequestReadHandler``: a read timeout, a chunk over the limit).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let refusal = event as? RequestRefusal else { return context.fireUserInboundEventTriggered(event) }
        refusal.claim.isTaken = true
        if self.refusal == nil { refuse(context, refusal) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // After the refusal's answer, the router's late answer to the refused request (its body ended with the
        // connection) has nowhere to go.
        guard !answered else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        let part = unwrapOutboundIn(data)
        context.write(data, promise: promise)
        switch part {
        case .head: responding = true
        case .body: break
        case .end:
            responding = false
            unanswered = max(0, unanswered - 1)
            answerIfDue(context)
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ refusal: RequestRefusal) {
        self.refusal = refusal
        answerIfDue(context)
    }

    /// Answers the refusal once the answers before it are out. When the refused request went on to the router and
    /// the router has begun answering it (a route that reads no body), that answer ends the connection instead.
    private func answerIfDue(_ context: ChannelHandlerContext) {
        guard let refusal, !answered else { return }
        if refusal.headPassedOn {
            if unanswered == 0 {
                answered = true
                context.close(promise: nil)
            } else if unanswered == 1, !responding {
                answer(context, refusal)
            }
        } else if unanswered == 0 {
            answer(context, refusal)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ refusal: RequestRefusal) {
        answered = true
        let body = ByteBuffer(string: RawAnswer.json(refusal.message))
        let head = HTTPResponse(status: refusal.status, headerFields: [
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
            context.eventLoop.scheduleTask(in: RawAnswer.linger) { bound.value.close(promise: nil) }
        }
    }
}
