import Synchronization
import Testing
@testable import VampAPI

/// The token bucket and the limiter's counts, with a clock the test moves: what is allowed, what is refused, and
/// the `Retry-After` a refusal gives.
@Suite("Rate limits: token buckets and event stream slots")
struct RateLimitTests {
    /// A clock only the test moves.
    final class TestClock: Sendable {
        private let time = Mutex<Duration>(.zero)
        var now: Duration { time.withLock { $0 } }
        func advance(_ by: Duration) { time.withLock { $0 += by } }
    }

    @Test("a full bucket allows its burst at once, then refuses with the whole seconds until the next request is allowed")
    func burstThenRefusal() {
        var bucket = TokenBucket(burst: 3, now: .zero)
        for _ in 0..<3 { #expect(bucket.take(now: .zero, rate: 1, burst: 3) == .allowed) }
        #expect(bucket.take(now: .zero, rate: 1, burst: 3) == .refused(retryAfter: 1))
        // Half a token in: still refused, and still 1 s (rounded up, never 0).
        #expect(bucket.take(now: .milliseconds(500), rate: 1, burst: 3) == .refused(retryAfter: 1))
        #expect(bucket.take(now: .seconds(1), rate: 1, burst: 3) == .allowed)
        #expect(bucket.take(now: .seconds(1), rate: 1, burst: 3) == .refused(retryAfter: 1))
    }

    @Test("a slow rate says how long to wait: 0.1 a second is 10 s, 0.25 a second after 1 s is 3 s")
    func retryAfterAtSlowRates() {
        var slow = TokenBucket(burst: 1, now: .zero)
        #expect(slow.take(now: .zero, rate: 0.1, burst: 1) == .allowed)
        #expect(slow.take(now: .zero, rate: 0.1, burst: 1) == .refused(retryAfter: 10))
        var quarter = TokenBucket(burst: 1, now: .zero)
        #expect(quarter.take(now: .zero, rate: 0.25, burst: 1) == .allowed)
        #expect(quarter.take(now: .seconds(1), rate: 0.25, burst: 1) == .refused(retryAfter: 3))
        #expect(quarter.take(now: .seconds(4), rate: 0.25, burst: 1) == .allowed)
    }

    @Test("a quiet time refills no more than the burst; refused requests take nothing")
    func refillIsBounded() {
        var bucket = TokenBucket(burst: 2, now: .zero)
        #expect(bucket.take(now: .zero, rate: 10, burst: 2) == .allowed)
        #expect(bucket.take(now: .seconds(3600), rate: 10, burst: 2) == .allowed)
        #expect(bucket.take(now: .seconds(3600), rate: 10, burst: 2) == .allowed)
        #expect(bucket.take(now: .seconds(3600), rate: 10, burst: 2) == .refused(retryAfter: 1))
        for _ in 0..<100 { _ = bucket.take(now: .seconds(3600), rate: 10, burst: 2) }
        #expect(bucket.take(now: .seconds(3600) + .milliseconds(100), rate: 10, burst: 2) == .allowed)
        #expect(bucket.isFull(now: .seconds(3601), rate: 10, burst: 2))
    }

    @Test("each token and each client address has a bucket of its own; without a rate nothing is counted")
    func bucketsPerKey() {
        let clock = TestClock()
        let limiter = RateLimiter(limits: RateLimits(requestsPerSecond: 2, burst: 2), now: { clock.now })
        for key in [RateKey.token("ci"), .token("ui"), .address("127.0.0.1")] {
            #expect(limiter.admit(key) == .allowed)
            #expect(limiter.admit(key) == .allowed)
            #expect(limiter.admit(key) == .refused(retryAfter: 1))
        }
        clock.advance(.milliseconds(500))
        #expect(limiter.admit(.token("ci")) == .allowed)
        #expect(limiter.admit(.token("ci")) == .refused(retryAfter: 1))

        let open = RateLimiter(limits: RateLimits(), now: { clock.now })
        for _ in 0..<1000 { #expect(open.admit(.token("ci")) == .allowed) }
    }

    @Test("the burst is twice the rate unless given, at least 1")
    func defaultBurst() {
        #expect(RateLimits(requestsPerSecond: 10).burst == 20)
        #expect(RateLimits(requestsPerSecond: 0.2).burst == 1)
        #expect(RateLimits(requestsPerSecond: 10, burst: 3).burst == 3)
    }

    @Test("event streams: a token gets as many slots as the limit; a closed slot, or one dropped unclosed, is free again")
    func streamSlots() throws {
        let limiter = RateLimiter(limits: RateLimits(maximumEventStreams: 2))
        let first = try #require(limiter.openStream(.token("ci")))
        var second = limiter.openStream(.token("ci"))
        #expect(second != nil)
        #expect(limiter.openStream(.token("ci")) == nil)
        #expect(limiter.openStream(.token("ui")) != nil, "another token's streams are its own")
        first.close()
        first.close()
        #expect(limiter.openStreams(.token("ci")) == 1, "closing twice gives back one slot")
        second = nil
        #expect(limiter.openStreams(.token("ci")) == 0, "a slot nobody holds is given back")
        let unlimited = RateLimiter(limits: RateLimits(maximumEventStreams: nil))
        let slots = (0..<500).compactMap { _ in unlimited.openStream(.token("ci")) }
        #expect(slots.count == 500)
    }
}
