import VampPulse

/// HAProxy's count beside Pulse's, in total since the agent started, per frontend HAProxy serves: what `/metrics` and
/// `/health` show so that a datagram lost between HAProxy and the agent is visible. A value fed once a second.
///
/// A frontend enters when HAProxy lists it; its lines count from then on. HAProxy counts a request when it starts and
/// logs it when it ends, so the two agree once traffic is quiet. A frontend HAProxy no longer lists (its gateway was
/// removed) is retired into the totals once both counts agree, or after ``retireAfter`` reads, so the maps stay as
/// small as the configuration.
struct PulseAccounting: Sendable {
    /// Reads after which a frontend no longer listed is retired even if its counts differ.
    static let retireAfter = 60

    private(set) var haproxy: [String: UInt64] = [:]
    private(set) var counted: [String: UInt64] = [:]
    private var unlisted: [String: Int] = [:]
    private var retired: (haproxy: UInt64, counted: UInt64) = (0, 0)

    /// One read of HAProxy's counters: the frontends it lists now and their growth since the last read.
    mutating func read(listed: Set<String>, growth: [String: UInt64]) {
        for frontend in listed where haproxy[frontend] == nil {
            haproxy[frontend] = 0
            counted[frontend] = 0
        }
        for (frontend, grown) in growth { haproxy[frontend, default: 0] += grown }
        for frontend in listed { unlisted[frontend] = nil }
        for (frontend, total) in haproxy where !listed.contains(frontend) {
            let reads = unlisted[frontend, default: 0] + 1
            let lines = counted[frontend] ?? 0
            if lines == total || reads > Self.retireAfter {
                retired.haproxy += total
                retired.counted += lines
                haproxy[frontend] = nil
                counted[frontend] = nil
                unlisted[frontend] = nil
            } else {
                unlisted[frontend] = reads
            }
        }
    }

    /// Counts the requests of closed buckets on the frontends HAProxy lists.
    mutating func count(_ buckets: [PulseBucket]) {
        for bucket in buckets {
            for entry in bucket.entries where counted[entry.key.frontend] != nil {
                counted[entry.key.frontend, default: 0] += entry.figures.requests
            }
        }
    }

    /// Requests HAProxy counted and lines Pulse counted, on the same frontends, since the start.
    var totals: (haproxy: UInt64, counted: UInt64) {
        (haproxy.values.reduce(retired.haproxy, +), counted.values.reduce(retired.counted, +))
    }

    /// HAProxy's count less Pulse's per frontend, where they differ now (positive: lines missing or still on their
    /// way), the largest `limit` differences.
    func differences(limit: Int = 20) -> [String: Int] {
        let differing = haproxy.compactMap { frontend, total -> (String, Int)? in
            let difference = Int(clamping: Int64(clamping: total) - Int64(clamping: counted[frontend] ?? 0))
            return difference == 0 ? nil : (frontend, difference)
        }
        return Dictionary(differing.sorted { abs($0.1) > abs($1.1) }.prefix(limit).map { $0 }, uniquingKeysWith: { first, _ in first })
    }
}
