#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix

/// Receives HAProxy's syslog datagrams on a UDP port of 127.0.0.1 and/or a unix datagram socket
/// (``DatagramReceiver``) and hands each to the ``LogSinks`` on the receiving thread: Logstash over UDP (when
/// configured) and the Pulse aggregator (when on).
/// Lines for Logstash wait in a bounded buffer that drops the oldest when Logstash is slow or away, so HAProxy is
/// never slowed down and memory stays bounded; drops are counted. After a send error the sender pauses
/// `retryTimeout` and reconnects, so forwarding resumes when Logstash returns.
struct LogForwarder {
    let listenPort: Int?
    let socketPath: String?
    let logstash: (host: String, port: Int)?
    let capacity: Int
    let retryTimeout: Duration
    let metrics: AgentMetrics
    /// The Pulse aggregator, or nil when Pulse is off.
    let pulse: PulseRecorder?
    let logger: Logger

    func run() async throws {
        let (lines, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(capacity))
        let sinks = LogSinks(forwarding: logstash == nil ? nil : continuation, metrics: metrics, pulse: pulse)
        let receivers = try [listenPort.map { try DatagramReceiver(udpPort: $0) }, socketPath.map { try DatagramReceiver(path: $0) }]
            .compactMap { $0 }
        if socketPath != nil, let limit = DatagramReceiver.queueLimit, limit < 100 {
            logger.notice(
                "the log socket queues at most net.unix.max_dgram_qlen lines; on a busy host HAProxy drops what does not fit (counted in vamp_gateway_agent_pulse_haproxy_dropped_lines_total): raise it (sysctl -w net.unix.max_dgram_qlen=1000) or log over UDP (--log-port)",
                metadata: ["vamp.net.unix.max_dgram_qlen": "\(limit)"])
        }
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for receiver in receivers {
                    group.addTask { await receiver.run { datagrams in sinks.accept(datagrams) } }
                }
                if logstash != nil {
                    try await send(lines)
                } else {
                    // Nothing to send: wait for the stop (the stream ends on cancellation).
                    for await _ in lines {}
                }
                group.cancelAll()
            }
        } onCancel: {
            continuation.finish()
        }
    }

    private func send(_ lines: AsyncStream<String>) async throws {
        guard let logstash else { return }
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
