public import Foundation

/// A JSON value as WebDriver sends and receives it: script arguments and results, element references.
public enum WebDriverValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([WebDriverValue])
    case object([String: WebDriverValue])

    /// The key under which the W3C protocol carries an element's reference.
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    /// The string, or nil when the value is not one.
    public var string: String? { if case .string(let value) = self { value } else { nil } }
    /// The number, or nil when the value is not one.
    public var double: Double? { if case .number(let value) = self { value } else { nil } }
    /// The number as an integer (rounded toward zero), or nil when the value is not a number.
    public var int: Int? { double.map { Int($0) } }
    /// The Boolean, or nil when the value is not one.
    public var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    /// The elements, or nil when the value is not an array.
    public var array: [WebDriverValue]? { if case .array(let value) = self { value } else { nil } }
    /// The members, or nil when the value is not an object.
    public var object: [String: WebDriverValue]? { if case .object(let value) = self { value } else { nil } }
    /// True for `null`.
    public var isNull: Bool { self == .null }

    /// The member `key` of an object (`.null` when absent or not an object).
    public subscript(key: String) -> WebDriverValue { object?[key] ?? .null }

    /// Converts what `JSONSerialization` read.
    init(json: Any) {
        switch json {
        case is NSNull: self = .null
        case let number as NSNumber:
            // JSONSerialization reads true/false as a Boolean NSNumber, whose type is a C char ("c").
            if String(cString: number.objCType) == "c" { self = .bool(number.boolValue) } else { self = .number(number.doubleValue) }
        case let string as String: self = .string(string)
        case let array as [Any]: self = .array(array.map(WebDriverValue.init(json:)))
        case let object as [String: Any]: self = .object(object.mapValues(WebDriverValue.init(json:)))
        default: self = .string("\(json)")
        }
    }

    /// Reads a JSON document.
    init(data: Data) throws {
        self.init(json: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// What `JSONSerialization` writes.
    var json: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .number(let value): value
        case .string(let value): value
        case .array(let value): value.map(\.json)
        case .object(let value): value.mapValues(\.json)
        }
    }

    /// The JSON text.
    var data: Data {
        // Top-level fragments (a bare string) are allowed too.
        (try? JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed, .sortedKeys])) ?? Data("null".utf8)
    }

    public var description: String { String(decoding: data, as: UTF8.self) }
}

extension WebDriverValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: WebDriverValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, WebDriverValue)...) {
        self = .object(Dictionary(elements) { _, last in last })
    }
}
