public import Hummingbird
public import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL

extension VampHTTPAPI {
    /// The HTTP/1.1 server to run ``router(vamp:namespaces:defaultNamespace:access:configuration:)`` on: Hummingbird's
    /// `.http1()`, with limits against clients that hold connections or send without end (`configuration.connections`
    /// and `configuration.maximumBodySize`):
    ///
    /// - a client address with `maximumPerClient` connections open gets 429 on the next, which is closed;
    /// - a request's head must be in within `readTimeout` of its first byte, a body may not pause for longer (408),
    ///   and a connection without a request is closed after `idleTimeout`;
    /// - a request whose `Content-Length` is over the limit, or whose chunk sizes are, is answered 413 at once,
    ///   before any more of its body is read, and its connection closed: a client sending 60 MB learns after the
    ///   headers, not after the upload. Bodies are also limited as they are read.
    ///
    /// Given the `router` (``router(vamp:namespaces:defaultNamespace:access:configuration:)``'s), the server also
    /// upgrades `GET /websocket` (and `/<namespace>/websocket`) to the original's WebSocket API, through the same
    /// router, so that the upgrade request is checked like any other.
    ///
    /// With `configuration.tls`, every connection is TLS (``APICertificate``), the limits counting from the
    /// decrypted bytes; a connection whose TLS handshake has not completed within `readTimeout` of its start is
    /// closed.
    ///
    /// Use it as `Application(router: router, server: VampHTTPAPI.server(configuration: configuration, router: router), ...)`.
    public static func server(
        configuration: VampAPIConfiguration = VampAPIConfiguration(), router: Router<VampRequestContext>? = nil
    ) -> HTTPServerBuilder {
        let limits = configuration.connections
        let counter = ConnectionCounter(limit: limits.maximumPerClient)
        let maximumBodySize = configuration.maximumBodySize
        let http1Configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ContentLengthLimitHandler(limit: maximumBodySize)], idleTimeout: TimeAmount(limits.idleTimeout))
        let readTimeout = TimeAmount(limits.readTimeout)
        let certificate = configuration.tls
        guard let router else {
            return HTTPServerBuilder { responder in
                TLSServerChannel(certificate: certificate, handshakeTimeout: readTimeout, child: GuardedHTTP1Channel(
                    http1: HTTP1Channel(responder: responder, configuration: http1Configuration),
                    counter: counter, readTimeout: readTimeout, maximumBodySize: maximumBodySize))
            }
        }
        let webSocketResponder = router.buildResponder()
        // A refused upgrade is answered with the router's refusal (401, 429, ...), not an empty 400.
        let upgradingConfiguration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ContentLengthLimitHandler(limit: maximumBodySize), RefusedUpgradeWriter()],
            idleTimeout: TimeAmount(limits.idleTimeout))
        return HTTPServerBuilder { responder in
            let upgrading = HTTP1WebSocketUpgradeChannel(
                responder: responder, webSocketResponder: webSocketResponder,
                configuration: .init(http1: upgradingConfiguration, ws: WebSocketAPI.serverConfiguration(maximumBodySize: maximumBodySize)))
            return TLSServerChannel(
                certificate: certificate, handshakeTimeout: readTimeout,
                child: GuardedHTTP1Channel(http1: upgrading, counter: counter, readTimeout: readTimeout, maximumBodySize: maximumBodySize))
        }
    }
}

/// A connection's channel with TLS in front when the server has a certificate: each connection's handler is made
/// with the certificate loaded when the connection opens, so that a reload counts for the next connections and
/// leaves open ones alone. A handshake not completed within `handshakeTimeout` closes the connection
/// (``TLSHandshakeTimeoutHandler``).
struct TLSServerChannel<Child: ServerChildChannel>: ServerChildChannel {
    typealias Value = Child.Value

    let certificate: APICertificate?
    let handshakeTimeout: TimeAmount
    let child: Child

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let certificate else { return child.setup(channel: channel, logger: logger) }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: certificate.context))
            try channel.pipeline.syncOperations.addHandler(TLSHandshakeTimeoutHandler(timeout: handshakeTimeout, logger: logger))
        }.flatMap {
            child.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await child.handle(value: value, logger: logger)
    }
}

/// Hummingbird's HTTP/1 channel (with or without WebSocket upgrades) with ``ConnectionNotesHandler``,
/// ``ConnectionLimitHandler`` and ``RequestReadHandler`` in front of its HTTP decoder, where they see the raw bytes.
struct GuardedHTTP1Channel<Child: ServerChildChannel>: ServerChildChannel {
    typealias Value = Child.Value

    let http1: Child
    let counter: ConnectionCounter
    let readTimeout: TimeAmount
    let maximumBodySize: Int

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionNotesHandler())
            try channel.pipeline.syncOperations.addHandler(ConnectionLimitHandler(counter: counter))
            try channel.pipeline.syncOperations.addHandler(RequestReadHandler(readTimeout: readTimeout, maximumBodySize: maximumBodySize))
        }.flatMap {
            http1.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
