/// A free-form JSON-like value: metadata, dialects, template definitions, event values and
/// generic SLA/escalation parameters. Objects are kept with sorted keys so output is canonical.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number, kept as its decimal text so no precision is lost (`"42"`, `"0.5"`).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A number value from a `Double`, formatted without a needless fraction (`2` not `2.0`).
    public static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number(String(value))
    }

    /// The value as a `Double` when it is a number.
    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// The value as a string when it is one.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
