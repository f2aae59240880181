import Foundation
import VampModel

/// Finds where a field path (`clusters.web.services[0].scale.memory`) is in the source
/// document, so errors found after reading (validation) can name a line. The tree is walked
/// only when an error needs a position; reading records nothing.
public struct SourceMap: Sendable {
    let root: DSLNode?

    static let aliases: [String: String] = [
        "environment_variables": "env", "dialects": "dialect", "definition": "def", "reference": "ref",
    ]

    /// The line and column of `path`, or of its closest parent present in the source.
    public func position(of path: String) -> (line: Int, column: Int)? {
        guard var node = root else { return nil }
        var best = node.mark
        var segments = Self.segments(path)[...]
        while let segment = segments.first {
            if case .index(let index) = segment {
                if case .sequence(let items, _) = node, index < items.count {
                    node = items[index]
                    best = node.mark
                } else if index != 0 {
                    break
                }
                // A single item written without its list (short form): stay on the node.
                segments = segments.dropFirst()
                continue
            }
            guard case .mapping(let entries, _) = node else { break }
            // Keys may contain dots (`web.LOG_LEVEL`): try the longest run of segments first.
            var matched = false
            var run = segments.prefix { if case .key = $0 { true } else { false } }
            while !run.isEmpty && !matched {
                let key = run.map { if case .key(let k) = $0 { k } else { "" } }.joined(separator: ".")
                if let entry = entries.first(where: { $0.key == key || $0.key == Self.aliases[key] }) {
                    if case .scalar = entry.value { best = entry.value.mark } else { best = entry.keyMark }
                    node = entry.value
                    segments = segments.dropFirst(run.count)
                    matched = true
                }
                run = run.dropLast()
            }
            if matched { continue }
            // A level the short form leaves out (`services`, a service's `breed`): skip it when
            // what follows is found here.
            var rest = segments.dropFirst()
            if case .index = rest.first { rest = rest.dropFirst() }
            guard case .key(let next) = rest.first, entries.contains(where: { $0.key == next || $0.key == Self.aliases[next] }) else { break }
            segments = rest
        }
        return (best.line, best.column)
    }

    enum Segment { case key(String), index(Int) }

    static func segments(_ path: String) -> [Segment] {
        var result: [Segment] = []
        var current = ""
        var index = path.startIndex
        while index < path.endIndex {
            let character = path[index]
            if character == "." {
                if !current.isEmpty { result.append(.key(current)) }
                current = ""
            } else if character == "[", let close = path[index...].firstIndex(of: "]"), let number = Int(path[path.index(after: index)..<close]) {
                if !current.isEmpty { result.append(.key(current)) }
                current = ""
                result.append(.index(number))
                index = close
            } else {
                current.append(character)
            }
            index = path.index(after: index)
        }
        if !current.isEmpty { result.append(.key(current)) }
        return result
    }
}

/// Thrown by a reader whose errors are already in ``ReadContext/errors``: reading goes on with
/// the next field, so one pass reports every error of a document.
struct AlreadyReported: Error {}

/// State shared while reading one document: where errors point, and every error found so far.
final class ReadContext {
    let kind: String
    var name: String?
    let document: Int?
    /// Every error found while reading, in the order found.
    var errors: [VampError] = []

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


    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Runs `body`; an error is recorded and `nil` returned, so reading continues with the next
    /// field and the document reports all its errors at once.
    func recover<T>(_ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch is AlreadyReported {
            return nil
        } catch let error as VampError {
            errors.append(error)
            return nil
        } catch {
            errors.append(self.error(.invalidValue, "\(error)", path: "", mark: nil))
            return nil
        }
    }

    /// Reads each item, recording the errors of the items that fail and keeping the others.
    func each<T>(_ items: [DSLNode], _ body: (Int, DSLNode) throws -> T) -> [T] {
        var out: [T] = []
        out.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            if let value = recover({ try body(index, item) }) { out.append(value) }
        }
        return out
    }

    // MARK: Scalars

    func string(_ node: DSLNode, _ path: String) throws -> String {
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
        guard let value = Int(text.trimmedSpaces) else {
            throw error(.invalidValue, "expected a whole number but found '\(Self.short(text))'", path: path, at: node)
        }
        if let range, !range.contains(value) {
            throw error(.invalidValue, "\(value) is outside \(range.lowerBound)...\(range.upperBound)", path: path, at: node)
        }
        return value
    }

    /// A port number, 0-65535, written as `BreedPort.parseNumber(_:)` takes it (no sign, no leading zero).
    func portNumber(_ node: DSLNode, _ path: String) throws -> Int {
        let text = try string(node, path)
        guard let value = BreedPort.parseNumber(text) else {
            throw error(.invalidValue, "expected a port number 0-65535 in plain digits (no sign, no leading zero) but found '\(Self.short(text))'", path: path, at: node)
        }
        return value
    }

    func double(_ node: DSLNode, _ path: String) throws -> Double {
        let text = try string(node, path)
        guard let value = Double(text.trimmedSpaces), value.isFinite else {
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
        guard case .mapping(let entries, _) = node else {
            // An empty field (`environment_variables:` with nothing after it) is an empty map.
            if node.isNull { return MapReader(entries: [], path: path, context: self, mark: node.mark) }
            throw error(.invalidValue, "expected a map but found \(node.typeName)", path: path, at: node)
        }
        return MapReader(entries: entries, path: path, context: self, mark: node.mark)
    }

    func list(_ node: DSLNode, _ path: String) throws -> [DSLNode] {
        guard case .sequence(let items, _) = node else {
            if node.isNull { return [] }
            throw error(.invalidValue, "expected a list but found \(node.typeName)", path: path, at: node)
        }
        return items
    }

    /// A list, or a single item that stands for a list of one.
    func listOrSingle(_ node: DSLNode, _ path: String) -> [DSLNode] {
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
    private var consumed: [Bool]

    init(entries: [(key: String, keyMark: SourceMark, value: DSLNode)], path: String, context: ReadContext, mark: SourceMark) {
        self.entries = entries
        self.path = path
        self.context = context
        self.mark = mark
        self.consumed = Array(repeating: false, count: entries.count)
    }

    var keys: [String] { entries.map(\.key) }
    var isEmpty: Bool { entries.isEmpty }

    func has(_ names: String...) -> Bool {
        for entry in entries where names.contains(entry.key) { return true }
        return false
    }

    /// The value of the first of `names` present (aliases such as `env`/`environment_variables`);
    /// an error when two aliases are both given.
    func take(_ names: String...) throws -> DSLNode? {
        var first: Int?
        for index in entries.indices where names.contains(entries[index].key) {
            consumed[index] = true
            if let earlier = first {
                throw context.error(
                    .invalidValue, "'\(entries[earlier].key)' and '\(entries[index].key)' mean the same; give only one",
                    path: context.join(path, entries[index].key), mark: entries[index].keyMark)
            }
            first = index
        }
        return first.map { entries[$0].value }
    }

    /// Like ``take(_:)`` but the field must be present.
    func require(_ names: String...) throws -> DSLNode {
        for index in entries.indices where names.contains(entries[index].key) {
            consumed[index] = true
            return entries[index].value
        }
        // A misspelt key is what the user wrote: point at its line, not at the map that lacks the field.
        if let typo = entries.first(where: { entry in names.contains { MapReader.isMisspelling(entry.key, of: $0) } }) {
            throw context.error(
                .missingField, "the field '\(names[0])' is required; '\(ReadContext.short(typo.key))' looks like a misspelling of it",
                path: context.join(path, typo.key), mark: typo.keyMark)
        }
        throw context.error(.missingField, "the field '\(names[0])' is required", path: context.join(path, names[0]), mark: mark)
    }

    /// Whether `key` is within two edits (insert, delete, replace, swap of neighbours) of `name`, and not it.
    static func isMisspelling(_ key: String, of name: String) -> Bool {
        let (a, b) = (Array(key.lowercased()), Array(name))
        guard a != b, abs(a.count - b.count) <= 2, b.count >= 4 else { return false }
        var previous2: [Int] = []
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { current[j] = min(current[j], previous2[j - 2] + 1) }
            }
            (previous2, previous) = (previous, current)
        }
        return previous[b.count] <= 2
    }

    func ignore(_ names: String...) { ignore(contentsOf: names) }

    func ignore(contentsOf names: [String]) {
        for index in entries.indices where names.contains(entries[index].key) { consumed[index] = true }
    }

    /// Records an error for every key that was not taken.
    func finish() {
        for index in entries.indices where !consumed[index] {
            let entry = entries[index]
            context.errors.append(context.error(
                .unexpectedKey, "unexpected in DSL: '\(ReadContext.short(entry.key))' is not a field here",
                path: context.join(path, entry.key), mark: entry.keyMark))
        }
    }
}
