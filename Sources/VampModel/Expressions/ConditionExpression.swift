/// A parsed route condition (reference §2.8): a boolean expression over request properties.
///
/// Produced by ``ConditionParser``; the HAProxy generator turns it into ACLs.
public indirect enum ConditionExpression: Sendable, Hashable, CustomStringConvertible {
    /// `true` / `false`.
    case constant(Bool)
    /// The `User-Agent` header contains the text.
    case userAgent(String)
    /// The `Host` header equals the text.
    case host(String)
    /// The named cookie is present.
    case cookieExists(String)
    /// The named header is present.
    case headerExists(String)
    /// The named cookie's value contains the text.
    case cookieContains(name: String, value: String)
    /// The named header's value contains the text.
    case headerContains(name: String, value: String)
    /// A raw HAProxy ACL, written between `<` and `>`.
    case raw(String)
    /// Negation.
    case not(ConditionExpression)
    /// Both hold.
    case and(ConditionExpression, ConditionExpression)
    /// Either holds.
    case or(ConditionExpression, ConditionExpression)

    /// A canonical text that parses back to the same expression when it is within ``ConditionParser/maximumLength``
    /// (it spells out abbreviations, `1&1` as `true and true`, so it can be longer than what was written).
    public var description: String { render(precedence: 0) }

    private func render(precedence: Int) -> String {
        switch self {
        case .constant(let value): return value ? "true" : "false"
        case .userAgent(let value): return "user-agent == \(Self.quote(value))"
        case .host(let value): return "host == \(Self.quote(value))"
        case .cookieExists(let name): return "has cookie \(Self.quote(name))"
        case .headerExists(let name): return "has header \(Self.quote(name))"
        case .cookieContains(let name, let value): return "cookie \(Self.quote(name)) has \(Self.quote(value))"
        case .headerContains(let name, let value): return "header \(Self.quote(name)) has \(Self.quote(value))"
        case .raw(let acl): return "< \(acl) >"
        case .not(let inner): return "not " + inner.render(precedence: 3)
        // `and` and `or` read left to right (`a or b or c` is `(a or b) or c`), so a right operand of the same
        // operator keeps its parentheses: the text reads back as the same tree, not only the same truth.
        case .and(let lhs, let rhs):
            let text = lhs.render(precedence: 2) + " and " + rhs.render(precedence: 3)
            return precedence > 2 ? "(\(text))" : text
        case .or(let lhs, let rhs):
            let text = lhs.render(precedence: 1) + " or " + rhs.render(precedence: 2)
            return precedence > 1 ? "(\(text))" : text
        }
    }

    /// Quotes a value when it would not read back as one plain word.
    static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { ConditionLexer.isWordScalar($0) }
            && !ConditionLexer.keywords.contains(value.lowercased())
        if plain { return value }
        // Scalars, as the lexer reads: a `"` followed by a combining mark is one Character that is not `"`.
        return value.unicodeScalars.contains("\"") ? "'" + value + "'" : "\"" + value + "\""
    }
}
