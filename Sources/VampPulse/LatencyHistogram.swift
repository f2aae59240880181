import Histogram

/// Response times in milliseconds as an HdrHistogram with two significant digits: exact up to 255 ms, within 0.4%
/// above, up to an hour (longer times count as an hour). Two histograms merge exactly (``add(_:)``): the figures of
/// several agents and several seconds are the figures of all their requests, never an average of averages.
///
/// Encoded as the list of recorded `[value, count]` pairs (the value is the highest equivalent value of its
/// bucket, which records into the same bucket again), so an empty or narrow histogram costs a few bytes on the
/// wire and in the server's window.
public struct LatencyHistogram: Sendable, Hashable, Codable {
    /// The longest time recorded as itself: one hour.
    public static let highest: UInt64 = 3_600_000

    var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .two)

    /// An empty histogram.
    public init() {}

    /// How many times were recorded.
    public var count: UInt64 { histogram.totalCount }

    /// Records one time; a negative time (HAProxy's `-1`: no answer) is not recorded.
    public mutating func record(milliseconds: Int) {
        guard milliseconds >= 0 else { return }
        histogram.record(min(UInt64(milliseconds), Self.highest))
    }

    /// Records `count` times of `milliseconds`.
    public mutating func record(milliseconds: UInt64, count: UInt64) {
        guard count > 0 else { return }
        histogram.record(min(milliseconds, Self.highest), count: count)
    }

    /// Adds every time of `other`.
    public mutating func add(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        histogram.add(other.histogram)
    }

    /// The time at `percentile` (0–100) in milliseconds, or `nil` when nothing was recorded.
    public func percentile(_ percentile: Double) -> Double? {
        count == 0 ? nil : Double(histogram.valueAtPercentile(percentile))
    }

    /// The mean time in milliseconds, or `nil` when nothing was recorded.
    public var mean: Double? { count == 0 ? nil : histogram.mean }

    /// The largest time recorded (within the histogram's precision), or `nil`.
    public var maximum: Double? { count == 0 ? nil : Double(histogram.max) }

    /// The recorded values with their counts, in increasing order.
    public var recorded: [(milliseconds: UInt64, count: UInt64)] {
        histogram.recordedValues().map { ($0.value, UInt64($0.count)) }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        self.init()
        while !container.isAtEnd {
            let pair = try container.decode([UInt64].self)
            guard pair.count == 2 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "a histogram entry is [milliseconds, count]")
            }
            guard pair[0] <= PulseFigures.maximumCount, pair[1] <= PulseFigures.maximumCount else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "a histogram entry's milliseconds and count are each at most \(PulseFigures.maximumCount)")
            }
            record(milliseconds: pair[0], count: pair[1])
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for entry in recorded { try container.encode([entry.milliseconds, entry.count]) }
    }

    public static func == (lhs: LatencyHistogram, rhs: LatencyHistogram) -> Bool {
        lhs.count == rhs.count && lhs.recorded.elementsEqual(rhs.recorded) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for entry in recorded {
            hasher.combine(entry.milliseconds)
            hasher.combine(entry.count)
        }
    }
}
