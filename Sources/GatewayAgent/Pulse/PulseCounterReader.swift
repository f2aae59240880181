import Synchronization
import VampPulse

/// Reads HAProxy's request counters for Pulse, once a second from the ``PulseTicker`` and right before each reload from
/// the applier (an old worker's last counts would otherwise go with it when it stops), and keeps what follows them
/// from read to read: the counters per worker (``HAProxyCounterTracker``) and HAProxy's count beside Pulse's
/// (``PulseAccounting``). Two reads may overlap: each takes a ticket when it starts, and one that ends after a later
/// one is dropped (the later one's totals hold its growth), so a count is never taken twice.
final class PulseCounterReader: Sendable {
    struct State {
        var tracker = HAProxyCounterTracker()
        /// The same for the log lines HAProxy could not send (under the key `dropped`).
        var dropped = HAProxyCounterTracker()
        var accounting = PulseAccounting()
        /// Proxies of the base sections and fragments (not Vamp's gateways), read again every ``excludedRefresh`` reads.
        var excluded: Set<String> = []
        var excludedAge = Int.max
        var issued = 0
        var applied = 0
    }

    static let excludedRefresh = 10

    private let agent: GatewayAgent
    private let recorder: PulseRecorder
    /// When the agent's run started (on the Pulse clock), to tell the workers that served before it.
    private let startedAt: Double
    private let state = Mutex(State())

    init(agent: GatewayAgent, recorder: PulseRecorder, startedAt: Double) {
        self.agent = agent
        self.recorder = recorder
        self.startedAt = startedAt
    }

    /// Reads every worker's counters and records their growth in `second`; false when they were not read (HAProxy not
    /// serving, the master not answering).
    @discardableResult
    func read(into second: Int64) async -> Bool {
        guard agent.configuration.pulse.readsHAProxyCounters, agent.haproxy.isReady else { return false }
        let ticket = state.withLock { state in
            state.issued += 1
            return state.issued
        }
        let refreshExcluded = state.withLock { $0.excludedAge >= Self.excludedRefresh }
        let prefix = refreshExcluded ? try? agent.composedPrefix() : nil
        guard let read = await agent.haproxy.frontendCounters() else {
            agent.metrics.update { $0.haproxyCounterReadFailures += 1 }
            return false
        }
        let uptime = Int(max(recorder.clock.now - startedAt, 0))
        let observed: (growth: [String: UInt64], dropped: UInt64)? = state.withLock { state in
            guard ticket > state.applied else { return nil }
            state.applied = ticket
            if let prefix {
                state.excluded = HAProxyCounters.proxies(definedIn: prefix)
                state.excludedAge = 0
            }
            state.excludedAge += 1
            let excluded = state.excluded
            let growth = state.tracker.observe(workers: read.workers, totals: read.totals, agentUptime: uptime).filter { !excluded.contains($0.key) }
            var listed = Set<String>()
            for totals in read.totals.values { listed.formUnion(totals.keys) }
            listed.subtract(excluded)
            state.accounting.read(listed: listed, growth: growth)
            let dropped = state.dropped.observe(
                workers: read.workers, totals: read.droppedLogs.mapValues { ["dropped": $0] }, agentUptime: uptime)["dropped"] ?? 0
            return (growth, dropped)
        }
        guard let observed else { return true }
        recorder.recordHAProxyCounts(observed.growth, at: second)
        if observed.dropped > 0 { agent.metrics.update { $0.haproxyDroppedLines += Int(clamping: observed.dropped) } }
        return true
    }

    /// Counts the requests of closed buckets beside HAProxy's, and returns both totals and the differences per frontend.
    func account(_ buckets: [PulseBucket]) -> (haproxy: UInt64, counted: UInt64, differences: [String: Int]) {
        state.withLock { state in
            state.accounting.count(buckets)
            let totals = state.accounting.totals
            return (totals.haproxy, totals.counted, state.accounting.differences())
        }
    }
}
