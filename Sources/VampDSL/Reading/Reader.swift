import Foundation
import VampModel

/// Field path → source position, so validation errors found later can name the line.
public struct SourceMap: Sendable {
    var marks: [String: SourceMark] = [:]

    /// The line and column of `path`, or of its closest recorded parent.
    public func position(of path: String) -> (line: Int, column: Int)? {
        var current = Substring(path)
        while true {
            if let mark = marks[String(current)] { return (mark.line, mark.column) }
            guard let cut = current.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            current = current[..<cut]
        }
        return marks[""].map { ($0.line, $0.column) }
    }
}

/// State shared while reading one document: where errors point and what was seen where.
final class ReadContext {
    let kind: String
    var name: String?
    let document: Int?
    var sourceMap = SourceMap()

    init(kind: String, document: Int?) {
        self.kind = kind
        self.document = document
    }

    func error(_ code: VampError.Code, _ message: String, path: String, at node: DSLNode?) -> VampError {
        error(code, message, path: path, mark: node?.mark)
    }

    func error(_ code: VampError.Code, _ message: String, path: String, mark: SourceMark?) -> VampError {
        VampError(code, message, kind: kind, name: name, path: path, line: mark?.line, column: mark?.column, document: document)
    }

    /// Remembers where `path` is. A map or list keeps an earlier mark (its key's line).
    func record(_ path: String, _ node: DSLNode) {
        if case .scalar = node {
            sourceMap.marks[path] = node.mark
        } else if sourceMap.marks[path] == nil {
            sourceMap.marks[path] = node.mark
        }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    // MARK: Scalars

    func string(_ node: DSLNode, _ path: String) throws -> String {
        record(path, node)
        guard case .scalar(let text, _, _) = node, !node.isNull else {
            throw error(.invalidValue, "expected text but found \(node.typeName)", path: path, at: node)
        }
        return text
    }

    func optionalString(_ node: DSLNode?, _ path: String) throws -> String? {
        guard let node, !node.isNull else { return nil }
        return try string(node, path)
    }

    func int(_ node: DSLNode, _ path: String, range: ClosedRange<Int>? = nil) throws -> Int {
        let text = try string(node, path)
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw error(.invalidValue, "expected a whole number but found '\(Self.short(text))'", path: path, at: node)
        }
        if let range, !range.contains(value) {
            throw error(.invalidValue, "\(value) is outside \(range.lowerBound)...\(range.upperBound)", path: path, at: node)
        }
        return value
    }

    func double(_ node: DSLNode, _ path: String) throws -> Double {
        let text = try string(node, path)
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw error(.invalidValue, "expected a number but found '\(Self.short(text))'", path: path, at: node)
        }
        return value
    }

    func bool(_ node: DSLNode, _ path: String) throws -> Bool {
        let text = try string(node, path)
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(.invalidValue, "expected true or false but found '\(Self.short(text))'", path: path, at: node)
        }
    }

    func percentage(_ node: DSLNode, _ path: String) throws -> Percentage {
        let text = try string(node, path)
        guard let value = Percentage(parsing: text) else {
            if Int(text) != nil {
                throw error(.invalidValue, "a percentage needs a '%' sign: write \"\(text)%\"", path: path, at: node)
            }
            throw error(.invalidValue, "expected a percentage from \"0%\" to \"100%\" but found '\(Self.short(text))'", path: path, at: node)
        }
        return value
    }

    func time(_ node: DSLNode, _ path: String) throws -> TimeValue {
        let text = try string(node, path)
        guard let value = TimeValue(parsing: text) else {
            throw error(.invalidValue, "expected a time such as 10s, 1m or 1h but found '\(Self.short(text))'", path: path, at: node)
        }
        return value
    }

    func name(_ node: DSLNode, _ path: String) throws -> String {
        let text = try string(node, path)
        if let problem = Names.artifactNameProblem(text) {
            throw error(.illegalName, "illegal name or reference: \(problem)", path: path, at: node)
        }
        return text
    }

    // MARK: Collections

    func map(_ node: DSLNode, _ path: String) throws -> MapReader {
        record(path, node)
        guard case .mapping(let entries, _) = node else {
            throw error(.invalidValue, "expected a map but found \(node.typeName)", path: path, at: node)
        }
        return MapReader(entries: entries, path: path, context: self, mark: node.mark)
    }

    func list(_ node: DSLNode, _ path: String) throws -> [DSLNode] {
        record(path, node)
        guard case .sequence(let items, _) = node else {
            throw error(.invalidValue, "expected a list but found \(node.typeName)", path: path, at: node)
        }
        return items
    }

    /// A list, or a single item that stands for a list of one.
    func listOrSingle(_ node: DSLNode, _ path: String) -> [DSLNode] {
        record(path, node)
        if case .sequence(let items, _) = node { return items }
        if node.isNull { return [] }
        return [node]
    }

    /// A free-form value (metadata, dialects, parameters).
    func json(_ node: DSLNode) -> JSONValue {
        switch node {
        case .scalar(let text, let plain, _):
            if node.isNull { return .null }
            if plain {
                if ["true", "false"].contains(text.lowercased()) { return .bool(text.lowercased() == "true") }
                if Int(text) != nil || (Double(text).map { $0.isFinite } ?? false) && text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true {
                    return .number(text)
                }
            }
            return .string(text)
        case .sequence(let items, _): return .array(items.map(json))
        case .mapping(let entries, _):
            var object: [String: JSONValue] = [:]
            for entry in entries { object[entry.key] = json(entry.value) }
            return .object(object)
        }
    }

    func object(_ node: DSLNode?, _ path: String) throws -> [String: JSONValue] {
        guard let node, !node.isNull else { return [:] }
        record(path, node)
        guard case .object(let object) = json(node) else {
            throw error(.invalidValue, "expected a map but found \(node.typeName)", path: path, at: node)
        }
        return object
    }

    static func short(_ text: String) -> String {
        let cleaned = text.replacingOccurrences(of: "\n", with: "\\n")
        return cleaned.count > 60 ? String(cleaned.prefix(60)) + "…" : cleaned
    }
}

/// Reads a map key by key; keys never taken are "unexpected in DSL" errors (Vamp's strict DSL).
final class MapReader {
    let entries: [(key: String, keyMark: SourceMark, value: DSLNode)]
    let path: String
    let context: ReadContext
    let mark: SourceMark
    private var consumed = Set<String>()

    init(entries: [(key: String, keyMark: SourceMark, value: DSLNode)], path: String, context: ReadContext, mark: SourceMark) {
        self.entries = entries
        self.path = path
        self.context = context
        self.mark = mark
    }

    var keys: [String] { entries.map(\.key) }
    var isEmpty: Bool { entries.isEmpty }

    func has(_ names: String...) -> Bool { entries.contains { names.contains($0.key) } }

    /// The value of the first of `names` present (aliases such as `env`/`environment_variables`);
    /// an error when two aliases are both given.
    func take(_ names: String...) throws -> DSLNode? {
        let found = entries.filter { names.contains($0.key) }
        for entry in found { consumed.insert(entry.key) }
        if found.count > 1 {
            throw context.error(
                .invalidValue, "'\(found[0].key)' and '\(found[1].key)' mean the same; give only one",
                path: context.join(path, found[1].key), mark: found[1].keyMark)
        }
        guard let entry = found.first else { return nil }
        record(entry, as: names[0])
        return entry.value
    }

    /// Like ``take(_:)`` but the field must be present.
    func require(_ names: String...) throws -> DSLNode {
        let found = entries.filter { names.contains($0.key) }
        guard let first = found.first else {
            throw context.error(.missingField, "the field '\(names[0])' is required", path: context.join(path, names[0]), mark: mark)
        }
        consumed.insert(first.key)
        record(first, as: names[0])
        return first.value
    }

    func ignore(_ names: String...) { consumed.formUnion(names) }

    /// Scalars point at their value; maps and lists at their key line.
    private func record(_ entry: (key: String, keyMark: SourceMark, value: DSLNode), as name: String) {
        let fieldPath = context.join(path, name)
        if case .scalar = entry.value {
            context.record(fieldPath, entry.value)
        } else {
            context.sourceMap.marks[fieldPath] = entry.keyMark
        }
    }

    /// Throws for the first key that was not taken.
    func finish() throws {
        for entry in entries where !consumed.contains(entry.key) {
            throw context.error(
                .unexpectedKey, "unexpected in DSL: '\(ReadContext.short(entry.key))' is not a field here",
                path: context.join(path, entry.key), mark: entry.keyMark)
        }
    }
}
