/// An agent's side of Pulse: counts HAProxy's log lines per ``PulseKey`` in one-second buckets and hands the
/// buckets over once their second is past. A value type with no clock of its own: the caller says which second a
/// line arrived in, so tests drive it with plain numbers.
///
/// A line is counted in the second it arrived, never earlier than a second already handed over: when the clock
/// goes back, lines go to the next open second instead, so a bucket is never sent twice with different figures.
public struct PulseAggregator: Sendable {
    /// The agent's name in its buckets.
    public let agent: String
    private var open: [Int64: Bucket] = [:]
    private var lastClosed: Int64 = .min
    /// Lines read since the start.
    public private(set) var lines: UInt64 = 0
    /// Lines that were not a JSON log line since the start.
    public private(set) var unparsedLines: UInt64 = 0

    struct Bucket {
        var figures: [PulseKey: PulseFigures] = [:]
        var unparsed: UInt64 = 0
        var haproxyCounts: [String: UInt64]?
    }

    /// Creates an aggregator for the agent `agent`.
    public init(agent: String) { self.agent = agent }

    private func second(_ second: Int64) -> Int64 { lastClosed == .min ? second : max(second, lastClosed + 1) }

    /// Reads and counts one line (the syslog header already taken off); a line that is not a log line is counted
    /// as such.
    public mutating func record(line: some StringProtocol, at second: Int64) {
        if let record = LogRecord.parse(line) { self.record(record, at: second) } else { recordUnparsed(at: second) }
    }

    /// Counts one request.
    public mutating func record(_ record: LogRecord, at second: Int64) {
        lines += 1
        open[self.second(second), default: Bucket()].figures[record.key, default: PulseFigures()].record(record)
    }

    /// Counts a line that was not a log line.
    public mutating func recordUnparsed(at second: Int64) {
        lines += 1
        unparsedLines += 1
        open[self.second(second), default: Bucket()].unparsed += 1
    }

    /// Adds HAProxy's own request counts per frontend (the growth of its counters) to a second. Call it at every
    /// reading of the counters, also with none: a bucket that carries counts (even empty) tells the server that its
    /// lines are to be compared with them.
    public mutating func recordHAProxyCounts(_ counts: [String: UInt64], at second: Int64) {
        let slot = self.second(second)
        var bucket = open[slot] ?? Bucket()
        var merged = bucket.haproxyCounts ?? [:]
        for (frontend, count) in counts { merged[frontend, default: 0] += count }
        bucket.haproxyCounts = merged
        open[slot] = bucket
    }

    /// Hands over every bucket of a second before `second`, oldest first, and forgets them. After the clock went
    /// back, the second lines are counted in moves on by one at each call, so figures keep flowing.
    public mutating func close(before second: Int64) -> [PulseBucket] {
        let limit = lastClosed == .min || second > lastClosed ? second : lastClosed + 2
        let due = open.keys.filter { $0 < limit }.sorted()
        guard !due.isEmpty else { return [] }
        var closed: [PulseBucket] = []
        closed.reserveCapacity(due.count)
        for slot in due {
            guard let bucket = open.removeValue(forKey: slot) else { continue }
            closed.append(PulseBucket(
                agent: agent, second: slot,
                entries: bucket.figures.sorted { $0.key < $1.key }.map { PulseBucket.Entry(key: $0.key, figures: $0.value) },
                unparsed: bucket.unparsed, haproxyCounts: bucket.haproxyCounts))
            lastClosed = max(lastClosed, slot)
        }
        return closed
    }
}
