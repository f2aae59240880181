import Synchronization
import VampPulse

#if canImport(Glibc)
import Glibc
#endif

/// The time Pulse reads: the second a log line arrived in, and the waits of its once-a-second loop. Tests give one
/// that moves when they say.
package protocol PulseClock: Sendable {
    /// Seconds since 1970 (UTC) now, with a fraction.
    var now: Double { get }
    /// Waits until ``now`` reaches `deadline`; throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Double) async throws
}

/// The machine's wall clock (`CLOCK_REALTIME`) and `Task.sleep`.
package struct SystemPulseClock: PulseClock {
    /// The wall clock.
    package init() {}

    package var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    package func sleep(until deadline: Double) async throws {
        let wait = deadline - now
        guard wait > 0 else { return try Task.checkCancellation() }
        try await Task.sleep(for: .nanoseconds(Int64(wait * 1e9)))
    }
}

/// The agent's Pulse aggregator behind a lock, fed on the thread that receives HAProxy's datagrams (no queue between
/// them: a line is parsed where it arrives, outside the lock, and counted under it), and emptied once a second by
/// the ``PulseTicker``.
final class PulseRecorder: Sendable {
    private let aggregator: Mutex<PulseAggregator>
    let clock: any PulseClock

    init(agent: String, clock: any PulseClock) {
        aggregator = Mutex(PulseAggregator(agent: agent))
        self.clock = clock
    }

    /// The agent's name in its buckets.
    var agent: String { aggregator.withLock { $0.agent } }

    private var currentSecond: Int64 { Int64(clock.now.rounded(.down)) }

    /// Counts lines received together (the syslog header already off), and `unparsed` datagrams that were not a log
    /// line or that HAProxy cut at its `len`: parsed outside the lock, counted under it at once.
    func record(lines: [UnsafeRawBufferPointer], unparsed: Int) {
        guard !lines.isEmpty || unparsed > 0 else { return }
        var records: [LogRecord] = []
        records.reserveCapacity(lines.count)
        var unreadable = unparsed
        for line in lines {
            if let record = line.withMemoryRebound(to: UInt8.self, { LogRecord.parse(bytes: $0) }) {
                records.append(record)
            } else {
                unreadable += 1
            }
        }
        let second = currentSecond
        aggregator.withLock { aggregator in
            for record in records { aggregator.record(record, at: second) }
            for _ in 0..<unreadable { aggregator.recordUnparsed(at: second) }
        }
    }

    /// Adds HAProxy's own request counts per frontend (their growth) to `second`.
    func recordHAProxyCounts(_ counts: [String: UInt64], at second: Int64) {
        aggregator.withLock { $0.recordHAProxyCounts(counts, at: second) }
    }

    /// Hands over the buckets of the seconds before `second`, oldest first.
    func close(before second: Int64) -> [PulseBucket] {
        aggregator.withLock { $0.close(before: second) }
    }

    /// Lines read since the start, and those that were not a log line.
    var lines: (total: UInt64, unparsed: UInt64) { aggregator.withLock { ($0.lines, $0.unparsedLines) } }
}
