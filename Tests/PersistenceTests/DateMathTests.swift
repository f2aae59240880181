import Foundation
import Persistence
import Testing

@Suite("Date math")
struct DateMathTests {
    let now = Date(timeIntervalSince1970: 1_700_000_123.456)  // 2023-11-14T22:15:23.456Z

    static let relativeCases: [(String, Double)] = [
        ("now", 0), ("now-1m", -60), ("now-30s", -30), ("now-1h", -3600), ("now+2h", 7200), ("now-1d", -86_400),
        ("now-1w", -7 * 86_400), ("now-1h-30m", -5400),
    ]

    @Test(arguments: relativeCases)
    func relative(text: String, offset: Double) throws {
        #expect(try TimeExpression(parsing: text).resolve(now: now) == now + offset)
    }

    @Test func rounding() throws {
        let day = try TimeExpression(parsing: "now/d").resolve(now: now)
        #expect(day == Date(timeIntervalSince1970: 1_699_920_000))  // 2023-11-14T00:00:00Z
        let hourBefore = try TimeExpression(parsing: "now-1h/h").resolve(now: now)
        #expect(hourBefore == Date(timeIntervalSince1970: 1_699_995_600))  // 21:00:00Z
        // Rounding up (for gt and lte bounds) goes to the unit's last millisecond.
        let endOfDay = try TimeExpression(parsing: "now/d").resolve(now: now, roundingUp: true)
        #expect(endOfDay == Date(timeIntervalSince1970: 1_700_006_399.999))
    }

    @Test func absolute() throws {
        #expect(try TimeExpression(parsing: "2016-12-16T10:00:00Z").resolve(now: now) == Date(timeIntervalSince1970: 1_481_882_400))
        #expect(try TimeExpression(parsing: "2016-12-16T10:00:00.500+01:00").resolve(now: now)
            == Date(timeIntervalSince1970: 1_481_878_800.5))
        #expect(try TimeExpression(parsing: "2016-12-16T10:00:00Z||-1h").resolve(now: now)
            == Date(timeIntervalSince1970: 1_481_878_800))
        #expect(try TimeExpression(parsing: "1481882400000").resolve(now: now) == Date(timeIntervalSince1970: 1_481_882_400))
    }

    /// Scripts written for Vamp 0.9.5 send its own form: `now()` and spaces around the operators.
    static let vampFormCases: [(String, Double)] = [
        ("now()", 0), ("now() - 10m", -600), ("now()-10m", -600), ("now - 10m", -600), (" now() + 2h ", 7200),
        ("now() - 1h - 30m", -5400), ("now()\t-\t30s", -30),
    ]

    @Test(arguments: vampFormCases)
    func vampForm(text: String, offset: Double) throws {
        #expect(try TimeExpression(parsing: text).resolve(now: now) == now + offset)
    }

    @Test func vampFormWithRoundingAndAbsoluteAnchor() throws {
        #expect(try TimeExpression(parsing: "now() - 1h / h").resolve(now: now) == Date(timeIntervalSince1970: 1_699_995_600))
        #expect(try TimeExpression(parsing: "2016-12-16T10:00:00Z || - 1h").resolve(now: now) == Date(timeIntervalSince1970: 1_481_878_800))
    }

    @Test(arguments: ["", "yesterday", "now-", "now-1x", "now*2", "now/", "2016-13-45", "now() -", "now() - 10 m", "now(", "now)-1m", "now() 10m", "now()()"])
    func invalid(text: String) {
        let error = #expect(throws: PersistenceError.self) { try TimeExpression(parsing: text) }
        #expect(error?.code == .invalidQuery)
        #expect(error?.message.contains("'\(text)'") == true)
        #expect(error?.message.contains("now() - 10m") == true, "the message shows both forms")
    }
}
