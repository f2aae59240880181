import VampModel

/// One HAProxy ACL: its id (first 16 hex of SHA-1 of the definition, as Vamp named them) and
/// the text after `acl <id>`.
struct ACL: Hashable {
    let definition: String
    let id: String

    init(definition: String) {
        self.definition = definition
        self.id = String(Names.lookupName(kind: "acl", name: definition).prefix(16))
    }
}

/// A condition turned into HAProxy terms: `use_backend X if <term1> or <term2> …`, each term a
/// list of (possibly negated) ACLs that must all hold.
struct ACLCondition {
    /// `true` when the condition matches every request (no `if` needed).
    var always: Bool
    /// The OR of ANDs; empty and not `always` means the condition never matches.
    var terms: [[(acl: ACL, negated: Bool)]]

    var acls: [ACL] {
        var seen = Set<ACL>()
        var ordered: [ACL] = []
        for term in terms { for literal in term where seen.insert(literal.acl).inserted { ordered.append(literal.acl) } }
        return ordered
    }

    /// The words of ``expression`` on HAProxy's line: one per ACL, one per `or`.
    var words: Int { terms.reduce(0) { $0 + $1.count } + max(terms.count - 1, 0) }

    /// `a !b or c`.
    var expression: String {
        terms.map { term in term.map { ($0.negated ? "!" : "") + $0.acl.id }.joined(separator: " ") }.joined(separator: " or ")
    }
}

/// Translates condition expressions (reference §2.8) to HAProxy 2.6 ACLs.
enum ConditionTranslator {
    /// Most OR-terms a condition may expand to.
    static let maximumTerms = 64

    /// Browser names expand to what their User-Agent contains (Vamp's user-agents table).
    static func userAgentPatterns(_ value: String) -> [String] {
        switch value.lowercased() {
        case "chrome": ["Chrome"]
        case "firefox": ["Firefox"]
        case "edge": ["Edge"]
        case "ie", "internet explorer", "msie": ["MSIE"]
        case "safari": ["Safari", "Version"]
        default: [value]
        }
    }

    static func translate(_ expression: ConditionExpression) throws(HAProxyConfigError) -> ACLCondition {
        guard let terms = try dnf(expression, negated: false) else {
            throw HAProxyConfigError(code: .condition, message: "the condition expands to more than \(maximumTerms) alternatives; simplify it")
        }
        if terms.contains(where: \.isEmpty) { return ACLCondition(always: true, terms: []) }
        return ACLCondition(always: false, terms: terms)
    }

    typealias Term = [(acl: ACL, negated: Bool)]

    static func dnf(_ expression: ConditionExpression, negated: Bool) throws(HAProxyConfigError) -> [Term]? {
        switch expression {
        case .constant(let value):
            return value != negated ? [[]] : []
        case .not(let inner):
            return try dnf(inner, negated: !negated)
        case .and(let lhs, let rhs):
            guard let a = try dnf(lhs, negated: negated), let b = try dnf(rhs, negated: negated) else { return nil }
            return negated ? union(a, b) : product(a, b)
        case .or(let lhs, let rhs):
            guard let a = try dnf(lhs, negated: negated), let b = try dnf(rhs, negated: negated) else { return nil }
            return negated ? product(a, b) : union(a, b)
        case .userAgent(let value):
            // Safari means "contains Safari and Version": a conjunction of two ACLs.
            let literals = try userAgentPatterns(value).map { pattern throws(HAProxyConfigError) in
                ACL(definition: "req.fhdr(User-Agent) -m sub \(try quotedValue(pattern))")
            }
            if negated { return literals.map { [($0, true)] } }
            return [literals.map { ($0, false) }]
        default:
            return [[(try leaf(expression), negated)]]
        }
    }

    static func leaf(_ expression: ConditionExpression) throws(HAProxyConfigError) -> ACL {
        switch expression {
        case .host(let value):
            return ACL(definition: "req.hdr(host),field(1,:) -m str -i \(try quotedValue(value))")
        case .cookieExists(let name):
            return ACL(definition: "req.cook(\(try fieldName(name))) -m found")
        case .headerExists(let name):
            return ACL(definition: "req.hdr_cnt(\(try fieldName(name))) gt 0")
        case .cookieContains(let name, let value):
            return ACL(definition: "req.cook(\(try fieldName(name))) -m sub \(try quotedValue(value))")
        case .headerContains(let name, let value):
            return ACL(definition: "req.fhdr(\(try fieldName(name))) -m sub \(try quotedValue(value))")
        case .raw(let text):
            return ACL(definition: try ACLText.validate(text, what: "raw ACL"))
        default:
            preconditionFailure("not a leaf: \(expression)")
        }
    }

    static func fieldName(_ name: String) throws(HAProxyConfigError) -> String {
        guard !name.isEmpty, name.utf8.count <= 128,
              name.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E })
        else {
            throw HAProxyConfigError(code: .unsafeValue, message: "the header or cookie name '\(HAProxyText.comment(name))' may contain only letters, digits, '-', '_' and '.'")
        }
        return name
    }

    static func quotedValue(_ value: String) throws(HAProxyConfigError) -> String {
        guard HAProxyText.isSingleLine(value), !value.isEmpty, value.utf8.count <= 1024 else {
            throw HAProxyConfigError(code: .unsafeValue, message: "the condition value '\(HAProxyText.comment(value))' must be 1 to 1024 characters without control characters")
        }
        // `--` ends the flags, so a value starting with '-' stays a pattern.
        return "-- " + HAProxyText.quoted(value)
    }

    static func union(_ a: [Term], _ b: [Term]) -> [Term]? {
        let all = deduplicate(a + b)
        return all.count > maximumTerms ? nil : all
    }

    static func product(_ a: [Term], _ b: [Term]) -> [Term]? {
        if a.count * b.count > maximumTerms * 4 { return nil }
        var out: [Term] = []
        for x in a {
            for y in b {
                var term = x
                for literal in y where !term.contains(where: { $0.acl == literal.acl && $0.negated == literal.negated }) { term.append(literal) }
                // A term with a literal and its negation never holds.
                if term.contains(where: { l in term.contains { $0.acl == l.acl && $0.negated != l.negated } }) { continue }
                out.append(term)
            }
        }
        let all = deduplicate(out)
        return all.count > maximumTerms ? nil : all
    }

    static func deduplicate(_ terms: [Term]) -> [Term] {
        var seen = Set<String>()
        return terms.filter { term in
            let key = term.map { ($0.negated ? "!" : "") + $0.acl.definition }.sorted().joined(separator: "\u{1}")
            return seen.insert(key).inserted
        }
    }
}
