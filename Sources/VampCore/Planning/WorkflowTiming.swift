public import Foundation
import VampModel

/// An ISO-8601 duration (`P1Y2M3W4DT5H6M7.5S`), the period of a `time` workflow, as `Validation` accepts it:
/// `P`, then years, months, weeks and days, then `T` and hours, minutes and seconds (only seconds take a fraction),
/// each part optional but at least one, ASCII digits. Refused: a zero period (it never moves on), one without a
/// calendar part shorter than a millisecond, and a part above 999,999,999.
///
/// Date arithmetic is hand-written, proleptic Gregorian in UTC, rather than Foundation's `Calendar`: its Gregorian
/// calendar turns Julian before 1582-10-15, and it adds years and months one after the other, so 2028-02-29 + P1Y1M
/// is clamped twice (2029-03-28) where one count of 13 months gives 2029-03-29.
public struct ISO8601Duration: Sendable, Hashable, CustomStringConvertible {
    /// Years (`Y`).
    public let years: Int
    /// Months (`M` before `T`).
    public let months: Int
    /// Weeks (`W`), seven days each.
    public let weeks: Int
    /// Days (`D`).
    public let days: Int
    /// Hours (`H`), 3,600 s each.
    public let hours: Int
    /// Minutes (`M` after `T`), 60 s each.
    public let minutes: Int
    /// Seconds (`S`), possibly with a fraction.
    public let seconds: Double

    /// Reads `text`; `nil` when it is not a duration, or when it is zero (a zero period is refused). The message
    /// saying why is what `Validation` reports for `schedule.time.period` (and what ``TimeSchedule/resolve(period:start:repeat:created:)`` throws).
    public init?(_ text: String) {
        guard case .success(let parts) = ScheduleText.duration(text) else { return nil }
        self.init(parts)
    }

    init(_ parts: ScheduleText.Duration) {
        years = parts.years
        months = parts.months
        weeks = parts.weeks
        days = parts.days
        hours = parts.hours
        minutes = parts.minutes
        seconds = parts.seconds
    }

    /// The canonical text: the parts that are not zero, seconds to the nanosecond at most (`P1DT2H`, `PT1.5S`).
    public var text: String {
        var text = "P"
        for (value, designator) in [(years, "Y"), (months, "M"), (weeks, "W"), (days, "D")] where value != 0 {
            text += "\(value)\(designator)"
        }
        let nanoseconds = Int64((seconds * 1e9).rounded())
        guard hours != 0 || minutes != 0 || nanoseconds != 0 else { return text }
        text += "T"
        if hours != 0 { text += "\(hours)H" }
        if minutes != 0 { text += "\(minutes)M" }
        if nanoseconds != 0 {
            text += "\(nanoseconds / 1_000_000_000)"
            var fraction = String(nanoseconds % 1_000_000_000)
            if fraction != "0" {
                fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
                while fraction.hasSuffix("0") { fraction.removeLast() }
                text += "." + fraction
            }
            text += "S"
        }
        return text
    }

    public var description: String { text }

    /// The calendar part in months (years and months).
    var calendarMonths: Int { years * 12 + months }
    /// The calendar part in days (weeks and days).
    var calendarDays: Int { weeks * 7 + days }
    /// The time part in seconds (hours, minutes, seconds).
    var exactSeconds: Double { Double(hours * 3600 + minutes * 60) + seconds }
    /// The length in seconds with a month of 1/12 of 365.2425 days: an estimate where months are involved.
    var nominalSeconds: Double { Double(calendarMonths) * 2_629_746 + Double(calendarDays) * 86_400 + exactSeconds }

    /// `date` advanced by `times` × this duration in UTC, proleptic Gregorian: the calendar part as one count of
    /// months (the day of the month clamped to the month's end, so Jan 31 + P1M is Feb 28 or 29 and 2028-02-29 +
    /// P1Y is 2029-02-28), then days, then the time part as exact seconds. Computed from `date` in one step, never
    /// by adding the period `times` times, so month ends do not drift (Jan 31 + 2×P1M is Mar 31). A result past
    /// `Date.distantFuture` (or before `Date.distantPast`) is that date.
    public func advance(_ date: Date, times: Int) -> Date {
        let start = date.timeIntervalSince1970
        guard times != 0, start.isFinite else { return date }
        let saturated = times > 0 ? Date.distantFuture : Date.distantPast
        let (months, monthsOverflow) = calendarMonths.multipliedReportingOverflow(by: times)
        let (days, daysOverflow) = calendarDays.multipliedReportingOverflow(by: times)
        // 200,000 years either way is far past the dates `Date` can give, and keeps the day numbers below in range.
        guard !monthsOverflow, !daysOverflow, months.magnitude <= 2_400_000, days.magnitude <= 73_000_000 else { return saturated }
        var seconds = start
        if months != 0 || days != 0 {
            let day = (start / 86_400).rounded(.down)
            let timeOfDay = start - day * 86_400
            let civil = ScheduleText.date(ofDay: Int(day))
            let monthIndex = civil.year * 12 + (civil.month - 1) + months
            let year = monthIndex >= 0 ? monthIndex / 12 : (monthIndex - 11) / 12
            let month = monthIndex - year * 12 + 1
            let dayOfMonth = min(civil.day, ScheduleText.daysIn(month: month, of: year))
            seconds = Double(ScheduleText.dayNumber(year: year, month: month, day: dayOfMonth) + days) * 86_400 + timeOfDay
        }
        seconds += exactSeconds * Double(times)
        if !(seconds < Date.distantFuture.timeIntervalSince1970) { return .distantFuture }
        if !(seconds > Date.distantPast.timeIntervalSince1970) { return .distantPast }
        return Date(timeIntervalSince1970: seconds)
    }
}

/// Why a `time` schedule cannot run: the field (`schedule.time.period`, `schedule.time.start`,
/// `schedule.time.repeat`) and what is wrong with it, as `Validation` reports it.
public struct WorkflowScheduleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field path in the workflow, e.g. `schedule.time.period`.
    public var field: String
    /// What is wrong and what to write instead.
    public var message: String

    /// Creates an error.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// A `time` schedule, resolved: slots `start + k × period` for k = 0, 1, … up to `repeatCount` slots (`nil`:
/// forever), each computed from `start` (``ISO8601Duration/advance(_:times:)``), in UTC.
///
/// The decision (``TimeSchedule/decide(lastStarted:running:now:lastEnded:)``): at `now`, the newest slot that has
/// come due (its time ≤ `now`) and was not started yet is started at once, and the older ones it passes over are
/// counted as skipped, never replayed: a server that was down for ten periods runs the schedule once when it is
/// back, not ten times. A slot that comes due while a run is going is skipped too: never started twice at once,
/// never queued to start late when the run ends; the next start is the first slot after the run. The schedule is
/// finished once its last slot has been started or skipped; a start in the future waits for it.
public struct TimeSchedule: Sendable, Hashable {
    /// The time of slot 0.
    public var start: Date
    /// The time between slots.
    public var period: ISO8601Duration
    /// The number of slots; `nil` repeats forever.
    public var repeatCount: Int?

    /// Creates a schedule.
    public init(start: Date, period: ISO8601Duration, repeatCount: Int?) {
        self.start = start
        self.period = period
        self.repeatCount = repeatCount
    }

    /// Reads a workflow's `time` schedule (`Workflow.Schedule.time(period:start:repeat:)`): `start` `nil` or `now`
    /// is `created`, the moment the workflow was created; otherwise an ISO-8601 timestamp with an offset or `Z`
    /// (`2027-06-01T12:00:00Z`, `2027-06-01T14:00:00+02:00`). Throws, naming the field and with `Validation`'s
    /// message, for a period that is not an ``ISO8601Duration`` (or is zero), an unreadable start, or a repeat
    /// count below 1.
    public static func resolve(period: String, start: String?, repeat repeatCount: Int?, created: Date) throws(WorkflowScheduleError) -> TimeSchedule {
        let duration: ISO8601Duration
        switch ScheduleText.duration(period) {
        case .success(let parts): duration = ISO8601Duration(parts)
        case .failure(let problem): throw WorkflowScheduleError(field: "schedule.time.period", message: problem.message)
        }
        let startDate: Date?
        switch ScheduleText.start(start) {
        case .success(let date): startDate = date
        case .failure(let problem): throw WorkflowScheduleError(field: "schedule.time.start", message: problem.message)
        }
        if let problem = ScheduleText.repeatProblem(repeatCount) {
            throw WorkflowScheduleError(field: "schedule.time.repeat", message: problem.message)
        }
        return TimeSchedule(start: startDate ?? created, period: duration, repeatCount: repeatCount)
    }

    /// The time of `slot`: `start` advanced `slot` periods.
    public func slotTime(_ slot: Int) -> Date { period.advance(start, times: slot) }

    /// What to do at `now` (see the rule above).
    ///
    /// - Parameters:
    ///   - lastStarted: the newest slot already started; `nil` when none was.
    ///   - running: whether a run of this schedule is going.
    ///   - now: the clock's time.
    ///   - lastEnded: when the run of `lastStarted` ended, if it did and it is known. A slot that came due before
    ///     it came due while that run was going, so it is skipped, not started late. Without it (`nil`), a slot
    ///     that has come due is started once no run is going.
    public func decide(lastStarted: Int?, running: Bool, now: Date, lastEnded: Date? = nil) -> TimeDecision {
        // Clamped so that no input, however odd, overflows below.
        let last = min(max(lastStarted ?? -1, -1), Int.max - 1)
        let finalSlot = repeatCount.map { max($0, 0) - 1 }
        if let finalSlot, last >= finalSlot { return .finished }
        var due = newestSlot(atOrBefore: now)
        if let finalSlot { due = min(due, finalSlot) }
        // Nothing new has come due (or the clock went back): the next slot is after `now`.
        guard due > last else { return .wait(until: slotTime(last + 1)) }
        let dueTime = slotTime(due)
        let cameDueWhileRunning = running || lastEnded.map { dueTime < $0 } ?? false
        if !cameDueWhileRunning { return .start(slot: due, due: dueTime, skipped: due - last - 1) }
        if due == finalSlot { return .finished }
        return .wait(until: slotTime(due + 1))
    }

    /// The newest slot whose time is at or before `now`; -1 when `now` is before `start`. Not bounded by
    /// `repeatCount`. The nominal length of the period guesses it; a gallop and a binary search settle it, as
    /// slot times only grow with the slot.
    func newestSlot(atOrBefore now: Date) -> Int {
        // Slots past `Date.distantFuture` are all that date: keep `now` before it so the search ends.
        let moment = min(now, Date.distantFuture.addingTimeInterval(-1))
        guard start <= moment else { return -1 }
        let estimate = (moment.timeIntervalSince(start) / period.nominalSeconds).rounded(.down)
        let guess = Int(min(max(estimate, 0), 1e15))
        // Invariant: slotTime(low) <= moment < slotTime(high).
        var low: Int, high: Int, step = 1
        if slotTime(guess) <= moment {
            low = guess
            high = guess + step
            while slotTime(high) <= moment {
                low = high
                step *= 2
                high = low + step
            }
        } else {
            high = guess
            low = max(guess - step, 0)
            while slotTime(low) > moment {
                high = low
                step *= 2
                low = max(low - step, 0)
            }
        }
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if slotTime(middle) <= moment { low = middle } else { high = middle }
        }
        return low
    }
}

/// What a ``TimeSchedule`` says to do at a moment.
public enum TimeDecision: Sendable, Hashable {
    /// Start `slot` (due at `due`) now; `skipped` slots between the last started one and it were passed over
    /// (missed while no server ran the schedule, or while a run was going): they are not replayed.
    case start(slot: Int, due: Date, skipped: Int)
    /// Nothing to do before `until`: the next slot's time (while a run is going, the first slot after now).
    case wait(until: Date)
    /// Every slot of a repeat count has been started or skipped; a run still going is left to end.
    case finished
}
