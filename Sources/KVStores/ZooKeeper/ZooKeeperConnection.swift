#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A watch notification: event type (1 created, 2 deleted, 3 data changed, 4 children changed)
/// and the node's path.
struct ZKWatchEvent: Sendable {
    var type: Int32
    var path: String
}

/// The answer to a ConnectRequest.
struct ZKConnectResponse: Sendable {
    var timeout: Int32
    var sessionId: Int64
    var password: [UInt8]
}

/// A reply: its error code and, when the code is 0, the response record.
struct ZKReply: Sendable {
    var error: Int32
    var body: ByteBuffer
}

/// The state one TCP connection shares between its channel handler (event loop) and callers.
final class ZKConnectionState: Sendable {
    struct Inner {
        var handshake: CheckedContinuation<ZKConnectResponse, any Error>?
        var handshakeDone = false
        var pending: [Int32: CheckedContinuation<ZKReply, any Error>] = [:]
        var nextXid: Int32 = 1
        var closed = false
        var lastZxid: Int64
        var lastReceived = ContinuousClock.now
        /// Why the channel is closing, when it says (a TLS failure): what the waiters get instead of
        /// ``ZKConnectionLost``.
        var failure: (any Error)?
    }

    let inner: Mutex<Inner>
    let onWatchEvent: @Sendable (ZKWatchEvent) -> Void
    let onClose: @Sendable () -> Void

    init(
        lastZxid: Int64, onWatchEvent: @escaping @Sendable (ZKWatchEvent) -> Void,
        onClose: @escaping @Sendable () -> Void
    ) {
        self.inner = Mutex(Inner(lastZxid: lastZxid))
        self.onWatchEvent = onWatchEvent
        self.onClose = onClose
    }

    /// Handles one inbound frame.
    func receive(_ frame: ByteBuffer) throws {
        var frame = frame
        let handshake: CheckedContinuation<ZKConnectResponse, any Error>? = inner.withLock { inner in
            inner.lastReceived = .now
            if inner.handshakeDone { return nil }
            inner.handshakeDone = true
            let waiter = inner.handshake
            inner.handshake = nil
            return waiter
        }
        if let handshake {
            do {
                _ = try frame.readJuteInt()  // protocolVersion
                let timeout = try frame.readJuteInt()
                let sessionId = try frame.readJuteLong()
                let password = try frame.readJuteBuffer() ?? []
                handshake.resume(returning: ZKConnectResponse(timeout: timeout, sessionId: sessionId, password: password))
            } catch {
                handshake.resume(throwing: error)
                throw error
            }
            return
        }
        let xid = try frame.readJuteInt()
        let zxid = try frame.readJuteLong()
        let error = try frame.readJuteInt()
        if zxid > 0 { inner.withLock { $0.lastZxid = max($0.lastZxid, zxid) } }
        switch xid {
        case -1:
            let type = try frame.readJuteInt()
            _ = try frame.readJuteInt()  // state
            let path = try frame.readJuteString() ?? ""
            onWatchEvent(ZKWatchEvent(type: type, path: path))
        case -2:
            break  // ping reply: liveness only
        default:
            let waiter = inner.withLock { $0.pending.removeValue(forKey: xid) }
            guard let waiter else { throw ZKDecodeError(what: "reply for unknown xid \(xid)") }
            waiter.resume(returning: ZKReply(error: error, body: frame))
        }
    }

    /// Fails everything still waiting; called once when the channel goes inactive.
    func close(_ error: any Error) {
        let (handshake, pending, wasClosed) = inner.withLock { state in
            defer {
                state.closed = true
                state.pending = [:]
                state.handshake = nil
            }
            return (state.handshake, state.pending, state.closed)
        }
        handshake?.resume(throwing: error)
        for waiter in pending.values { waiter.resume(throwing: error) }
        if !wasClosed { onClose() }
    }
}

/// Feeds frames into the connection state and reports the channel's end.
final class ZKClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let state: ZKConnectionState

    init(state: ZKConnectionState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try state.receive(Self.unwrapInboundIn(data))
        } catch {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let failure = ZKTLSFailure(error) {
            state.inner.withLock { if $0.failure == nil { $0.failure = failure } }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.close(state.inner.withLock { $0.failure } ?? ZKConnectionLost())
        context.fireChannelInactive()
    }
}

struct ZKConnectionLost: Error, CustomStringConvertible {
    var description: String { "the connection to ZooKeeper was lost" }
}

/// One TCP connection to a ZooKeeper server with its session handshake done.
final class ZooKeeperConnection: Sendable {
    let channel: any Channel
    let state: ZKConnectionState
    let response: ZKConnectResponse

    var isOpen: Bool { !state.inner.withLock { $0.closed } }
    var lastZxid: Int64 { state.inner.withLock { $0.lastZxid } }

    /// Connects to `host:port` (over TLS with `tls`), sends the ConnectRequest (resuming `sessionId`
    /// when not 0) and waits for the ConnectResponse. Starts pings every T/3 and closes the
    /// connection when nothing arrived for 2T/3.
    static func open(
        host: String, port: Int, tls: NIOSSLContext?, connectTimeout: Duration, sessionTimeout: Int32,
        sessionId: Int64, password: [UInt8], lastZxid: Int64,
        onWatchEvent: @escaping @Sendable (ZKWatchEvent) -> Void,
        onClose: @escaping @Sendable () -> Void
    ) async throws -> ZooKeeperConnection {
        let state = ZKConnectionState(lastZxid: lastZxid, onWatchEvent: onWatchEvent, onClose: onClose)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(connectTimeout.nanoseconds / 1_000_000))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // Frames go through TLS; the ConnectRequest waits in it until the handshake is done.
                        try channel.pipeline.syncOperations.addHandler(try ZKTLSFailure.clientHandler(tls, host: host))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ZKFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(ZKClientHandler(state: state))
                }
            }
            .connect(host: host, port: port).get()
        let request = connectRequest(
            channel.allocator, lastZxid: lastZxid, sessionTimeout: sessionTimeout, sessionId: sessionId,
            password: password)
        // A server that accepts TCP but never answers (frozen, overloaded, a TLS handshake that stalls) must not hang us.
        let handshakeTimeout = channel.eventLoop.scheduleTask(
            in: .nanoseconds(connectTimeout.nanoseconds)
        ) { channel.close(promise: nil) }
        defer { handshakeTimeout.cancel() }
        let response: ZKConnectResponse
        do {
            response = try await withCheckedThrowingContinuation { continuation in
                let closed = state.inner.withLock { inner -> (any Error)? in
                    if inner.closed { return inner.failure ?? ZKConnectionLost() }
                    inner.handshake = continuation
                    return nil
                }
                if let closed {
                    continuation.resume(throwing: closed)
                    return
                }
                channel.writeAndFlush(request, promise: nil)
            }
        } catch var failure as ZKTLSFailure {
            channel.close(promise: nil)
            failure.host = host
            throw failure
        } catch {
            channel.close(promise: nil)
            throw error
        }
        let connection = ZooKeeperConnection(channel: channel, state: state, response: response)
        if response.timeout > 0 { connection.startPings(timeoutMilliseconds: Int64(response.timeout)) }
        return connection
    }

    private init(channel: any Channel, state: ZKConnectionState, response: ZKConnectResponse) {
        self.channel = channel
        self.state = state
        self.response = response
    }

    private func startPings(timeoutMilliseconds: Int64) {
        let interval = TimeAmount.milliseconds(max(timeoutMilliseconds / 3, 100))
        let readTimeout = Duration.milliseconds(timeoutMilliseconds * 2 / 3)
        let channel = self.channel
        let state = self.state
        let ping = Self.frame(channel.allocator) { buffer in
            buffer.writeInteger(Int32(-2))
            buffer.writeInteger(ZKOp.ping.rawValue)
        }
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let silent = state.inner.withLock { ContinuousClock.now - $0.lastReceived }
            if silent > readTimeout {
                channel.close(promise: nil)  // the server is gone without closing the socket
            } else {
                channel.writeAndFlush(ping, promise: nil)
            }
        }
        channel.closeFuture.whenComplete { _ in task.cancel() }
    }

    /// Sends one request and waits for its reply.
    func request(_ op: ZKOp, _ record: (inout ByteBuffer) -> Void) async throws -> ZKReply {
        let xid = state.inner.withLock { inner -> Int32 in
            let xid = inner.nextXid
            inner.nextXid = xid == Int32.max ? 1 : xid + 1
            return xid
        }
        let message = Self.frame(channel.allocator) { buffer in
            buffer.writeInteger(xid)
            buffer.writeInteger(op.rawValue)
            record(&buffer)
        }
        let channel = self.channel
        let state = self.state
        return try await withCheckedThrowingContinuation { continuation in
            let closed = state.inner.withLock { inner -> Bool in
                if inner.closed { return true }
                inner.pending[xid] = continuation
                return false
            }
            if closed {
                continuation.resume(throwing: ZKConnectionLost())
                return
            }
            channel.writeAndFlush(message).whenFailure { _ in channel.close(promise: nil) }
        }
    }

    /// Ends the session politely (closeSession) and closes the socket.
    func close() async {
        _ = try? await request(.closeSession) { _ in }
        try? await channel.close()
    }

    /// The ConnectRequest frame (protocol 0, readOnly false); a zero session id asks for a new
    /// session, and then the password is 16 zero bytes.
    static func connectRequest(
        _ allocator: ByteBufferAllocator, lastZxid: Int64, sessionTimeout: Int32, sessionId: Int64, password: [UInt8]
    ) -> ByteBuffer {
        frame(allocator) { buffer in
            buffer.writeInteger(Int32(0))  // protocolVersion
            buffer.writeInteger(lastZxid)
            buffer.writeInteger(sessionTimeout)
            buffer.writeInteger(sessionId)
            buffer.writeJuteBuffer(password.count == 16 ? password : [UInt8](repeating: 0, count: 16))
            buffer.writeJuteBool(false)  // readOnly
        }
    }

    static func frame(_ allocator: ByteBufferAllocator, _ build: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128)
        buffer.writeInteger(Int32(0))
        build(&buffer)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}
