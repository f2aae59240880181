#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Bounded exponential backoff with jitter for reconnect loops: 50 ms, 100 ms, … up to `maximum`.
struct Backoff: Sendable {
    var initial: Duration = .milliseconds(50)
    var maximum: Duration = .seconds(1)
    private var current: Duration? = nil

    init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(1)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Forgets earlier failures (call after a successful connection).
    mutating func reset() { current = nil }

    /// The next delay: double the last one, capped, with up to 20% random jitter.
    mutating func next() -> Duration {
        let base = current.map { min($0 * 2, maximum) } ?? initial
        current = base
        let jitter = Double.random(in: 0.8...1.0)
        return base * jitter
    }

    /// Sleeps for the next delay; throws only on cancellation.
    mutating func sleep() async throws {
        try await Task.sleep(for: next())
    }
}

/// Base64 helpers for the JSON APIs (etcd, Consul).
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func encode(_ string: String) -> String { Data(string.utf8).base64EncodedString() }
    static func decode(_ text: String?) -> [UInt8] {
        guard let text, let data = Data(base64Encoded: text) else { return [] }
        return Array(data)
    }
}
