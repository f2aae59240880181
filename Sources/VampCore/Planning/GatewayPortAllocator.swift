import VampModel

/// Hands out ports to gateways that have none (every internal gateway, and external gateways created with
/// port 0), from a range (Vamp's `vamp.operation.gateway.port-range`, default 61000–64999), never one of the
/// reserved ports (the server's API, HAProxy's stats, ...) that lie in the range.
///
/// The cursor only moves forward and wraps at the end of the range, so a port that was just freed is not
/// given to the next gateway at once: agents that still route to it get time to reload. A freed port is
/// simply one that no gateway uses any more; it comes round again after the cursor wraps.
public struct GatewayPortAllocator: Sendable, Hashable {
    /// The ports this allocator hands out.
    public let range: ClosedRange<Int>
    /// Ports this allocator never hands out, even when they lie in ``range``.
    public let reserved: Set<Int>
    /// The port the next search starts from.
    public private(set) var cursor: Int

    /// Creates an allocator over `range` (which must lie within 1–65535) that skips `reserved`.
    public init(range: ClosedRange<Int> = 61000...64999, reserved: Set<Int> = []) {
        precondition(range.lowerBound >= 1 && range.upperBound <= 65535, "gateway ports lie within 1-65535")
        self.range = range
        self.reserved = reserved
        self.cursor = range.lowerBound
    }

    /// The first port at or after the cursor (wrapping once) that is neither in `used` nor reserved, and moves the
    /// cursor past it. Throws when every port of the range is used or reserved.
    public mutating func allocate(avoiding used: Set<Int>) throws(GatewayPlanningError) -> Int {
        var candidate = cursor
        for _ in 0..<range.count {
            if !used.contains(candidate) && !reserved.contains(candidate) {
                cursor = candidate == range.upperBound ? range.lowerBound : candidate + 1
                return candidate
            }
            candidate = candidate == range.upperBound ? range.lowerBound : candidate + 1
        }
        throw GatewayPlanningError(
            code: .portRangeExhausted, gateway: nil,
            message: "every port of the gateway port range \(range.lowerBound)-\(range.upperBound) is in use\(reserved.contains(where: range.contains) ? " or reserved" : ""); widen the range (vamp.operation.gateway.port-range) or remove gateways")
    }
}

/// Why gateways could not be planned.
public struct GatewayPlanningError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable code for programs.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No port of the configured range is free.
        public static let portRangeExhausted = Code("port-range-exhausted")
        /// Two gateways ask for the same port.
        public static let portConflict = Code("port-conflict")
        /// The gateway cannot be served as it is (the HAProxy generator refused it).
        public static let invalidGateway = Code("invalid-gateway")
    }

    /// What kind of error.
    public var code: Code
    /// The gateway concerned, when there is one.
    public var gateway: String?
    /// What is wrong and what to do.
    public var message: String

    /// Creates an error.
    public init(code: Code, gateway: String?, message: String) {
        self.code = code
        self.gateway = gateway
        self.message = message
    }

    public var description: String { gateway.map { "gateway '\($0)': \(message)" } ?? message }
}
