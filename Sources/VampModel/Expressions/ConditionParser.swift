import Foundation

/// Why a condition does not parse, with the 1-based column where the problem is.
public struct ConditionSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and what was expected.
    public var message: String
    /// 1-based column in the condition text.
    public var column: Int

    public var description: String { "\(message) (at column \(column))" }
}

/// Parser of Vamp's condition grammar (reference §2.8).
///
/// Boolean layer: `and` `&&` `&`, `or` `||` `|`, `not` `!`, parentheses, constants `true` `t` `1`
/// `false` `f` `0`; keywords are case-insensitive. Operands: `user-agent == X` (`=`, `is`, `has`,
/// `contains`; `!=`, `misses` negate), `host == X`, `has|contains|misses cookie C`,
/// `has|contains|misses header H`, `cookie C has|contains|misses V`, `header H has|contains|misses V`,
/// and `< raw acl >`. Values with spaces or operator characters go in double or single quotes.
///
/// Unlike Vamp 0.9.5, text that does not parse is an error, never silently used as a raw ACL
/// (Vamp issue #926).
public enum ConditionParser {
    /// Longest accepted condition, in characters.
    public static let maximumLength = 4096
    /// Deepest accepted nesting of parentheses and `not`.
    public static let maximumDepth = 64

    /// Parses `text` into an expression.
    public static func parse(_ text: String) throws(ConditionSyntaxError) -> ConditionExpression {
        if text.count > maximumLength {
            throw ConditionSyntaxError(message: "the condition is longer than \(maximumLength) characters", column: 1)
        }
        // Columns count Unicode scalars (the lexer's), so the end does too: with a combining mark, characters were fewer
        // and an error at the end named a column inside the text (found by fuzzing).
        var parser = Parser(tokens: try ConditionLexer.tokenize(text), end: text.unicodeScalars.count + 1)
        if parser.tokens.isEmpty { throw ConditionSyntaxError(message: "the condition is empty", column: 1) }
        let expression = try parser.parseOr()
        if let token = parser.peek {
            throw ConditionSyntaxError(
                message: "unexpected '\(token.text)' after a complete condition; join conditions with 'and' or 'or'",
                column: token.column)
        }
        return expression
    }

    private struct Parser {
        let tokens: [ConditionLexer.Token]
        let end: Int
        var index = 0
        var depth = 0

        init(tokens: [ConditionLexer.Token], end: Int) {
            self.tokens = tokens
            self.end = end
        }

        var peek: ConditionLexer.Token? { index < tokens.count ? tokens[index] : nil }
        var column: Int { peek?.column ?? end }

        mutating func next() -> ConditionLexer.Token? {
            defer { index += 1 }
            return peek
        }

        func isKeyword(_ token: ConditionLexer.Token?, _ words: Set<String>) -> Bool {
            guard let token, token.kind == .word else { return false }
            return words.contains(token.text.lowercased())
        }

        func isSymbol(_ token: ConditionLexer.Token?, _ symbols: Set<String>) -> Bool {
            guard let token, token.kind == .symbol else { return false }
            return symbols.contains(token.text)
        }

        mutating func parseOr() throws(ConditionSyntaxError) -> ConditionExpression {
            var lhs = try parseAnd()
            while isKeyword(peek, ["or"]) || isSymbol(peek, ["||", "|"]) {
                index += 1
                lhs = .or(lhs, try parseAnd())
            }
            return lhs
        }

        mutating func parseAnd() throws(ConditionSyntaxError) -> ConditionExpression {
            var lhs = try parseUnary()
            while isKeyword(peek, ["and"]) || isSymbol(peek, ["&&", "&"]) {
                index += 1
                lhs = .and(lhs, try parseUnary())
            }
            return lhs
        }

        mutating func parseUnary() throws(ConditionSyntaxError) -> ConditionExpression {
            depth += 1
            defer { depth -= 1 }
            if depth > ConditionParser.maximumDepth {
                throw ConditionSyntaxError(message: "the condition nests deeper than \(ConditionParser.maximumDepth) levels", column: column)
            }
            if isKeyword(peek, ["not"]) || isSymbol(peek, ["!"]) {
                index += 1
                return .not(try parseUnary())
            }
            return try parsePrimary()
        }

        mutating func parsePrimary() throws(ConditionSyntaxError) -> ConditionExpression {
            guard let token = peek else {
                throw ConditionSyntaxError(message: "the condition ends where an operand was expected", column: end)
            }
            switch token.kind {
            case .symbol where token.text == "(":
                index += 1
                let inner = try parseOr()
                guard isSymbol(peek, [")"]) else {
                    throw ConditionSyntaxError(message: "missing ')' to close the '(' at column \(token.column)", column: column)
                }
                index += 1
                return inner
            case .raw:
                index += 1
                return .raw(token.text)
            case .symbol, .quoted:
                throw ConditionSyntaxError(
                    message: "expected an operand (user-agent, host, cookie, header, has, misses, true, false, < raw >) but found '\(token.text)'",
                    column: token.column)
            case .word:
                return try parseOperand(token)
            }
        }

        mutating func parseOperand(_ token: ConditionLexer.Token) throws(ConditionSyntaxError) -> ConditionExpression {
            let word = token.text.lowercased()
            index += 1
            switch word {
            case "true", "t", "1": return .constant(true)
            case "false", "f", "0": return .constant(false)
            case "user-agent", "user.agent", "useragent", "user_agent", "host":
                let negated = try parseComparison(after: token.text)
                let value = try parseValue(what: "a value after '\(token.text)'")
                let operand: ConditionExpression = word == "host" ? .host(value) : .userAgent(value)
                return negated ? .not(operand) : operand
            case "has", "contains", "misses":
                let afterVerb = next()
                guard let target = afterVerb, target.kind == .word, ["cookie", "header"].contains(target.text.lowercased()) else {
                    // Nothing after `has`: the column just past the text (found by fuzzing: `contains` alone read past the tokens).
                    throw ConditionSyntaxError(message: "expected 'cookie' or 'header' after '\(token.text)'", column: afterVerb?.column ?? end)
                }
                let name = try parseValue(what: "a \(target.text.lowercased()) name after '\(token.text) \(target.text)'")
                let operand: ConditionExpression = target.text.lowercased() == "cookie" ? .cookieExists(name) : .headerExists(name)
                return word == "misses" ? .not(operand) : operand
            case "cookie", "header":
                let name = try parseValue(what: "a \(word) name after '\(token.text)'")
                let afterName = next()
                guard let verb = afterName, verb.kind == .word, ["has", "contains", "misses"].contains(verb.text.lowercased()) else {
                    throw ConditionSyntaxError(
                        message: "expected 'has', 'contains' or 'misses' after '\(token.text) \(name)'", column: afterName?.column ?? end)
                }
                let value = try parseValue(what: "a value after '\(token.text) \(name) \(verb.text)'")
                let operand: ConditionExpression =
                    word == "cookie" ? .cookieContains(name: name, value: value) : .headerContains(name: name, value: value)
                return verb.text.lowercased() == "misses" ? .not(operand) : operand
            default:
                // A bare word such as `android` was a raw ACL in Vamp 0.9.5 (and broke HAProxy);
                // most often a user-agent test was meant.
                let bare = token.text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
                let hint = bare ? "; to match the browser or device write 'user-agent = \(token.text)'" : ""
                throw ConditionSyntaxError(
                    message: "unknown operand '\(token.text)'; expected user-agent, host, cookie, header, has, contains, misses, true, false or < raw acl >\(hint)",
                    column: token.column)
            }
        }

        /// Reads `==`, `=`, `is`, `has`, `contains` (false) or `!=`, `is not`, `misses` (true: negated).
        mutating func parseComparison(after subject: String) throws(ConditionSyntaxError) -> Bool {
            guard let token = next() else {
                throw ConditionSyntaxError(message: "expected '==' or '!=' after '\(subject)'", column: end)
            }
            if token.kind == .symbol, token.text == "==" || token.text == "=" { return false }
            if token.kind == .symbol, token.text == "!=" { return true }
            if token.kind == .word {
                switch token.text.lowercased() {
                case "is":
                    if isKeyword(peek, ["not"]) { index += 1; return true }
                    return false
                case "has", "contains": return false
                case "misses": return true
                default: break
                }
            }
            throw ConditionSyntaxError(message: "expected '==', '!=', 'is', 'has' or 'misses' after '\(subject)' but found '\(token.text)'", column: token.column)
        }

        mutating func parseValue(what: String) throws(ConditionSyntaxError) -> String {
            guard let token = peek else { throw ConditionSyntaxError(message: "expected \(what)", column: end) }
            guard token.kind == .word || token.kind == .quoted else {
                throw ConditionSyntaxError(message: "expected \(what) but found '\(token.text)'", column: token.column)
            }
            if token.kind == .word, ["and", "or", "not"].contains(token.text.lowercased()) {
                throw ConditionSyntaxError(message: "expected \(what) but found the keyword '\(token.text)'; quote it to use it as a value", column: token.column)
            }
            index += 1
            return token.text
        }
    }
}

/// Splits a condition into tokens.
enum ConditionLexer {
    enum Kind { case word, quoted, symbol, raw }

    struct Token {
        var kind: Kind
        var text: String
        var column: Int
    }

    static let keywords: Set<String> = [
        "and", "or", "not", "true", "t", "1", "false", "f", "0", "has", "contains", "misses", "is", "cookie", "header",
        "host", "user-agent", "user.agent", "useragent", "user_agent",
    ]

    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return isWordByte(UInt8(scalar.value)) }
        return !(scalar.properties.isWhitespace || (0x80..<0xA0).contains(scalar.value))
    }

    /// ASCII bytes that may be part of a word: printable, not space, not an operator character.
    static func isWordByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte != 0x7F && !"()!&|=<>\"'#".utf8.contains(byte)
    }

    /// Splits on UTF-8 bytes: every delimiter is ASCII, and non-ASCII text only occurs inside
    /// words and quoted values (columns count Unicode scalars, as in error messages).
    static func tokenize(_ text: String) throws(ConditionSyntaxError) -> [Token] {
        // Control characters, including Unicode line separators, are never allowed.
        for (offset, scalar) in text.unicodeScalars.enumerated()
        where scalar.value < 0x20 && scalar != " " && scalar != "\t" || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" {
            throw ConditionSyntaxError(message: "the condition contains a control character (U+\(String(scalar.value, radix: 16, uppercase: true))); conditions are one line of text", column: offset + 1)
        }
        let bytes = Array(text.utf8)
        var tokens: [Token] = []
        var i = 0
        var column = 1  // scalar column of bytes[i]
        func advance(to end: Int) {
            for byte in bytes[i..<end] where byte & 0xC0 != 0x80 { column += 1 }
            i = end
        }
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        while i < bytes.count {
            let byte = bytes[i]
            let start = column
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                advance(to: i + 1)
            case UInt8(ascii: "("), UInt8(ascii: ")"):
                tokens.append(Token(kind: .symbol, text: string(i..<(i + 1)), column: start))
                advance(to: i + 1)
            case UInt8(ascii: "&"), UInt8(ascii: "|"), UInt8(ascii: "="), UInt8(ascii: "!"):
                let next = i + 1 < bytes.count ? bytes[i + 1] : 0
                let double = byte == UInt8(ascii: "!") ? next == UInt8(ascii: "=") : next == byte
                let end = i + (double ? 2 : 1)
                tokens.append(Token(kind: .symbol, text: string(i..<end), column: start))
                advance(to: end)
            case UInt8(ascii: "<"):
                guard let close = bytes[(i + 1)...].firstIndex(of: UInt8(ascii: ">")) else {
                    throw ConditionSyntaxError(message: "a raw ACL opened with '<' is not closed with '>'", column: start)
                }
                let body = String(string((i + 1)..<close).trimmedSpaces)
                if body.isEmpty { throw ConditionSyntaxError(message: "the raw ACL between '<' and '>' is empty", column: start) }
                tokens.append(Token(kind: .raw, text: body, column: start))
                advance(to: close + 1)
            case UInt8(ascii: ">"):
                throw ConditionSyntaxError(message: "'>' without an opening '<'", column: start)
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                guard let close = bytes[(i + 1)...].firstIndex(of: byte) else {
                    throw ConditionSyntaxError(message: "the quoted value starting here is not closed with \(Character(Unicode.Scalar(byte)))", column: start)
                }
                let body = string((i + 1)..<close)
                if body.isEmpty { throw ConditionSyntaxError(message: "the quoted value is empty", column: start) }
                tokens.append(Token(kind: .quoted, text: body, column: start))
                advance(to: close + 1)
            case UInt8(ascii: "#"):
                throw ConditionSyntaxError(message: "'#' is not allowed in a condition (quote the value if it belongs to it)", column: start)
            default:
                var j = i
                while j < bytes.count, bytes[j] >= 0x80 || isWordByte(bytes[j]) { j += 1 }
                // Non-ASCII whitespace ends a word too.
                let word = string(i..<j)
                if let cut = word.unicodeScalars.firstIndex(where: { !isWordScalar($0) }) {
                    let prefix = String(word.unicodeScalars[..<cut])
                    if prefix.isEmpty {
                        throw ConditionSyntaxError(message: "unexpected character U+\(String(word.unicodeScalars[cut].value, radix: 16, uppercase: true))", column: start)
                    }
                    tokens.append(Token(kind: .word, text: prefix, column: start))
                    advance(to: i + prefix.utf8.count)
                    // Skip the whitespace scalar.
                    let skip = String(word.unicodeScalars[cut]).utf8.count
                    advance(to: i + skip)
                } else {
                    tokens.append(Token(kind: .word, text: word, column: start))
                    advance(to: j)
                }
            }
        }
        return tokens
    }
}
