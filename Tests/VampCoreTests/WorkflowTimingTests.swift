import Foundation
import Testing
import VampCore
import VampModel
import VampTesting

/// Issue 25: the pure scheduling of `time` workflows (periods, slots, what to do at a moment) and of `event`
/// workflows (coalescing), with plain values and a `now` instead of a clock.
@Suite("Workflow timing")
struct WorkflowTimingTests {
    static func date(_ text: String) -> Date { try! Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) }
    static func duration(_ text: String) -> ISO8601Duration { ISO8601Duration(text)! }
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    // MARK: Durations

    @Test("durations read their parts and write back their canonical text")
    func durationsParse() throws {
        let full = Self.duration("P1Y2M3W4DT5H6M7.5S")
        let parts: [Int] = [full.years, full.months, full.weeks, full.days, full.hours, full.minutes]
        #expect(parts == [1, 2, 3, 4, 5, 6])
        #expect(full.seconds == 7.5)
        #expect(full.text == "P1Y2M3W4DT5H6M7.5S")
        let cases: [(String, String)] = [
            ("PT1M", "PT1M"), ("P1DT2H", "P1DT2H"), ("P2W", "P2W"), ("PT0.001S", "PT0.001S"), ("P0DT1M", "PT1M"),
            ("PT90M", "PT90M"), ("P1Y0M", "P1Y"), ("PT1.50S", "PT1.5S"), ("P0001D", "P1D"), ("PT0M0.25S", "PT0.25S"),
            ("P999999999Y", "P999999999Y"), ("P1DT0S", "P1D"), ("PT1.000000001S", "PT1.000000001S"),
        ]
        for (text, canonical) in cases {
            let parsed = try #require(ISO8601Duration(text), "\(text)")
            #expect(parsed.text == canonical, "\(text)")
            #expect(parsed.description == canonical)
            #expect(ISO8601Duration(parsed.text) == parsed, "\(text) written as \(parsed.text) reads back the same")
        }
    }

    /// Not durations, zero, too short or too large: each refused, by `ISO8601Duration`, by `resolve` and by the
    /// API's validation alike.
    static let refusedPeriods = [
        "", "P", "PT", "P1", "1D", "P-1D", "PT0S", "P0D", "P0Y0M0W0DT0H0M0S", "PT0.0S", "P1.5D", "PT1.5M", "P1DT",
        "PT1H2H", "P1D1Y", "P1M1Y", "p1d", "P1d", " PT1M", "PT1M ", "P\u{0661}D", "PT1,5S", "PT.5S", "PT1.S",
        "PT0.0001S", "P1000000000D", "PT99999999999S", "every day", "P1Y2M3W4DT5H6M7.5SX", "R5/PT1M",
    ]

    @Test("not a duration, a zero period, one under a millisecond, a part over nine digits: refused", arguments: refusedPeriods)
    func durationsRefused(text: String) {
        #expect(ISO8601Duration(text) == nil)
        #expect(throws: WorkflowScheduleError.self) {
            try TimeSchedule.resolve(period: text, start: nil, repeat: nil, created: Date())
        }
    }

    @Test("validation refuses exactly the periods ISO8601Duration refuses, with the message resolve throws")
    func validationAgrees() {
        var random = SeededRandom(seed: 25)
        let alphabet = Array("PTYMWDHS0123456789.-,")
        var texts = Self.refusedPeriods + ["PT1M", "P1DT2H", "P2W", "PT0.001S", "P1Y2M3W4DT5H6M7.5S"]
        for _ in 0..<400 {
            texts.append("P" + String((0..<random.int(0...7)).map { _ in alphabet[random.int(0...(alphabet.count - 1))] }))
        }
        var accepted = 0
        for text in texts {
            let workflow = Workflow(name: "w", breed: .reference("b"), schedule: .time(period: text, start: nil, repeat: nil))
            let problem = Validation.validate(.workflow(workflow)).first { $0.path == "schedule.time.period" }
            #expect((problem == nil) == (ISO8601Duration(text) != nil), "\(text): \(problem?.message ?? "accepted")")
            do {
                _ = try TimeSchedule.resolve(period: text, start: nil, repeat: nil, created: Date())
                accepted += 1
            } catch {
                #expect(error.field == "schedule.time.period")
                #expect(error.message == problem?.message, "\(text)")
            }
        }
        #expect(accepted >= 5)
    }

    // MARK: Date arithmetic

    @Test("a month from the 31st is the month's last day; slots count from the start so month ends do not drift")
    func monthEnds() {
        let month = Self.duration("P1M")
        let start = Self.date("2027-01-31T10:30:15.250Z")
        let expected = [
            "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30", "2027-07-31", "2027-08-31", "2027-09-30",
            "2027-10-31", "2027-11-30", "2027-12-31", "2028-01-31", "2028-02-29", "2028-03-31",
        ]
        for (index, day) in expected.enumerated() {
            #expect(month.advance(start, times: index + 1) == Self.date(day + "T10:30:15.250Z"), "k = \(index + 1)")
        }
        #expect(month.advance(Self.date("2028-03-31T00:00:00Z"), times: -1) == Self.date("2028-02-29T00:00:00Z"))
        #expect(month.advance(start, times: 0) == start)
    }

    @Test("leap days: a year from Feb 29 is Feb 28, four years is Feb 29 again; one count of months clamps once")
    func leapDays() {
        let leap = Self.date("2028-02-29T12:00:00Z")
        let year = Self.duration("P1Y")
        #expect(year.advance(leap, times: 1) == Self.date("2029-02-28T12:00:00Z"))
        #expect(year.advance(leap, times: 4) == Self.date("2032-02-29T12:00:00Z"))
        #expect(year.advance(Self.date("2100-02-28T00:00:00Z"), times: 0) == Self.date("2100-02-28T00:00:00Z"))
        #expect(Self.duration("P1D").advance(Self.date("2100-02-28T00:00:00Z"), times: 1) == Self.date("2100-03-01T00:00:00Z"), "2100 is not a leap year")
        #expect(Self.duration("P1D").advance(Self.date("2000-02-28T00:00:00Z"), times: 1) == Self.date("2000-02-29T00:00:00Z"), "2000 is")
        #expect(Self.duration("P1Y1M").advance(leap, times: 1) == Self.date("2029-03-29T12:00:00Z"))
        #expect(Self.duration("P1M1D").advance(Self.date("2028-01-31T00:00:00Z"), times: 2) == Self.date("2028-04-02T00:00:00Z"))
        #expect(Self.duration("P1DT1H").advance(leap, times: 3) == Self.date("2028-03-03T15:00:00Z"))
        #expect(Self.duration("P1W").advance(leap, times: 1) == Self.duration("P7D").advance(leap, times: 1))
        // Proleptic: no Julian days before 1582-10-15.
        #expect(Self.duration("P1D").advance(Self.date("1582-10-04T00:00:00Z"), times: 1) == Self.date("1582-10-05T00:00:00Z"))
    }

    @Test("time parts are exact seconds; results past Date's range are its ends")
    func exactAndSaturated() {
        let start = Self.date("2027-03-28T00:30:00Z")
        #expect(Self.duration("PT1H").advance(start, times: 2) == start + 7200, "UTC: no DST")
        #expect(Self.duration("PT0.5S").advance(start, times: 7) == start + 3.5)
        #expect(Self.duration("P999999999Y").advance(start, times: 1000) == .distantFuture)
        #expect(Self.duration("P999999999D").advance(start, times: 1) == .distantFuture)
        #expect(Self.duration("PT999999999H").advance(start, times: 1000) == .distantFuture)
        #expect(Self.duration("P1M").advance(start, times: Int.max) == .distantFuture)
        #expect(Self.duration("P1M").advance(start, times: -30_000) == .distantPast)
    }

    @Test("property: single-unit periods agree with Foundation's calendar in UTC (1600-3900)")
    func agreesWithFoundation() throws {
        var random = SeededRandom(seed: 7)
        for _ in 0..<300 {
            let start = Date(timeIntervalSince1970: Double(random.int(-11_000_000_000...29_000_000_000)))
            let units: [(String, Calendar.Component)] = [("Y", .year), ("M", .month), ("D", .day)]
            let (text, component) = units[random.int(0...2)]
            let (count, times) = (random.int(1...40), random.int(0...25))
            let duration = try #require(ISO8601Duration("P\(count)\(text)"))
            let expected = Self.utc.date(byAdding: component, value: count * times, to: start)
            #expect(duration.advance(start, times: times) == expected, "\(start) + \(times) × \(duration)")
        }
    }

    // MARK: Resolving a workflow's schedule

    @Test("start: now or nothing is the creation time; a timestamp needs an offset; repeat is 1 or more")
    func resolve() throws {
        let created = Self.date("2027-06-01T09:00:00Z")
        let now = try TimeSchedule.resolve(period: "PT2S", start: "now", repeat: 3, created: created)
        #expect(now == TimeSchedule(start: created, period: Self.duration("PT2S"), repeatCount: 3))
        #expect(try TimeSchedule.resolve(period: "PT2S", start: nil, repeat: nil, created: created).start == created)
        let offset = try TimeSchedule.resolve(period: "P1D", start: "2027-06-01T14:00:00+02:00", repeat: nil, created: created)
        #expect(offset.start == Self.date("2027-06-01T12:00:00Z"))
        #expect(try TimeSchedule.resolve(period: "P1D", start: "2027-06-01t12:00:00.5z", repeat: nil, created: created).start == Self.date("2027-06-01T12:00:00.500Z"))
        #expect(try TimeSchedule.resolve(period: "P1D", start: "2028-02-29T00:00:00-00:30", repeat: nil, created: created).start == Self.date("2028-02-29T00:30:00Z"))

        func refused(_ period: String, _ start: String?, _ repeatCount: Int?, _ field: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                let schedule = try TimeSchedule.resolve(period: period, start: start, repeat: repeatCount, created: created)
                Issue.record("accepted \(schedule)", sourceLocation: sourceLocation)
            } catch {
                #expect(error.field == field, sourceLocation: sourceLocation)
                #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
                let workflow = Workflow(name: "w", breed: .reference("b"), schedule: .time(period: period, start: start, repeat: repeatCount))
                #expect(Validation.validate(.workflow(workflow)).contains { $0.path == field && $0.message == error.message }, sourceLocation: sourceLocation)
            }
        }
        refused("PT0S", nil, nil, "schedule.time.period", "is zero")
        refused("P1.5D", nil, nil, "schedule.time.period", "not an ISO-8601 duration")
        refused("PT0.0001S", nil, nil, "schedule.time.period", "shorter than a millisecond")
        refused("P1000000000D", nil, nil, "schedule.time.period", "above 999999999")
        refused("PT1M", nil, 0, "schedule.time.repeat", "1 or more")
        refused("PT1M", nil, -1, "schedule.time.repeat", "1 or more")
        for start in ["yesterday", "Now", "2027-06-01", "2027-06-01T12:00:00", "2027-06-01 12:00:00Z", "2027-02-30T12:00:00Z",
                      "2027-13-01T12:00:00Z", "2027-06-01T24:00:00Z", "2027-06-01T12:00:60Z", "2027-06-01T12:00Z", "2027-06-01T12:00:00+0200",
                      " 2027-06-01T12:00:00Z", "2027-06-01T12:00:00.Z", "2027-06-01T12:00:00+24:00"] {
            refused("PT1M", start, nil, "schedule.time.start", "ISO-8601 timestamp")
        }
    }

    @Test("property: timestamps read as Foundation reads them, where Foundation is strict")
    func timestampsAgreeWithFoundation() throws {
        var random = SeededRandom(seed: 11)
        let formatter = ISO8601DateFormatter()
        for _ in 0..<200 {
            let instant = Date(timeIntervalSince1970: Double(random.int(-2_000_000_000...8_000_000_000)))
            let minutes = random.int(-14 * 60...14 * 60) / 15 * 15
            formatter.timeZone = TimeZone(secondsFromGMT: minutes * 60)!
            let text = formatter.string(from: instant)
            let schedule = try TimeSchedule.resolve(period: "PT1M", start: text, repeat: nil, created: .distantPast)
            #expect(schedule.start == instant, "\(text)")
        }
    }
}

extension SeededRandom {
    /// A number in `range`.
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    /// A coin toss.
    mutating func bool() -> Bool { Bool.random(using: &self) }
}
