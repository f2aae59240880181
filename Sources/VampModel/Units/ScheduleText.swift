public import Foundation

/// The text of a `time` schedule (reference §1.10), read strictly: its period (an ISO-8601 duration) and its start
/// (an ISO-8601 timestamp with an offset). `Validation` and VampCore's `ISO8601Duration` and `TimeSchedule` read it
/// through this one reader, so that a workflow the API stores is one the scheduler can run.
///
/// The calendar is the proleptic Gregorian one in UTC, with days numbered from 1970-01-01 (day 0).
package enum ScheduleText {
    /// The numbers of an ISO-8601 duration, `P1Y2M3W4DT5H6M7.5S`.
    package struct Duration: Sendable, Hashable {
        package var years = 0, months = 0, weeks = 0, days = 0, hours = 0, minutes = 0
        package var seconds = 0.0
    }

    /// Why a text is not a usable period: the message for `schedule.time.period`.
    package struct Problem: Error, Sendable, Hashable {
        package var message: String
    }

    /// The largest number a part of a period may have (nine digits).
    package static let largestPart = 999_999_999
    /// The shortest period with no calendar part (Y, M, W, D): a millisecond. A shorter one cannot be told apart
    /// from the next at `Date`'s precision over years of slots.
    package static let shortestPeriod = 0.001

    /// Reads `text` as a period: `P`, then `nY nM nW nD` in this order (each optional), then optionally `T` and
    /// `nH nM n[.n]S`; at least one part, ASCII digits only. Refuses a zero period (it never moves on), one under
    /// `shortestPeriod` and a part above `largestPart`.
    package static func duration(_ text: String) -> Result<Duration, Problem> {
        let shown = Names.printable(text)
        let malformed = Problem(message: "'\(shown)' is not an ISO-8601 duration such as PT1M or P1DT2H")
        var bytes = Substring(text).utf8[...]
        guard bytes.popFirst() == UInt8(ascii: "P"), !bytes.isEmpty else { return .failure(malformed) }
        var duration = Duration()
        var inTime = false, order = -1, tooLarge = false
        while !bytes.isEmpty {
            if bytes.first == UInt8(ascii: "T") {
                bytes.removeFirst()
                // `T` once, followed by a part (`P1DT` is not a duration).
                guard !inTime, let next = bytes.first, isDigit(next) else { return .failure(malformed) }
                inTime = true
                continue
            }
            let whole = bytes.prefix(while: isDigit)
            guard !whole.isEmpty else { return .failure(malformed) }
            bytes.removeFirst(whole.count)
            var fraction: Substring.UTF8View.SubSequence?
            if bytes.first == UInt8(ascii: ".") {
                bytes.removeFirst()
                fraction = bytes.prefix(while: isDigit)
                guard fraction?.isEmpty == false else { return .failure(malformed) }
                bytes.removeFirst(fraction!.count)
            }
            guard let designator = bytes.popFirst() else { return .failure(malformed) }
            let place: Int? = switch (inTime, designator) {
            case (false, UInt8(ascii: "Y")): 0
            case (false, UInt8(ascii: "M")): 1
            case (false, UInt8(ascii: "W")): 2
            case (false, UInt8(ascii: "D")): 3
            case (true, UInt8(ascii: "H")): 4
            case (true, UInt8(ascii: "M")): 5
            case (true, UInt8(ascii: "S")): 6
            default: nil
            }
            // Each part once, in order; only seconds take a fraction.
            guard let place, place > order, fraction == nil || place == 6 else { return .failure(malformed) }
            order = place
            let digits = whole.drop { $0 == UInt8(ascii: "0") }
            guard digits.count <= 9 else {
                tooLarge = true
                continue
            }
            let number = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            switch place {
            case 0: duration.years = number
            case 1: duration.months = number
            case 2: duration.weeks = number
            case 3: duration.days = number
            case 4: duration.hours = number
            case 5: duration.minutes = number
            default: duration.seconds = Double(number) + (fraction.flatMap { Double("0." + String(decoding: $0, as: UTF8.self)) } ?? 0)
            }
        }
        if tooLarge {
            return .failure(Problem(message: "'\(shown)' has a number above \(largestPart), the largest a period's part may have"))
        }
        let calendarPart = duration.years + duration.months + duration.weeks + duration.days
        let exactPart = Double(duration.hours * 3600 + duration.minutes * 60) + duration.seconds
        if calendarPart == 0, exactPart == 0 {
            return .failure(Problem(message: "the period '\(shown)' is zero, so the schedule would never move on; give a period such as PT1M"))
        }
        if calendarPart == 0, exactPart < shortestPeriod {
            return .failure(Problem(message: "the period '\(shown)' is shorter than a millisecond, the shortest period"))
        }
        return .success(duration)
    }

    /// Reads a start: `nil` or `now` is `nil` (the moment the workflow was created), anything else must be a
    /// `timestamp(_:)`. The failure is the message for `schedule.time.start`.
    package static func start(_ text: String?) -> Result<Date?, Problem> {
        guard let text, text != "now" else { return .success(nil) }
        guard let date = timestamp(text) else {
            return .failure(Problem(message: "'\(Names.printable(text))' is neither 'now' nor an ISO-8601 timestamp with an offset such as 2027-06-01T12:00:00Z"))
        }
        return .success(date)
    }

    /// The message for `schedule.time.repeat` when `count` is not a repeat count (`nil` repeats forever).
    package static func repeatProblem(_ count: Int?) -> Problem? {
        guard let count, count < 1 else { return nil }
        return Problem(message: "repeat must be 1 or more; leave it out to repeat forever")
    }

    /// Reads an RFC 3339 timestamp, `2027-06-01T12:00:00Z`, `2027-06-01T14:00:00.5+02:00` (`T` and `Z` in either
    /// case); `nil` for anything else, including a date that does not exist (`2027-02-30`), which Foundation's
    /// ISO-8601 parser would roll over into March.
    package static func timestamp(_ text: String) -> Date? {
        var bytes = Substring(text).utf8[...]
        func number(_ count: Int) -> Int? {
            let digits = bytes.prefix(count)
            guard digits.count == count, digits.allSatisfy(isDigit) else { return nil }
            bytes.removeFirst(count)
            return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        func expect(_ characters: String) -> Bool {
            guard let byte = bytes.first, characters.utf8.contains(byte) else { return false }
            bytes.removeFirst()
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2), expect("Tt"),
              let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2)
        else { return nil }
        var fraction = 0.0
        if expect(".") {
            let digits = bytes.prefix(while: isDigit)
            guard !digits.isEmpty, let value = Double("0." + String(decoding: digits, as: UTF8.self)) else { return nil }
            bytes.removeFirst(digits.count)
            fraction = value
        }
        var offset = 0
        if !expect("Zz") {
            let sign = bytes.first == UInt8(ascii: "-") ? -1 : 1
            guard expect("+-"), let offsetHours = number(2), expect(":"), let offsetMinutes = number(2),
                  offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard bytes.isEmpty, (1...12).contains(month), (1...daysIn(month: month, of: year)).contains(day),
              hour < 24, minute < 60, second < 60
        else { return nil }
        let seconds = dayNumber(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// The day number (1970-01-01 is 0) of a proleptic Gregorian date; `month` 1...12 (H. Hinnant's
    /// `days_from_civil`).
    package static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day number (H. Hinnant's `civil_from_days`).
    package static func date(ofDay dayNumber: Int) -> (year: Int, month: Int, day: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The number of days of `month` (1...12) in `year`, proleptic Gregorian.
    package static func daysIn(month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
