import Foundation

/// A free-form JSON-like value: metadata, dialects, template definitions, event values and
/// generic SLA/escalation parameters. Objects are kept with sorted keys so output is canonical.
///
/// The one JSON value of the SDK: the DSL reads and writes it, the persistence stores keep event
/// values in it. Numbers are kept as their decimal text, so nothing is lost between a reader and
/// a store (`Codable` writes the number back as a JSON number, not a string).
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

    /// The value at a dotted path of object keys (`"a.b"`); the value itself for `nil` or `""`.
    public func value(atPath path: String?) -> JSONValue? {
        guard let path, !path.isEmpty else { return self }
        var current = self
        for key in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let object) = current, let next = object[String(key)] else { return nil }
            current = next
        }
        return current
    }
}

extension JSONValue: Codable {
    /// Decodes any JSON value; a number keeps its decimal digits (`Decimal`, not `Double`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(Decimal.self) {
            self = .number(value.description)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value; a number is written as a JSON number with its digits. A `.number` whose
    /// text is not a decimal number fails with `EncodingError.invalidValue`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let text):
            if let integer = Int64(text) {
                try container.encode(integer)
            } else if let double = Double(text), double.isFinite, let decimal = Decimal(string: text) {
                try container.encode(decimal)
            } else {
                throw EncodingError.invalidValue(
                    text, .init(codingPath: encoder.codingPath, debugDescription: "'\(text)' is not a JSON number"))
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
