import Foundation

/// A percentage from 0% to 100%, written as `"NN%"` (a bare number is rejected, as in Vamp 0.9.5).
public struct Percentage: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The whole number of percent, 0...100.
    public let value: Int

    /// Creates a percentage; `nil` outside 0...100.
    public init?(_ value: Int) {
        guard (0...100).contains(value) else { return nil }
        self.value = value
    }

    /// Parses `"NN%"` (optional spaces before `%`).
    public init?(parsing text: String) {
        let trimmed = text.trimmedSpaces
        guard trimmed.hasSuffix("%"), let number = Int(trimmed.dropLast().trimmedSpaces) else {
            return nil
        }
        self.init(number)
    }

    /// 0%.
    public static let zero = Percentage(0)!
    /// 100%.
    public static let full = Percentage(100)!

    public var description: String { "\(value)%" }
    public static func < (lhs: Percentage, rhs: Percentage) -> Bool { lhs.value < rhs.value }
}

/// An amount of memory, normalised to megabytes and written as `"256.00MB"`.
///
/// Accepted: `MB`, `M`, `Mi`, `GB`, `G`, `Gi` (GB = 1024 MB), `KB`, `K`, `Ki`; a bare number is
/// rejected because its unit would be a guess.
public struct Memory: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Megabytes.
    public let megabytes: Double

    /// Creates a memory amount from megabytes (must be finite and not negative).
    public init?(megabytes: Double) {
        guard megabytes.isFinite, megabytes >= 0 else { return nil }
        self.megabytes = megabytes
    }

    /// Parses `256MB`, `0.5GB`, `256Mi`, `1G`, … (case-insensitive unit).
    public init?(parsing text: String) {
        let trimmed = text.trimmedSpaces
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmedSpaces.uppercased()
        guard !digits.isEmpty, let number = Double(digits) else { return nil }
        switch unit {
        case "MB", "M", "MI": self.init(megabytes: number)
        case "GB", "G", "GI": self.init(megabytes: number * 1024)
        // Divided, not multiplied by 1/1024, so that `100KB` written back reads the same.
        case "KB", "K", "KI": self.init(megabytes: number / 1024)
        default: return nil
        }
    }

    /// `"256.00MB"` as Vamp writes it, when two decimals say it exactly; otherwise whole
    /// kilobytes (`"100KB"`) or every digit needed (`"0.123MB"`), so no precision is lost.
    public var description: String {
        let vamp = String(format: "%.2fMB", megabytes)
        if Double(vamp.dropLast(2)) == megabytes { return vamp }
        let kilobytes = (megabytes * 1024).rounded()
        if kilobytes.magnitude < 1e15, kilobytes / 1024 == megabytes { return "\(Int64(kilobytes))KB" }
        return "\(megabytes)MB"
    }
    public static func < (lhs: Memory, rhs: Memory) -> Bool { lhs.megabytes < rhs.megabytes }
}

/// CPU shares: a number of cores (`0.5`) or millicores (`"500m"`).
public struct CPU: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Cores.
    public let cores: Double

    /// Creates a CPU amount (finite, not negative).
    public init?(cores: Double) {
        guard cores.isFinite, cores >= 0 else { return nil }
        self.cores = cores
    }

    /// Parses `0.5`, `2`, or `500m`.
    public init?(parsing text: String) {
        let trimmed = text.trimmedSpaces
        if trimmed.hasSuffix("m"), let milli = Double(trimmed.dropLast()) {
            self.init(cores: milli / 1000)
        } else if let cores = Double(trimmed), !trimmed.lowercased().contains("n") {  // no nan/inf
            self.init(cores: cores)
        } else {
            return nil
        }
    }

    /// Written with two decimals as Vamp does (`0.20`) when they say it exactly; otherwise in
    /// millicores (`125m`) or with every digit needed, so no precision is lost.
    public var description: String {
        let vamp = String(format: "%.2f", cores)
        if Double(vamp) == cores { return vamp }
        let millicores = (cores * 1000).rounded()
        if millicores.magnitude < 1e15, millicores / 1000 == cores { return "\(Int64(millicores))m" }
        return "\(cores)"
    }
    public static func < (lhs: CPU, rhs: CPU) -> Bool { lhs.cores < rhs.cores }
}

/// A time span in whole seconds: `10s`, `1m`, `2h`, or an integer number of seconds.
public struct TimeValue: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds.
    public let seconds: Int

    /// Creates a time value (not negative).
    public init?(seconds: Int) {
        guard seconds >= 0 else { return nil }
        self.seconds = seconds
    }

    /// Parses `30`, `10s`, `10 sec`, `1m`, `5 minutes`, `1h`, `2 hrs`, …
    public init?(parsing text: String) {
        let trimmed = text.trimmedSpaces.lowercased()
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmedSpaces
        guard !digits.isEmpty, digits.count <= 9, let number = Int(digits) else { return nil }
        let factor: Int
        switch unit {
        case "", "s", "sec", "secs", "second", "seconds": factor = 1
        case "m", "min", "mins", "minute", "minutes": factor = 60
        case "h", "hr", "hrs", "hour", "hours": factor = 3600
        default: return nil
        }
        self.init(seconds: number * factor)
    }

    /// Written in the largest whole unit: `90s`, `2m`, `1h`.
    public var description: String {
        if seconds > 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    public static func < (lhs: TimeValue, rhs: TimeValue) -> Bool { lhs.seconds < rhs.seconds }
}

extension Percentage: Codable {
    /// Decodes the whole number of percent; a number outside 0...100 is an error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(Int.self)
        guard let percentage = Percentage(value) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(value) is not a percentage (0...100)")
        }
        self = percentage
    }

    /// Encodes the whole number of percent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
