/// The server's memory of what the agents counted: buckets from any number of agents, merged exactly, over a
/// bounded time. The last ``Configuration/fineSpan`` seconds are kept by the second and by agent (an agent that
/// sends a second again replaces what it sent, so a retried request never counts twice); older seconds are merged
/// into slots of ``Configuration/coarseSlot`` seconds, and everything older than ``Configuration/retention`` is
/// forgotten. Times are seconds since 1970 on the server's clock; a value type, so tests drive it with numbers.
public struct PulseWindow: Sendable {
    /// How much the window keeps.
    public struct Configuration: Sendable, Hashable {
        /// How far back figures are kept, in seconds (600: ten minutes).
        public var retention: Int64
        /// How many recent seconds are kept by the second and by agent (60).
        public var fineSpan: Int64
        /// The width of the older slots, in seconds (10).
        public var coarseSlot: Int64
        /// How far ahead of the server's clock a bucket may be (an agent's clock that is ahead): 10 s. A bucket
        /// further ahead, or older than the retention, is refused and counted.
        public var tolerance: Int64

        /// Creates a configuration.
        public init(retention: Int64 = 600, fineSpan: Int64 = 60, coarseSlot: Int64 = 10, tolerance: Int64 = 10) {
            self.retention = max(retention, 1)
            self.fineSpan = max(1, min(fineSpan, self.retention))
            self.coarseSlot = max(coarseSlot, 1)
            self.tolerance = max(tolerance, 0)
        }
    }

    /// What became of a bucket.
    public enum Outcome: Sendable, Hashable {
        /// Kept.
        case accepted
        /// Kept in place of the same agent's bucket for the same second.
        case replaced
        /// Refused: its second is further ahead of the server's clock than the tolerance.
        case ahead
        /// Refused: its second is older than what the window keeps by agent.
        case tooOld
    }

    /// Counts of what came in and what could not be kept, since the start.
    public struct Counters: Sendable, Hashable {
        /// Buckets kept.
        public var accepted: UInt64 = 0
        /// Buckets refused as too far ahead or too old (an agent's clock far from the server's).
        public var refused: UInt64 = 0
        /// Requests in the buckets refused.
        public var refusedRequests: UInt64 = 0
    }

    /// The settings.
    public let configuration: Configuration
    /// What came in.
    public private(set) var counters = Counters()
    private var fine: [Int64: [String: Slot]] = [:]
    private var coarse: [Int64: Slot] = [:]

    /// What one agent (or, merged, every agent) counted in a slot.
    struct Slot: Sendable {
        var entries: [PulseKey: CompactFigures] = [:]
        var unparsed: UInt64 = 0
        var haproxyCounts: [String: UInt64] = [:]
        var counted: [String: UInt64] = [:]

        init() {}

        init(_ bucket: PulseBucket) {
            for entry in bucket.entries {
                entries[entry.key, default: CompactFigures()].add(CompactFigures(entry.figures))
                counted[entry.key.frontend, default: 0] += entry.figures.requests
            }
            unparsed = bucket.unparsed
            haproxyCounts = bucket.haproxyCounts ?? [:]
            if bucket.haproxyCounts == nil { counted = [:] }
        }

        mutating func add(_ other: Slot) {
            for (key, figures) in other.entries { entries[key, default: CompactFigures()].add(figures) }
            unparsed += other.unparsed
            for (frontend, count) in other.haproxyCounts { haproxyCounts[frontend, default: 0] += count }
            for (frontend, count) in other.counted { counted[frontend, default: 0] += count }
        }
    }

    /// An empty window.
    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    /// Keeps a bucket that arrived at `now`, and forgets what is past the retention.
    @discardableResult
    public mutating func insert(_ bucket: PulseBucket, now: Int64) -> Outcome {
        compact(now: now)
        if bucket.second > now + configuration.tolerance {
            refuse(bucket)
            return .ahead
        }
        if bucket.second <= now - configuration.fineSpan {
            refuse(bucket)
            return .tooOld
        }
        counters.accepted += 1
        let replaced = fine[bucket.second]?[bucket.agent] != nil
        fine[bucket.second, default: [:]][bucket.agent] = Slot(bucket)
        return replaced ? .replaced : .accepted
    }

    private mutating func refuse(_ bucket: PulseBucket) {
        counters.refused += 1
        counters.refusedRequests += bucket.requests
    }

    /// Merges the seconds past the fine span into coarse slots and forgets the slots past the retention.
    public mutating func compact(now: Int64) {
        let fineLimit = now - configuration.fineSpan
        for second in fine.keys where second <= fineLimit {
            guard let agents = fine.removeValue(forKey: second) else { continue }
            let slot = Self.floor(second, configuration.coarseSlot)
            for (_, figures) in agents { coarse[slot, default: Slot()].add(figures) }
        }
        let oldest = now - configuration.retention
        for slot in coarse.keys where slot + configuration.coarseSlot <= oldest { coarse.removeValue(forKey: slot) }
    }

    static func floor(_ value: Int64, _ step: Int64) -> Int64 {
        let remainder = value % step
        return remainder >= 0 ? value - remainder : value - remainder - step
    }

    /// The slots that cover `seconds` (coarse slots count when they start within it).
    private func slots(_ seconds: ClosedRange<Int64>) -> [Slot] {
        var found: [Slot] = []
        for (second, agents) in fine where seconds.contains(second) { found.append(contentsOf: agents.values) }
        for (slot, figures) in coarse where seconds.contains(slot) { found.append(figures) }
        return found
    }

    /// The figures of every key `include` accepts, over `seconds`, merged.
    public func figures(_ seconds: ClosedRange<Int64>, where include: (PulseKey) -> Bool) -> PulseFigures {
        var merged = CompactFigures()
        for slot in slots(seconds) {
            for (key, figures) in slot.entries where include(key) { merged.add(figures) }
        }
        return merged.figures
    }

    /// The figures of each key over `seconds`.
    public func figuresByKey(_ seconds: ClosedRange<Int64>) -> [PulseKey: PulseFigures] {
        var merged: [PulseKey: CompactFigures] = [:]
        for slot in slots(seconds) {
            for (key, figures) in slot.entries { merged[key, default: CompactFigures()].add(figures) }
        }
        return merged.mapValues(\.figures)
    }

    /// The lines the agents could not read over `seconds`, and per frontend the requests HAProxy counted and the
    /// agents counted, for the agents that read HAProxy's counters.
    public func accounting(_ seconds: ClosedRange<Int64>) -> (unparsed: UInt64, haproxy: [String: UInt64], counted: [String: UInt64]) {
        var unparsed: UInt64 = 0
        var haproxy: [String: UInt64] = [:]
        var counted: [String: UInt64] = [:]
        for slot in slots(seconds) {
            unparsed += slot.unparsed
            for (frontend, count) in slot.haproxyCounts { haproxy[frontend, default: 0] += count }
            for (frontend, count) in slot.counted { counted[frontend, default: 0] += count }
        }
        return (unparsed, haproxy, counted)
    }

    /// The seconds the window covers at `now` (the newest `retention` seconds up to `now`).
    public func span(now: Int64) -> ClosedRange<Int64> { (now - configuration.retention + 1)...now }
}

/// ``PulseFigures`` as the window keeps them: the histograms as sorted `value << 32 | count` words, a few bytes per
/// distinct time instead of a dense array.
struct CompactFigures: Sendable {
    var requests: UInt64 = 0
    var statuses: [UInt64] = [0, 0, 0, 0, 0]
    var bytes: UInt64 = 0
    var totalTime: [UInt64] = []
    var serverTime: [UInt64] = []

    init() {}

    init(_ figures: PulseFigures) {
        requests = figures.requests
        statuses = figures.statuses
        bytes = figures.bytes
        totalTime = Self.compact(figures.totalTime)
        serverTime = Self.compact(figures.serverTime)
    }

    static func compact(_ histogram: LatencyHistogram) -> [UInt64] {
        var words: [UInt64] = []
        for entry in histogram.recorded {
            var remaining = entry.count
            while remaining > 0 {
                let part = min(remaining, UInt64(UInt32.max))
                words.append(min(entry.milliseconds, UInt64(UInt32.max)) << 32 | part)
                remaining -= part
            }
        }
        return words
    }

    /// Merges two sorted word lists (equal values add their counts).
    static func merge(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var out: [UInt64] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i] >> 32 < b[j] >> 32) {
                out.append(a[i]); i += 1
            } else if i == a.count || b[j] >> 32 < a[i] >> 32 {
                out.append(b[j]); j += 1
            } else {
                let sum = (a[i] & 0xFFFF_FFFF) + (b[j] & 0xFFFF_FFFF)
                if sum <= UInt64(UInt32.max) {
                    out.append(a[i] & ~0xFFFF_FFFF | sum)
                } else {
                    out.append(a[i]); out.append(b[j])
                }
                i += 1; j += 1
            }
        }
        return out
    }

    mutating func add(_ other: CompactFigures) {
        requests += other.requests
        for index in 0..<5 { statuses[index] += other.statuses[index] }
        bytes += other.bytes
        totalTime = Self.merge(totalTime, other.totalTime)
        serverTime = Self.merge(serverTime, other.serverTime)
    }

    var figures: PulseFigures {
        var figures = PulseFigures()
        figures.requests = requests
        figures.statuses = statuses
        figures.bytes = bytes
        for word in totalTime { figures.totalTime.record(milliseconds: word >> 32, count: word & 0xFFFF_FFFF) }
        for word in serverTime { figures.serverTime.record(milliseconds: word >> 32, count: word & 0xFFFF_FFFF) }
        return figures
    }
}
