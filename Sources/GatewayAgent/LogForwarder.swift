#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix

/// Receives HAProxy's syslog datagrams on a UDP port of 127.0.0.1 and/or a unix datagram socket,
/// strips the syslog header and sends each JSON line to Logstash over UDP. Lines wait in a bounded buffer that drops
/// the oldest when Logstash is slow or away, so HAProxy is never slowed down and memory stays
/// bounded; drops are counted. After a send error the sender pauses `retryTimeout` and
/// reconnects, so forwarding resumes when Logstash returns.
struct LogForwarder {
    let listenPort: Int?
    let socketPath: String?
    let logstash: (host: String, port: Int)?
    let capacity: Int
    let retryTimeout: Duration
    let metrics: AgentMetrics
    let logger: Logger

    /// The JSON part of a syslog line: everything from the first `{` after `]: ` (or the first `{`).
    static func message(ofSyslog line: String) -> String? {
        if let header = line.firstRange(of: "]: ") {
            let rest = line[header.upperBound...]
            return rest.first == "{" ? String(rest).trimmingTrailingNewlines : nil
        }
        return line.firstIndex(of: "{").map { String(line[$0...]).trimmingTrailingNewlines }
    }

    func run() async throws {
        let (lines, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(capacity))
        let metrics = self.metrics
        var receiver: (any Channel)?
        if let listenPort {
            receiver = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                // HAProxy sends up to `len 8192`; NIO's default 2048-byte buffer would cut lines.
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65536))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SyslogHandler(continuation: continuation, metrics: metrics))
                    }
                }
                .bind(host: "127.0.0.1", port: listenPort).get()
        }
        defer { receiver?.close(promise: nil) }
        let socketReceiver = try socketPath.map { try UnixDatagramReceiver(path: $0) }
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let socketReceiver {
                    group.addTask {
                        await socketReceiver.run { datagram in Self.accept(datagram, into: continuation, metrics: metrics) }
                    }
                }
                try await send(lines)
                group.cancelAll()
            }
        } onCancel: {
            continuation.finish()
        }
    }

    /// Counts a received datagram and queues its JSON line; a line HAProxy cut at `len` is not a
    /// whole JSON object: counted, not forwarded.
    static func accept(_ datagram: String, into continuation: AsyncStream<String>.Continuation, metrics: AgentMetrics) {
        guard let line = message(ofSyslog: datagram) else { return }
        metrics.update { $0.logLinesReceived += 1 }
        guard line.hasSuffix("}") else {
            metrics.update { $0.logLinesTruncated += 1 }
            return
        }
        if case .dropped = continuation.yield(line) {
            metrics.update { $0.logLinesDropped += 1 }
        }
    }

    private func send(_ lines: AsyncStream<String>) async throws {
        guard let logstash else {
            for await _ in lines { metrics.update { $0.logLinesDropped += 1 } }
            return
        }
        var channel: (any Channel)?
        for await line in lines {
            do {
                if channel == nil {
                    channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(host: logstash.host, port: logstash.port).get()
                }
                guard let connected = channel, let remote = connected.remoteAddress else { throw GatewayAgentError("not connected") }
                let buffer = connected.allocator.buffer(string: line)
                try await connected.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: buffer)).get()
                metrics.update { $0.logLinesForwarded += 1 }
            } catch {
                // Logstash is away (ICMP port unreachable on the connected socket) or the
                // address does not resolve: drop this line, pause, reconnect.
                metrics.update { $0.logLinesDropped += 1 }
                logger.debug("log forwarding failed", metadata: ["vamp.logstash": "\(logstash.host):\(logstash.port)", "vamp.error": "\(error)"])
                try? await channel?.close()
                channel = nil
                try? await Task.sleep(for: retryTimeout)
            }
        }
        try? await channel?.close()
    }
}

final class SyslogHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let continuation: AsyncStream<String>.Continuation
    let metrics: AgentMetrics

    init(continuation: AsyncStream<String>.Continuation, metrics: AgentMetrics) {
        self.continuation = continuation
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        LogForwarder.accept(String(buffer: unwrapInboundIn(data).data), into: continuation, metrics: metrics)
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while text.hasSuffix("\n") || text.hasSuffix("\r") || text.hasSuffix("\0") { text.removeLast() }
        return text
    }
}
