import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// The limits ``VampHTTPAPI/server(configuration:router:)`` puts on connections, against clients that hold them open:
/// sending a request slowly (slowloris), stopping in the middle of a body, opening thousands.
public struct ConnectionLimits: Sendable {
    /// How long a request's head may take from its first byte, and how long a body may pause, while the server
    /// waits for it (`vamp.http-api.read-timeout`, 10 s); then 408 and the connection is closed.
    public var readTimeout: Duration
    /// How long a connection may stay open without a request, before its first or between two
    /// (`vamp.http-api.idle-timeout`, 75 s: longer than the pools of the usual clients keep idle connections, so that
    /// they close them first).
    public var idleTimeout: Duration
    /// How many connections one client address may have open (`vamp.http-api.max-connections-per-client`, 256).
    public var maximumPerClient: Int

    /// Limits with the defaults above.
    public init(readTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(75), maximumPerClient: Int = 256) {
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
        self.maximumPerClient = maximumPerClient
    }
}

/// The open connections of each client address, shared by the connections of one server.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a new connection from `client`; false (and not counted) when it has `limit` open already.
    func admit(_ client: String) -> Bool {
        open.withLock { open in
            let count = open[client, default: 0]
            guard count < limit else { return false }
            open[client] = count + 1
            return true
        }
    }

    /// A counted connection of `client` closed.
    func release(_ client: String) {
        open.withLock { open in
            let count = (open[client] ?? 1) - 1
            open[client] = count > 0 ? count : nil
        }
    }

    /// Connections open from `client` (for tests).
    func count(_ client: String) -> Int { open.withLock { $0[client, default: 0] } }
}

/// First in a connection's pipeline: counts it against its client address and, past the limit, answers 429 with
/// `{"message": ...}` naming the setting, drops what the client sends, and closes.
final class ConnectionLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let counter: ConnectionCounter
    /// The address counted, until the connection closes.
    private var counted: String?
    private var refused = false

    init(counter: ConnectionCounter) {
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard counted == nil, !refused else { return }
        // Unix sockets and the like have no address: one bucket for them all.
        let client = context.channel.remoteAddress?.ipAddress ?? "local"
        if counter.admit(client) {
            counted = client
            return
        }
        refused = true
        let message = "\(client) has \(counter.limit) connections open to this server, the most one client address may have "
            + "(vamp.http-api.max-connections-per-client); close some, or send more requests on each (keep-alive)"
        RawAnswer.send(.tooManyRequests, message, on: context)
    }

    private func release() {
        guard let client = counted else { return }
        counted = nil
        counter.release(client)
    }
}

/// An HTTP/1.1 answer written as bytes, from a handler before the HTTP encoder, after which the connection closes.
enum RawAnswer {
    /// How long what the client still sends after the answer is read and dropped before the connection is closed
    /// outright: closing with unread data resets the connection, and a reset can make the client lose the answer.
    static let linger = TimeAmount.seconds(1)

    /// Writes `{"message": message}` with `status`, closes the sending side, and the connection after ``linger``.
    /// No `Connection: close`, as ``ContentLengthLimitHandler`` explains: the end of the stream says it.
    static func send(_ status: HTTPResponse.Status, _ message: String, on context: ChannelHandlerContext) {
        let body = json(message)
        let text = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Cache-Control: no-store\r\n\r\n" + body
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(ByteBuffer(string: text))).whenComplete { _ in
            let context = bound.value
            context.close(mode: .output, promise: nil)
            context.eventLoop.scheduleTask(in: linger) { bound.value.close(promise: nil) }
        }
    }

    /// `{"message": message}`.
    static func json(_ message: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: ["message": message], options: [.withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
