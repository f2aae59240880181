import VampModel
import Yams

/// A position in a source document.
struct SourceMark: Sendable, Hashable {
    var line: Int
    var column: Int
}

/// A YAML/JSON document as a tree with source positions, independent of Yams.
indirect enum DSLNode: Sendable {
    case scalar(String, plain: Bool, SourceMark)
    case mapping([(key: String, keyMark: SourceMark, value: DSLNode)], SourceMark)
    case sequence([DSLNode], SourceMark)

    var mark: SourceMark {
        switch self {
        case .scalar(_, _, let mark), .mapping(_, let mark), .sequence(_, let mark): mark
        }
    }

    /// True for `~`, `null`, or an empty plain scalar.
    var isNull: Bool {
        if case .scalar(let text, let plain, _) = self, plain {
            return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
        }
        return false
    }

    var typeName: String {
        switch self {
        case .scalar: isNull ? "null" : "a scalar"
        case .mapping: "a map"
        case .sequence: "a list"
        }
    }
}

/// Limits that keep hostile input from exhausting memory, stack or time.
public struct DSLLimits: Sendable {
    /// Largest accepted input, in bytes.
    public var maximumBytes: Int
    /// Deepest accepted nesting of maps and lists.
    public var maximumDepth: Int
    /// Most nodes one input may expand to (after aliases are resolved).
    public var maximumNodes: Int

    /// Creates limits (defaults: 16 MiB, depth 64, 2,000,000 nodes).
    public init(maximumBytes: Int = 16 << 20, maximumDepth: Int = 64, maximumNodes: Int = 2_000_000) {
        self.maximumBytes = maximumBytes
        self.maximumDepth = maximumDepth
        self.maximumNodes = maximumNodes
    }
}

/// Parses text into ``DSLNode`` documents with Yams, guarding against hostile input.
enum SourceParser {
    static func documents(_ text: String, limits: DSLLimits) throws -> [DSLNode] {
        if text.utf8.count > limits.maximumBytes {
            throw VampError(.limit, "the input is \(text.utf8.count) bytes; at most \(limits.maximumBytes) are accepted")
        }
        try checkNesting(text, limit: limits.maximumDepth)
        var sequence: YamlSequence<Node>
        do {
            sequence = try Yams.compose_all(yaml: text)
        } catch {
            throw syntaxError(error)
        }
        var budget = limits.maximumNodes
        var result: [DSLNode] = []
        while let node = sequence.next() {
            result.append(try convert(node, budget: &budget, depth: 0, limits: limits))
        }
        if let error = sequence.error { throw syntaxError(error) }
        return result
    }

    /// Rejects input nested deeper than `limit` before Yams sees it (Yams composes recursively).
    /// Counts open flow brackets and block indentation levels; an over-estimate for odd layouts,
    /// which only matters beyond `limit` levels.
    static func checkNesting(_ text: String, limit: Int) throws {
        var flowDepth = 0
        var indentStack: [Int] = [0]
        var line = 1
        var inQuote: UInt8? = nil
        var atLineStart = true
        var indent = 0
        var inComment = false
        var dashes = 0
        var previousWasDash = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n") {
                line += 1
                atLineStart = true
                indent = 0
                dashes = 0
                previousWasDash = false
                inComment = false
                if inQuote == UInt8(ascii: "'") || inQuote == UInt8(ascii: "\"") { continue }
                continue
            }
            if inComment { continue }
            if atLineStart {
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-") {
                    if byte == UInt8(ascii: " ") && previousWasDash { dashes += 1 }
                    previousWasDash = byte == UInt8(ascii: "-")
                    indent += 1
                    continue
                }
                atLineStart = false
                if flowDepth == 0 && inQuote == nil && byte != UInt8(ascii: "#") {
                    while let top = indentStack.last, top > indent { indentStack.removeLast() }
                    if indent > (indentStack.last ?? 0) { indentStack.append(indent) }
                    if indentStack.count + dashes > limit {
                        throw VampError(.limit, "the document nests deeper than \(limit) levels", line: line)
                    }
                }
            }
            if let quote = inQuote {
                if byte == quote { inQuote = nil }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): if flowDepth > 0 { inQuote = byte }
            case UInt8(ascii: "#"): inComment = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flowDepth += 1
                if flowDepth + indentStack.count > limit + 1 {
                    throw VampError(.limit, "the document nests deeper than \(limit) levels", line: line)
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): flowDepth = max(0, flowDepth - 1)
            default: break
            }
        }
    }

    static func syntaxError(_ error: any Error) -> VampError {
        if let yaml = error as? YamlError {
            switch yaml {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
                let text = [context?.description, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
                return VampError(.syntax, "invalid YAML/JSON: \(text)", line: mark.line, column: mark.column)
            case .composer(let context, let problem, let mark, _):
                let text = [context?.description, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
                return VampError(.syntax, "invalid YAML/JSON: \(text)", line: mark.line, column: mark.column)
            case .duplicatedKeysInMapping(let duplicates, let context):
                return VampError(
                    .syntax, "the key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) appears twice in one map; each key may appear once",
                    line: context.mark.line, column: context.mark.column)
            default:
                return VampError(.syntax, "invalid YAML/JSON: \(yaml)")
            }
        }
        return VampError(.syntax, "invalid YAML/JSON: \(error)")
    }

    static func convert(_ node: Node, budget: inout Int, depth: Int, limits: DSLLimits) throws -> DSLNode {
        budget -= 1
        if budget < 0 {
            throw VampError(.limit, "the document expands to more than \(limits.maximumNodes) nodes (an alias bomb?)", line: node.mark?.line)
        }
        if depth > limits.maximumDepth {
            throw VampError(.limit, "the document nests deeper than \(limits.maximumDepth) levels", line: node.mark?.line)
        }
        let mark = SourceMark(line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
        switch node {
        case .scalar(let scalar):
            return .scalar(scalar.string, plain: scalar.style == .plain || scalar.style == .any, mark)
        case .sequence(let sequence):
            var items: [DSLNode] = []
            items.reserveCapacity(sequence.count)
            for item in sequence { items.append(try convert(item, budget: &budget, depth: depth + 1, limits: limits)) }
            return .sequence(items, mark)
        case .mapping(let mapping):
            var entries: [(key: String, keyMark: SourceMark, value: DSLNode)] = []
            entries.reserveCapacity(mapping.count)
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw VampError(.syntax, "map keys must be plain text, not \(key.sequence != nil ? "a list" : "a map")", line: key.mark?.line, column: key.mark?.column)
                }
                let keyMark = SourceMark(line: key.mark?.line ?? 0, column: key.mark?.column ?? 0)
                if keyScalar.string == "<<" {
                    throw VampError(.syntax, "YAML merge keys ('<<') are not supported in the Vamp DSL; write the keys out", line: keyMark.line, column: keyMark.column)
                }
                entries.append((keyScalar.string, keyMark, try convert(value, budget: &budget, depth: depth + 1, limits: limits)))
            }
            return .mapping(entries, mark)
        case .alias:
            throw VampError(.syntax, "unresolved YAML alias", line: mark.line, column: mark.column)
        }
    }
}
