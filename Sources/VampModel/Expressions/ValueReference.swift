import Foundation

/// A value with references to other traits, resolved when a service is deployed (reference §2.3):
/// `http://$api.host:$api.ports.port/v1`, `${db.environment_variables.URL}`, `$$` for a literal `$`.
public struct ValueExpression: Sendable, Hashable, CustomStringConvertible {
    /// One piece of a value.
    public enum Part: Sendable, Hashable {
        /// Plain text.
        case literal(String)
        /// `$name`: the service's own variable or a breed constant.
        case local(String)
        /// `$cluster.host`: the host of the gateway agent serving `cluster` (or dependency alias).
        case host(cluster: String)
        /// `$cluster.ports.p`, `$cluster.environment_variables.V`, `$cluster.constants.C`.
        case trait(cluster: String, group: TraitGroup, name: String)
        /// `${scheme://path}`: a global reference such as `${config://vamp.some.key}`.
        case global(scheme: String, path: String)
    }

    /// The trait groups a reference can name.
    public enum TraitGroup: String, Sendable, Hashable, CaseIterable {
        case ports
        case environmentVariables = "environment_variables"
        case constants
    }

    /// The parts in order.
    public var parts: [Part]

    /// Creates an expression from parts.
    public init(parts: [Part]) { self.parts = parts }

    /// True when the value contains at least one reference.
    public var hasReferences: Bool { parts.contains { if case .literal = $0 { false } else { true } } }

    /// The value written back (`$$` for `$`, `${…}` around each reference).
    public var description: String {
        parts.map { part in
            switch part {
            case .literal(let text): Self.escaped(text)
            case .local(let name): "${\(name)}"
            case .host(let cluster): "${\(cluster).host}"
            case .trait(let cluster, let group, let name): "${\(cluster).\(group.rawValue).\(name)}"
            case .global(let scheme, let path): "${\(scheme)://\(path)}"
            }
        }.joined()
    }

    /// A literal with each `$` doubled, scalar by scalar: `replacingOccurrences` compares characters, and a `$`
    /// followed by a combining mark is one character, so it stayed single and read back as a reference (found by
    /// fuzzing).
    static func escaped(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(scalar)
            if scalar == "$" { scalars.append(scalar) }
        }
        return String(scalars)
    }

    /// Parses a value. Throws a message for an unclosed `${`, an empty reference, or an unknown
    /// trait group.
    public static func parse(_ text: String) throws(ValueReferenceError) -> ValueExpression {
        var parts: [Part] = []
        var literal = ""
        let scalars = Array(text.unicodeScalars)
        var i = 0
        func flush() {
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
        }
        while i < scalars.count {
            guard scalars[i] == "$" else {
                literal.unicodeScalars.append(scalars[i])
                i += 1
                continue
            }
            let column = i + 1
            if i + 1 < scalars.count, scalars[i + 1] == "$" {
                literal.append("$")
                i += 2
                continue
            }
            if i + 1 < scalars.count, scalars[i + 1] == "{" {
                guard let close = scalars[(i + 2)...].firstIndex(of: "}") else {
                    throw ValueReferenceError(message: "'${' is not closed with '}'", column: column)
                }
                let body = String(String.UnicodeScalarView(scalars[(i + 2)..<close]))
                flush()
                if let schemeEnd = body.range(of: "://") {
                    let scheme = String(body[..<schemeEnd.lowerBound])
                    let path = String(body[schemeEnd.upperBound...])
                    guard !scheme.isEmpty, !path.isEmpty, scheme.unicodeScalars.allSatisfy({ isNameScalar($0) }) else {
                        throw ValueReferenceError(message: "the global reference '${\(body)}' needs the form ${scheme://path}", column: column)
                    }
                    parts.append(.global(scheme: scheme, path: path))
                } else {
                    // Split on the scalar: a dot followed by a combining mark is one character, not a dot.
                    let segments = body.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
                    parts.append(try reference(segments, column: column, original: body))
                }
                i = close + 1
                continue
            }
            // Unbraced: segments of name characters separated by single dots.
            var j = i + 1
            var segments: [String] = []
            var current = ""
            while j < scalars.count {
                if isNameScalar(scalars[j]) {
                    current.unicodeScalars.append(scalars[j])
                    j += 1
                } else if scalars[j] == ".", !current.isEmpty, j + 1 < scalars.count, isNameScalar(scalars[j + 1]), segments.count < 2 {
                    segments.append(current)
                    current = ""
                    j += 1
                } else {
                    break
                }
            }
            if current.isEmpty {
                throw ValueReferenceError(message: "'$' is not followed by a name; write '$$' for a literal dollar sign", column: column)
            }
            segments.append(current)
            flush()
            parts.append(try reference(segments, column: column, original: segments.joined(separator: ".")))
            i = j
        }
        flush()
        return ValueExpression(parts: parts)
    }

    private static func reference(_ segments: [String], column: Int, original: String) throws(ValueReferenceError) -> Part {
        guard !segments.isEmpty, segments.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(isNameScalar) }) else {
            throw ValueReferenceError(message: "'\(original)' is not a valid reference", column: column)
        }
        switch segments.count {
        case 1: return .local(segments[0])
        case 2 where segments[1] == "host": return .host(cluster: segments[0])
        case 3:
            guard let group = TraitGroup(rawValue: segments[1]) else {
                throw ValueReferenceError(
                    message: "'\(original)' names the unknown trait group '\(segments[1])'; use ports, environment_variables or constants",
                    column: column)
            }
            return .trait(cluster: segments[0], group: group, name: segments[2])
        default:
            throw ValueReferenceError(
                message: "'\(original)' is not a valid reference; use $name, $cluster.host or $cluster.ports|environment_variables|constants.name",
                column: column)
        }
    }

    /// Reference names exclude whitespace and `/ [ ] . { } : ; , $`.
    static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 {
            // ASCII whitespace and control characters are all at or below 0x20.
            return scalar.value > 0x20 && !"/[].{}:;,$".unicodeScalars.contains(scalar)
        }
        return !(scalar.properties.isWhitespace || scalar.value < 0x20 || "/[].{}:;,$".unicodeScalars.contains(scalar))
    }
}

/// Why a value's references do not parse.
public struct ValueReferenceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// 1-based column in the value.
    public var column: Int

    public var description: String { "\(message) (at column \(column))" }
}
