public import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One TCP connection to a server on 127.0.0.1, plain or TLS (trusting a CA file), that a test writes raw bytes to
/// and reads what comes back: for requests that stay open (event streams, WebSocket upgrades) and for one
/// connection kept across a server's change (a certificate reload).
public final class TestConnection: Sendable {
    let channel: any Channel
    let collector: Collector

    /// Bytes received and whether the server closed.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            state.withLock { $0.bytes += buffer.readableBytesView }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.closed = true }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects to `127.0.0.1:port`; with `caFile`, over TLS verifying the server's certificate against that CA (for
    /// the name `serverName`).
    public static func open(port: Int, caFile: URL? = nil, serverName: String = "localhost") async throws -> TestConnection {
        let context = try caFile.map { file in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file.path))
            return try NIOSSLContext(configuration: configuration)
        }
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TestConnection(channel: channel, collector: collector)
    }

    /// Writes `text`.
    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Everything received so far.
    public var received: String { collector.state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

    /// Whether the server closed the connection.
    public var isClosed: Bool { collector.state.withLock { $0.closed } }

    /// Waits until what was received satisfies `condition` (or the connection closed); returns it.
    @discardableResult
    public func read(timeout: Duration = .seconds(10), until condition: @Sendable (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = received
            if condition(text) || isClosed { return text }
            guard ContinuousClock.now < deadline else { throw FixtureError("no such answer within \(timeout); received: \(text.prefix(500))") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Forgets what was received so far (before the next request on the connection).
    public func clear() { collector.state.withLock { $0.bytes = [] } }

    /// The serial number of the server's certificate (hex, upper case) on a TLS connection.
    public func peerCertificateSerial() async throws -> String? {
        try await channel.eventLoop.submit { [channel] in
            let handler = try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            return handler.peerCertificate.map { $0.serialNumber.map { String(format: "%02X", $0) }.joined() }
        }.get()
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close().get()
    }
}
