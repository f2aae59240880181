public import Foundation

/// A point in time for a query bound: an absolute date, or Elasticsearch date math relative to
/// now (`now`, `now-1m`, `now-30s`, `now-1h`, `now-1d/d`, or Vamp 0.9.5's `now() - 10m`),
/// resolved when the query runs.
public struct TimeExpression: Sendable, Hashable, CustomStringConvertible {
    enum Anchor: Hashable {
        case now
        case date(Date)
    }

    enum Unit: Character {
        case year = "y", month = "M", week = "w", day = "d", hour = "h", hourAlt = "H", minute = "m", second = "s"
    }

    enum Step: Hashable {
        case add(Int, Unit)
        case round(Unit)
    }

    let anchor: Anchor
    let steps: [Step]
    public let description: String

    /// A fixed date.
    public static func date(_ date: Date) -> TimeExpression {
        TimeExpression(anchor: .date(date), steps: [], description: ISO8601DateFormatter().string(from: date))
    }

    /// Now, when the query runs.
    public static let now = TimeExpression(anchor: .now, steps: [], description: "now")

    /// `now` minus `duration` (whole seconds).
    public static func ago(_ duration: Duration) -> TimeExpression {
        let seconds = Int(duration.components.seconds)
        return TimeExpression(anchor: .now, steps: [.add(-seconds, .second)], description: "now-\(seconds)s")
    }

    /// Parses date math (`now-1m`, `now+2h/d`), an ISO-8601 date optionally followed by `||` and
    /// math (`2016-12-16T10:00:00Z||-1h`), or milliseconds since 1970. Vamp 0.9.5's own form is
    /// read too: `now()` for `now`, and spaces around the operators (`now() - 10m`).
    public init(parsing text: String) throws {
        let invalid = PersistenceError(
            code: .invalidQuery,
            message: "'\(text)' is not a date: use ISO-8601, epoch milliseconds or date math like now-1m or now() - 10m")
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var math: Substring
        if trimmed.hasPrefix("now") {
            anchor = .now
            math = trimmed.dropFirst(3)
            if math.hasPrefix("()") { math = math.dropFirst(2) }
        } else {
            let parts = trimmed.components(separatedBy: "||")
            guard parts.count <= 2, let date = Self.parseDate(parts[0].trimmingCharacters(in: .whitespaces)) else { throw invalid }
            anchor = .date(date)
            math = parts.count == 2 ? Substring(parts[1]) : ""
        }
        var steps: [Step] = []
        while true {
            math = math.drop { $0 == " " || $0 == "\t" }
            guard let sign = math.first else { break }
            math = math.dropFirst().drop { $0 == " " || $0 == "\t" }
            switch sign {
            case "+", "-":
                let digits = math.prefix(while: \.isNumber)
                math = math.dropFirst(digits.count)
                guard let amount = digits.isEmpty ? 1 : Int(digits),
                    let letter = math.first, let unit = Unit(rawValue: letter)
                else { throw invalid }
                math = math.dropFirst()
                steps.append(.add(sign == "-" ? -amount : amount, unit))
            case "/":
                guard let letter = math.first, let unit = Unit(rawValue: letter) else { throw invalid }
                math = math.dropFirst()
                steps.append(.round(unit))
            default:
                throw invalid
            }
        }
        self.steps = steps
        self.description = text
    }

    private init(anchor: Anchor, steps: [Step], description: String) {
        self.anchor = anchor
        self.steps = steps
        self.description = description
    }

    static func parseDate(_ text: String) -> Date? {
        if !text.isEmpty, text.allSatisfy(\.isNumber), let millis = Int64(text) { return Millis.date(millis) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// The date this expression stands for when "now" is `now`. Calendar units use UTC.
    ///
    /// Rounding (`/d`) goes to the unit's first millisecond, or with `roundingUp` to its last
    /// one: Elasticsearch rounds `gt` and `lte` bounds up, so `lte: now/d` takes in all of today.
    public func resolve(now: Date, roundingUp: Bool = false) -> Date {
        var date: Date
        switch anchor {
        case .now: date = now
        case .date(let fixed): date = fixed
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for step in steps {
            switch step {
            case .add(let amount, let unit):
                switch unit {
                case .second: date += Double(amount)
                case .minute: date += Double(amount) * 60
                case .hour, .hourAlt: date += Double(amount) * 3600
                case .day: date = calendar.date(byAdding: .day, value: amount, to: date) ?? date
                case .week: date = calendar.date(byAdding: .day, value: 7 * amount, to: date) ?? date
                case .month: date = calendar.date(byAdding: .month, value: amount, to: date) ?? date
                case .year: date = calendar.date(byAdding: .year, value: amount, to: date) ?? date
                }
            case .round(let unit):
                let component: Calendar.Component
                switch unit {
                case .second: component = .second
                case .minute: component = .minute
                case .hour, .hourAlt: component = .hour
                case .day: component = .day
                case .week: component = .weekOfYear
                case .month: component = .month
                case .year: component = .year
                }
                if let interval = calendar.dateInterval(of: component, for: date) {
                    date = roundingUp ? Millis.date(Millis.from(interval.end) - 1) : interval.start
                }
            }
        }
        return date
    }
}
