import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension GatewayAgent {
    /// Pulse's parts for one run: the recorder the log sinks feed, the once-a-second loop and, when the buckets go to
    /// `vamp-server` over HTTP, the pusher. Nothing when Pulse is off or there is no log receiver to feed it.
    func pulseParts() -> (recorder: PulseRecorder?, services: [ServiceGroupConfiguration.ServiceConfiguration], backlog: PulseBacklog?) {
        let settings = configuration.pulse
        guard settings.enabled, configuration.logPort != nil || configuration.logSocket != nil else {
            if settings.enabled {
                logger.info("Pulse is off: HAProxy logs to no receiver of this agent (no log socket, no log port)")
            }
            metrics.update { $0.pulseAgent = nil }
            pulseCounters.withLock { $0 = nil }
            return (nil, [], nil)
        }
        let startedAt = settings.clock.now
        let name = Self.pulseAgentName(configured: settings.name, workDirectory: configuration.workDirectory.path, startedAt: startedAt)
        let recorder = PulseRecorder(agent: name, clock: settings.clock)
        let backlog = settings.sink == nil && settings.server != nil ? PulseBacklog(span: settings.backlogSeconds) : nil
        let counters = PulseCounterReader(agent: self, recorder: recorder, startedAt: startedAt)
        pulseCounters.withLock { $0 = counters }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: PulseTicker(agent: self, recorder: recorder, counters: counters, backlog: backlog),
                  successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore),
        ]
        if let backlog, let server = settings.server {
            services.append(.init(
                service: PulsePusher(server: server, backlog: backlog, metrics: metrics, logger: logger),
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let destination = settings.sink != nil ? "in-process" : settings.server.map { "\($0.url)/api/v1/pulse" } ?? "none"
        if settings.sink == nil && settings.server == nil {
            logger.notice("Pulse counts HAProxy's log lines for /metrics only: no vamp-server to send its buckets to (--vamp-url)", metadata: [
                "vamp.pulse.agent": "\(name)",
            ])
        } else {
            logger.info("Pulse counts HAProxy's log lines", metadata: ["vamp.pulse.agent": "\(name)", "vamp.pulse.destination": "\(destination)"])
        }
        metrics.update { $0.pulseAgent = name }
        return (recorder, services, backlog)
    }

    /// Reads HAProxy's counters into the current second, before a reload: the old worker stops counting (and soon
    /// exits) once the new one serves, and what it counted since the last read would be lost.
    func readPulseCountersBeforeReload() async {
        guard let counters = pulseCounters.withLock({ $0 }) else { return }
        await counters.read(into: Int64(configuration.pulse.clock.now.rounded(.down)))
    }

    /// `<configured name or host name>:<work directory>#<start time in ms>`: unique per agent run.
    static func pulseAgentName(configured: String?, workDirectory: String, startedAt: Double) -> String {
        "\(configured ?? hostName()):\(workDirectory)#\(Int64(startedAt * 1000))"
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
