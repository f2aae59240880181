import HTTPTypes
import NIOCore

/// A request refused on its raw bytes, before the HTTP decoder, sent up the pipeline for
/// ``ContentLengthLimitHandler`` to answer after the answers before it (pipelining keeps answers in order).
struct RequestRefusal: Sendable {
    let status: HTTPResponse.Status
    let message: String
    /// Whether the refused request's head went on to the router (its body was being read) or not.
    let headPassedOn: Bool
    /// Set by the handler that answers the refusal.
    let claim = Claim()

    /// Whether a handler took the refusal to answer. Only touched on the connection's event loop, in the synchronous
    /// delivery of the event (hence unchecked).
    final class Claim: @unchecked Sendable {
        var isTaken = false
    }
}

/// Before the HTTP decoder: follows the requests' framing (``RequestFraming``) to bound how long the server waits
/// for a client, and refuses a chunked body whose chunk sizes go over the body limit.
///
/// - A request's head must be in within `readTimeout` of its first byte: a client sending a byte every few seconds
///   (slowloris) gets 408 and is closed.
/// - Within a body, `readTimeout` may pass without a byte (a client that stops mid-body gets 408 and is closed).
/// - Time counts only while the server asks for more: a server that is still busy with the requests before (and so
///   reads nothing) does not make the client late.
/// - A chunk size over `vamp.http-api.max-body-size`, or chunks adding up to more, is 413 at once.
///
/// Before and between requests, Hummingbird's idle timeout (`vamp.http-api.idle-timeout`) closes a connection that
/// sends nothing.
final class RequestReadHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let readTimeout: TimeAmount
    private var framing: RequestFraming
    private let limit: Int
    /// When the client must have sent more, while a head or a body is awaited.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    /// The server asked for data that has not come yet (a new connection waits for its first request).
    private var waitingForClient = true
    /// A refusal went up; everything read after it is dropped.
    private var refused = false

    init(readTimeout: TimeAmount, maximumBodySize: Int) {
        self.readTimeout = readTimeout
        self.limit = maximumBodySize
        self.framing = RequestFraming(limit: maximumBodySize)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel()
    }

    func read(context: ChannelHandlerContext) {
        waitingForClient = true
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        waitingForClient = false
        let buffer = unwrapInboundIn(data)
        let before = (phase: framing.phase, started: framing.started)
        guard let declared = buffer.withUnsafeReadableBytes({ framing.scan($0) }) else {
            context.fireChannelRead(data)
            follow(context, before: before)
            return
        }
        refused = true
        cancel()
        // The refused request's head went on when it ended before this read; otherwise what came before the
        // refused request's first byte (the requests before it) goes on, and the rest is dropped.
        let passedOn = before.phase == .body && before.started == framing.started
        if !passedOn, let start = framing.lastStart, start > 0 {
            context.fireChannelRead(wrapInboundOut(buffer.getSlice(at: buffer.readerIndex, length: start)!))
        }
        let message = "the request body of at least \(declared) bytes (by its chunk sizes) is larger than the limit of \(limit) bytes "
            + "(vamp.http-api.max-body-size); send less"
        refuse(context, RequestRefusal(status: .contentTooLarge, message: message, headPassedOn: passedOn))
    }

    /// Sets the deadline from where the bytes so far end.
    private func follow(_ context: ChannelHandlerContext, before: (phase: RequestFraming.Phase, started: Int)) {
        switch framing.phase {
        case .head:
            // From the head's first byte: a head sent a byte at a time does not move it.
            if before.phase != .head || before.started != framing.started { arm(context, at: .now() + readTimeout) }
        case .body:
            arm(context, at: .now() + readTimeout)
        case .idle, .stopped:
            deadline = nil
        }
    }

    private func arm(_ context: ChannelHandlerContext, at instant: NIODeadline) {
        deadline = instant
        guard timer == nil else { return }
        schedule(context, at: instant)
    }

    private func schedule(_ context: ChannelHandlerContext, at instant: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: instant) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.expired(context)
        }
    }

    private func expired(_ context: ChannelHandlerContext) {
        guard let deadline, !refused else { return }
        if deadline > .now() { return schedule(context, at: deadline) }
        // The server is not reading (busy with the requests before): the client is not late.
        guard waitingForClient else { return arm(context, at: .now() + readTimeout) }
        refused = true
        self.deadline = nil
        let seconds = Double(readTimeout.nanoseconds) / 1e9
        switch framing.phase {
        case .head:
            let message = "the request's head was not all sent within \(seconds.secondsText) s (vamp.http-api.read-timeout); send it at once"
            refuse(context, RequestRefusal(status: .requestTimeout, message: message, headPassedOn: false))
        case .body:
            let message = "the request's body stopped for \(seconds.secondsText) s (vamp.http-api.read-timeout); send it without pauses"
            refuse(context, RequestRefusal(status: .requestTimeout, message: message, headPassedOn: true))
        case .idle, .stopped:
            break
        }
    }

    /// Hands a refusal to ``ContentLengthLimitHandler``, after the decoder, which answers it in order with the
    /// responses before it. When no handler takes it (the first request of a connection that may become a WebSocket:
    /// the HTTP handlers are added once its head is in), nothing was answered on the connection yet, and the refusal
    /// is answered here, in bytes.
    private func refuse(_ context: ChannelHandlerContext, _ refusal: RequestRefusal) {
        context.fireUserInboundEventTriggered(refusal)
        if !refusal.claim.isTaken { RawAnswer.send(refusal.status, refusal.message, on: context) }
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
        deadline = nil
    }
}

extension Double {
    /// `10`, `1.5`: seconds as a person writes them.
    fileprivate var secondsText: String {
        self == rounded() ? String(Int(self)) : String(self)
    }
}
