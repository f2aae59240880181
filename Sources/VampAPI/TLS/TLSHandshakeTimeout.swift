import Logging
import NIOCore
import NIOTLS

/// After the TLS handler: closes a connection whose TLS handshake has not completed within `timeout` of the
/// connection's start (`vamp.http-api.read-timeout`, the bound of a request's head), then leaves the pipeline once
/// the handshake completes. Without it, a client that opens TCP and sends nothing, or half a ClientHello, would hold
/// its connection until the idle timeout (75 s): the request timeouts only count decrypted bytes.
final class TLSHandshakeTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let timeout: TimeAmount
    let logger: Logger
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.expired(context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            timer?.cancel()
            timer = nil
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func expired(_ context: ChannelHandlerContext) {
        let seconds = Double(timeout.nanoseconds) / 1e9
        logger.debug("closed a connection whose TLS handshake did not complete within \(seconds) s (vamp.http-api.read-timeout)", metadata: [
            "vamp.http.client": "\(context.channel.remoteAddress.map { "\($0)" } ?? "unknown")",
        ])
        // Through the TLS handler: mid-handshake it ends the connection at once (no close_notify to wait for).
        context.close(promise: nil)
    }
}
