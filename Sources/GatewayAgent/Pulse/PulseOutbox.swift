import VampPulse

/// The buckets a separate agent has closed and `vamp-server` has not taken yet: bounded to the newest ``span``
/// seconds (and at most ``span`` buckets), so an unreachable server costs a fixed amount of memory. Older buckets are
/// dropped first and counted. A value: the pusher takes a batch, sends it, and removes what the server answered for;
/// a bucket sent again after a failure replaces the one the server may have kept, so nothing counts twice.
struct PulseOutbox: Sendable {
    /// How many seconds of buckets are kept.
    let span: Int64
    /// Waiting buckets, oldest first; one per second.
    private(set) var buckets: [PulseBucket] = []
    /// Buckets dropped because the backlog was full, since the start.
    private(set) var dropped: UInt64 = 0

    init(span: Int64 = 60) { self.span = max(span, 1) }

    /// Adds closed buckets and drops what is now older than `span` seconds before `now` (or beyond `span` buckets).
    mutating func add(_ closed: [PulseBucket], now: Int64) {
        buckets.append(contentsOf: closed)
        // At most `span` + a few buckets, once a second.
        buckets.sort { $0.second < $1.second }
        let oldest = now - span
        let expired = buckets.prefix { $0.second < oldest }.count
        let excess = max(buckets.count - expired - Int(span), 0)
        let cut = expired + excess
        if cut > 0 {
            buckets.removeFirst(cut)
            dropped += UInt64(cut)
        }
    }

    /// The oldest `limit` waiting buckets: the next batch to send.
    func batch(limit: Int) -> [PulseBucket] { Array(buckets.prefix(limit)) }

    /// Forgets the buckets of `seconds` (sent); one dropped meanwhile is already gone.
    mutating func remove(seconds: Set<Int64>) {
        buckets.removeAll { seconds.contains($0.second) }
    }

    /// Whether nothing waits.
    var isEmpty: Bool { buckets.isEmpty }
}
