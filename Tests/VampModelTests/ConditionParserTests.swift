import Foundation
import Testing
import VampModel

@Suite("Condition grammar")
struct ConditionParserTests {
    @Test("every operand form parses", arguments: [
        ("user-agent == Firefox", ConditionExpression.userAgent("Firefox")),
        ("User-Agent = Chrome", .userAgent("Chrome")),
        ("user.agent is Safari", .userAgent("Safari")),
        ("user-agent != Firefox", .not(.userAgent("Firefox"))),
        ("user-agent is not Edge", .not(.userAgent("Edge"))),
        ("host == shop.example.test", .host("shop.example.test")),
        ("host has www.example.test", .host("www.example.test")),
        ("has cookie group", .cookieExists("group")),
        ("contains cookie group", .cookieExists("group")),
        ("misses cookie group", .not(.cookieExists("group"))),
        ("has header X-Beta", .headerExists("X-Beta")),
        ("misses header X-Beta", .not(.headerExists("X-Beta"))),
        ("cookie group has beta", .cookieContains(name: "group", value: "beta")),
        ("cookie group contains beta", .cookieContains(name: "group", value: "beta")),
        ("cookie group misses beta", .not(.cookieContains(name: "group", value: "beta"))),
        ("header X-Version has 2", .headerContains(name: "X-Version", value: "2")),
        ("< hdr_beg(host) -i api >", .raw("hdr_beg(host) -i api")),
        ("true", .constant(true)), ("T", .constant(true)), ("1", .constant(true)),
        ("false", .constant(false)), ("f", .constant(false)), ("0", .constant(false)),
        ("user-agent == \"Mozilla Firefox\"", .userAgent("Mozilla Firefox")),
        ("header 'X Name' has 'a b'", .headerContains(name: "X Name", value: "a b")),
    ])
    func operands(text: String, expected: ConditionExpression) throws {
        #expect(try ConditionParser.parse(text) == expected)
    }

    @Test("and binds tighter than or; not binds tightest; parentheses group")
    func precedence() throws {
        let a = ConditionExpression.userAgent("A"), b = ConditionExpression.userAgent("B"), c = ConditionExpression.userAgent("C")
        #expect(try ConditionParser.parse("user-agent == A or user-agent == B and user-agent == C") == .or(a, .and(b, c)))
        #expect(try ConditionParser.parse("(user-agent == A or user-agent == B) && user-agent == C") == .and(.or(a, b), c))
        #expect(try ConditionParser.parse("! user-agent == A | user-agent == B") == .or(.not(a), b))
        #expect(try ConditionParser.parse("NOT (user-agent == A & user-agent == B)") == .not(.and(a, b)))
        #expect(try ConditionParser.parse("user-agent == A || user-agent == B || user-agent == C") == .or(.or(a, b), c))
    }

    @Test("the canonical text parses back to the same expression", arguments: [
        "user-agent == Firefox and has cookie beta",
        "not (host == a.test or header X has \"y z\")",
        "(cookie c misses v or < src 10.0.0.0/8 >) and not true",
        "header 'say \"hi\"' has x",
        // Found by fuzzing: a raw ACL starting with a combining mark (the canonical text puts a space before it).
        "<\u{0616}dr_beg(host) -i api >",
        // Found by fuzzing (CI): a `"` followed by a combining mark is one Character, so the canonical text quoted the
        // value with `"` and it did not read back.
        "header '.a`\"\u{074A}seh &' has X",
        // Found by fuzzing: a right operand of the same operator lost its parentheses and read back nested the
        // other way (the same truth, another tree).
        "has cookie a or (has cookie b or has cookie c)",
        "has cookie a and (has cookie b and has cookie c) and not (true or false)",
        "(has cookie a or has cookie b) and (has cookie c or (has cookie d and has cookie e))",
    ])
    func canonicalRoundTrip(text: String) throws {
        let expression = try ConditionParser.parse(text)
        #expect(try ConditionParser.parse(expression.description) == expression)
    }

    @Test("unparsable conditions are errors with a column, never raw ACLs", arguments: [
        ("user-agent ==", "expected a value", 14),
        ("user-agent Firefox", "expected '=='", 12),
        ("cookie", "expected a cookie name", 7),
        ("has cookie", "expected a cookie name", 11),
        ("has banana x", "expected 'cookie' or 'header'", 5),
        // Found by fuzzing (Fuzz/, fuzz-condition): a verb with nothing after it read past the last token and trapped.
        ("contains", "expected 'cookie' or 'header'", 9),
        ("has", "expected 'cookie' or 'header'", 4),
        ("not misses", "expected 'cookie' or 'header'", 11),
        ("cookie c", "expected 'has', 'contains' or 'misses'", 9),
        ("header h x", "expected 'has', 'contains' or 'misses'", 10),
        // Found by fuzzing: columns count Unicode scalars, and so does the end of the text (e and a combining accent: 2).
        ("host == e\u{301} and", "ends where an operand", 15),
        ("user-agent == Firefox and", "ends where an operand", 26),
        ("(host == a", "missing ')'", 11),
        ("host == a)", "unexpected ')'", 10),
        ("hdr_sub(user-agent) Firefox", "unknown operand", 1),
        ("android", "write 'user-agent = android'", 1),
        ("< raw", "not closed", 1),
        ("user-agent == Firefox\nuse_backend evil", "control character", 22),
        ("host == a # comment", "'#' is not allowed", 11),
        ("", "empty", 1),
        ("host == \"unterminated", "not closed", 9),
        ("user-agent == and", "keyword 'and'", 15),
        ("host == a host == b", "unexpected 'host'", 11),
    ])
    func errors(text: String, fragment: String, column: Int) {
        do {
            _ = try ConditionParser.parse(text)
            Issue.record("'\(text)' should not parse")
        } catch {
            #expect(error.message.contains(fragment), "\(error)")
            #expect(error.column == column, "\(error)")
        }
    }

    @Test("deep nesting and huge conditions are refused, not a crash")
    func limits() {
        let deep = String(repeating: "(", count: 10_000) + "true" + String(repeating: ")", count: 10_000)
        #expect(throws: ConditionSyntaxError.self) { try ConditionParser.parse(deep) }
        let nots = String(repeating: "not ", count: 200) + "true"
        #expect(throws: ConditionSyntaxError.self) { try ConditionParser.parse(nots) }
        let long = Array(repeating: "has cookie c", count: 1000).joined(separator: " and ")
        #expect(throws: ConditionSyntaxError.self) { try ConditionParser.parse(long) }
    }
}

@Suite("Value references")
struct ValueReferenceTests {
    @Test("references of every form")
    func forms() throws {
        let value = try ValueExpression.parse("http://$api.host:$api.ports.port/v1,${db.environment_variables.URL},$db.constants.SCHEMA;${LOCAL} ${config://vamp.some.key} $$5")
        #expect(value.parts == [
            .literal("http://"), .host(cluster: "api"), .literal(":"), .trait(cluster: "api", group: .ports, name: "port"),
            .literal("/v1,"), .trait(cluster: "db", group: .environmentVariables, name: "URL"), .literal(","),
            .trait(cluster: "db", group: .constants, name: "SCHEMA"), .literal(";"), .local("LOCAL"), .literal(" "),
            .global(scheme: "config", path: "vamp.some.key"), .literal(" $5"),
        ])
        #expect(try ValueExpression.parse(value.description) == value)
        #expect(try ValueExpression.parse("plain text").hasReferences == false)
    }

    /// Found by fuzzing (Fuzz/, fuzz-value-reference): a `$` followed by a combining mark is one character, and the
    /// written form doubled dollars by character, so it stayed single and read back as a reference.
    @Test("a dollar before a combining mark is written doubled and reads back as text")
    func dollarBeforeCombiningMark() throws {
        let value = try ValueExpression.parse(" $$ $$\u{0711}a fBt$$u")
        #expect(value.parts == [.literal(" $ $\u{0711}a fBt$u")])
        #expect(value.description == " $$ $$\u{0711}a fBt$$u")
        #expect(try ValueExpression.parse(value.description) == value)
    }

    /// Found by fuzzing in CI (fuzz-value-reference, 2026-12-07): a braced reference was split into segments by
    /// character, and a dot followed by a combining mark is one character, so `${api.ports.<U+06DB>x}` (the written form
    /// of a reference read unbraced, by scalar) did not read back.
    @Test("a value with combining marks, replacement characters and control characters in and after references reads back from its written form")
    func fuzzedRoundTrip() throws {
        let bytes = [UInt8](Data(base64Encoded: "aGh0OiRhcE4ucG9ydHMuQ0gucHQ6JGFwc3Q6cnRzLkNILnB0eiRpLnBvcnRzLnBuICQkLy8kYXBpLmhvc3Q6JGFwaS5wb3J0cy5DSGxwdDokYXAkYXBpLmhvc3Q6JGFwTi5wb3J0cy5DSC5wdDokYXBpLnBvcnRzLnBuJGFwTi5wb3J0cy5DSC5wdDokYXBpLnBvcnRzLnBuICQkLy8kYXBpLmhvc3Q6JGFwaS5wb3J0cy5DSC5wdHokaS5wb3J0cy5wbiAkJC8vJGFwaS5ob3N0OiRhcGkucG9ydHMuQ0hscHQ6JGFwJGFwaS5ob3N0OiRhcE4ucG9ydHMuQ0gucHQ6JGFwaS5wb3J0cy5wbiAkJC8vJGFwaS5ob3N0OiRhcGkucG9ydHMu25vvv3R6JGkucG9ydHMucG4gJCQvLyRhcGkuaG9zdDokYXDpLnBvcnRzLkNIAQAAAAAAACZwcG9ydHMucG4gJCQx")!)
        let text = String(decoding: bytes, as: UTF8.self)
        let value = try ValueExpression.parse(text)
        let again = try ValueExpression.parse(value.description)
        #expect(again == value, "written \(value.description.debugDescription): \(again.parts) against \(value.parts)")
    }

    @Test("bad references say what is wrong", arguments: [
        ("${unclosed", "not closed"), ("cost: $", "'$$'"), ("$api.nothing", "not a valid reference"),
        ("${api.things.x}", "unknown trait group"), ("${}", "not a valid reference"),
    ])
    func errors(text: String, fragment: String) {
        do {
            _ = try ValueExpression.parse(text)
            Issue.record("'\(text)' should not parse")
        } catch {
            #expect(error.message.contains(fragment), "\(error)")
        }
    }
}
