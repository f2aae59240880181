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
        var parser = Parser(tokens: try ConditionLexer.tokenize(text), end: text.count + 1)
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
                guard let target = next(), target.kind == .word, ["cookie", "header"].contains(target.text.lowercased()) else {
                    throw ConditionSyntaxError(message: "expected 'cookie' or 'header' after '\(token.text)'", column: tokens[index - 1].column)
                }
                let name = try parseValue(what: "a \(target.text.lowercased()) name after '\(token.text) \(target.text)'")
                let operand: ConditionExpression = target.text.lowercased() == "cookie" ? .cookieExists(name) : .headerExists(name)
                return word == "misses" ? .not(operand) : operand
            case "cookie", "header":
                let name = try parseValue(what: "a \(word) name after '\(token.text)'")
                guard let verb = next(), verb.kind == .word, ["has", "contains", "misses"].contains(verb.text.lowercased()) else {
                    throw ConditionSyntaxError(
                        message: "expected 'has', 'contains' or 'misses' after '\(token.text) \(name)'", column: tokens[min(index, tokens.count) - 1].column)
                }
                let value = try parseValue(what: "a value after '\(token.text) \(name) \(verb.text)'")
                let operand: ConditionExpression =
                    word == "cookie" ? .cookieContains(name: name, value: value) : .headerContains(name: name, value: value)
                return verb.text.lowercased() == "misses" ? .not(operand) : operand
            default:
                throw ConditionSyntaxError(
                    message: "unknown operand '\(token.text)'; expected user-agent, host, cookie, header, has, contains, misses, true, false or < raw acl >",
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
        !(scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value == 0x7F || "()!&|=<>\"'#".unicodeScalars.contains(scalar))
    }

    static func tokenize(_ text: String) throws(ConditionSyntaxError) -> [Token] {
        let scalars = Array(text.unicodeScalars)
        var tokens: [Token] = []
        var i = 0
        while i < scalars.count {
            let scalar = scalars[i]
            let column = i + 1
            if scalar == " " || scalar == "\t" {
                i += 1
                continue
            }
            if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}" {
                throw ConditionSyntaxError(message: "the condition contains a control character (U+\(String(scalar.value, radix: 16, uppercase: true))); conditions are one line of text", column: column)
            }
            switch scalar {
            case "(", ")":
                tokens.append(Token(kind: .symbol, text: String(scalar), column: column))
                i += 1
            case "&", "|", "=", "!":
                let nextScalar = i + 1 < scalars.count ? scalars[i + 1] : nil
                if scalar == "!" && nextScalar == "=" || (scalar == "&" || scalar == "|" || scalar == "=") && nextScalar == scalar {
                    tokens.append(Token(kind: .symbol, text: String(scalar) + String(nextScalar!), column: column))
                    i += 2
                } else {
                    tokens.append(Token(kind: .symbol, text: String(scalar), column: column))
                    i += 1
                }
            case "<":
                guard let close = scalars[(i + 1)...].firstIndex(of: ">") else {
                    throw ConditionSyntaxError(message: "a raw ACL opened with '<' is not closed with '>'", column: column)
                }
                var body = String(String.UnicodeScalarView(scalars[(i + 1)..<close]))
                body = String(body.trimmedSpaces)
                if body.isEmpty { throw ConditionSyntaxError(message: "the raw ACL between '<' and '>' is empty", column: column) }
                tokens.append(Token(kind: .raw, text: body, column: column))
                i = close + 1
            case ">":
                throw ConditionSyntaxError(message: "'>' without an opening '<'", column: column)
            case "\"", "'":
                guard let close = scalars[(i + 1)...].firstIndex(of: scalar) else {
                    throw ConditionSyntaxError(message: "the quoted value starting here is not closed with \(scalar)", column: column)
                }
                let body = String(String.UnicodeScalarView(scalars[(i + 1)..<close]))
                if body.isEmpty { throw ConditionSyntaxError(message: "the quoted value is empty", column: column) }
                tokens.append(Token(kind: .quoted, text: body, column: column))
                i = close + 1
            case "#":
                throw ConditionSyntaxError(message: "'#' is not allowed in a condition (quote the value if it belongs to it)", column: column)
            default:
                var j = i
                while j < scalars.count, isWordScalar(scalars[j]) { j += 1 }
                tokens.append(Token(kind: .word, text: String(String.UnicodeScalarView(scalars[i..<j])), column: column))
                i = j
            }
        }
        return tokens
    }
}
