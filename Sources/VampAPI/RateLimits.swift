import Synchronization

/// How many requests one token may make, and how many event streams it may hold open, through the API's router
/// (`vamp.http-api.rate-limit.*`, `vamp.http-api.max-event-streams-per-token`). Requests without a token are counted
/// by their client address; on a server without authentication, every client by its address.
public struct RateLimits: Sendable, Hashable {
    /// Requests a second one token may make on average (`vamp.http-api.rate-limit.requests-per-second`); `nil`: no
    /// limit (the default). Over it: 429 with `Retry-After`.
    public var requestsPerSecond: Double?
    /// Requests a token may make at once after a quiet time (`vamp.http-api.rate-limit.burst`): the size of its bucket.
    public var burst: Int
    /// Event streams one token may have open at once: `GET /events/stream` and `/websocket` connections
    /// (`vamp.http-api.max-event-streams-per-token`, 64); `nil`: no limit. The next gets 429.
    public var maximumEventStreams: Int?

    /// Limits with the defaults: no request rate limit, 64 event streams a token; a burst of twice the rate (at
    /// least 1) when `burst` is not given.
    public init(requestsPerSecond: Double? = nil, burst: Int? = nil, maximumEventStreams: Int? = 64) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst ?? Self.defaultBurst(requestsPerSecond: requestsPerSecond)
        self.maximumEventStreams = maximumEventStreams
    }

    /// Twice the rate, at least 1: a client that keeps to the rate never waits, one that sends a page's requests at
    /// once has room for them.
    public static func defaultBurst(requestsPerSecond: Double?) -> Int {
        max(1, Int((2 * (requestsPerSecond ?? 0)).rounded(.up)))
    }
}

/// Who a request is counted as: a token by its name, else the client's address.
enum RateKey: Hashable, Sendable, CustomStringConvertible {
    case token(String)
    case address(String)

    var description: String {
        switch self {
        case .token(let name): "token '\(name)'"
        case .address(let address): "client \(address)"
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `rate` a second. A pure value: time comes in as the
/// duration since an origin the owner chose, so that a test decides what time it is.
struct TokenBucket: Sendable, Hashable {
    /// What a request is told.
    enum Decision: Sendable, Hashable {
        case allowed
        /// Refused; a request is allowed again after this many whole seconds (at least 1).
        case refused(retryAfter: Int)
    }

    /// Requests that may be made now (fractions fill up over time).
    private(set) var available: Double
    /// When ``available`` was last brought up to date.
    private(set) var updated: Duration

    /// A full bucket at `now`.
    init(burst: Int, now: Duration) {
        available = Double(burst)
        updated = now
    }

    /// Takes one request out of the bucket when there is one; else says how long until there is.
    mutating func take(now: Duration, rate: Double, burst: Int) -> Decision {
        refill(now: now, rate: rate, burst: burst)
        if available >= 1 {
            available -= 1
            return .allowed
        }
        let wait = (1 - available) / rate
        return .refused(retryAfter: max(1, Int(wait.rounded(.up))))
    }

    /// Whether the bucket is full at `now`: one that is can be forgotten and made again.
    func isFull(now: Duration, rate: Double, burst: Int) -> Bool {
        var copy = self
        copy.refill(now: now, rate: rate, burst: burst)
        return copy.available >= Double(burst)
    }

    private mutating func refill(now: Duration, rate: Double, burst: Int) {
        let elapsed = now > updated ? Self.seconds(now - updated) : 0
        available = min(Double(burst), available + elapsed * rate)
        updated = max(updated, now)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The buckets of every token and client address of one router, and the event streams each has open.
final class RateLimiter: Sendable {
    let limits: RateLimits
    /// The time since the limiter's origin; a test passes its own clock.
    let now: @Sendable () -> Duration
    private let buckets = Mutex<[RateKey: TokenBucket]>([:])
    private let streams = Mutex<[RateKey: Int]>([:])
    /// Buckets kept before the full ones are forgotten: every client address gets one, and addresses are many.
    static let bucketsKept = 10_000

    init(limits: RateLimits, now: (@Sendable () -> Duration)? = nil) {
        self.limits = limits
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { ContinuousClock.now - origin }
        }
    }

    /// Counts one request of `key`.
    func admit(_ key: RateKey) -> TokenBucket.Decision {
        guard let rate = limits.requestsPerSecond, rate > 0 else { return .allowed }
        let burst = limits.burst, now = now()
        return buckets.withLock { buckets in
            if buckets.count >= Self.bucketsKept, buckets[key] == nil {
                buckets = buckets.filter { !$0.value.isFull(now: now, rate: rate, burst: burst) }
            }
            var bucket = buckets[key] ?? TokenBucket(burst: burst, now: now)
            let decision = bucket.take(now: now, rate: rate, burst: burst)
            buckets[key] = bucket
            return decision
        }
    }

    /// A slot for one more event stream of `key`, or `nil` when it has ``RateLimits/maximumEventStreams`` open.
    func openStream(_ key: RateKey) -> EventStreamSlot? {
        guard let maximum = limits.maximumEventStreams else { return EventStreamSlot(limiter: nil, key: key) }
        let taken = streams.withLock { streams in
            let open = streams[key, default: 0]
            guard open < maximum else { return false }
            streams[key] = open + 1
            return true
        }
        return taken ? EventStreamSlot(limiter: self, key: key) : nil
    }

    /// Event streams `key` has open.
    func openStreams(_ key: RateKey) -> Int { streams.withLock { $0[key, default: 0] } }

    fileprivate func closeStream(_ key: RateKey) {
        streams.withLock { streams in
            let open = streams[key, default: 1] - 1
            streams[key] = open > 0 ? open : nil
        }
    }
}

/// One open event stream's place in its token's count: given back by ``close()``, or when the last reference goes
/// (a response that was never written, a WebSocket upgrade that did not happen).
final class EventStreamSlot: Sendable {
    private let limiter: RateLimiter?
    private let key: RateKey
    private let open = Atomic<Bool>(true)

    fileprivate init(limiter: RateLimiter?, key: RateKey) {
        self.limiter = limiter
        self.key = key
    }

    func close() {
        guard open.exchange(false, ordering: .relaxed) else { return }
        limiter?.closeStream(key)
    }

    deinit { close() }
}
