internal import CLibYAML
import VampModel

/// Parses YAML (and JSON, read as YAML) into ``DSLNode`` documents with libyaml's event API.
///
/// The tree is built with an explicit stack, so deep nesting cannot overflow the call stack;
/// depth, size and alias expansion are limited by ``DSLLimits``. Duplicate keys, merge keys
/// and non-scalar keys are errors with their line.
enum SourceParser {
    private final class Frame {
        enum Kind { case sequence, mapping }
        let kind: Kind
        let mark: SourceMark
        let anchor: String?
        var items: [DSLNode] = []
        var entries: [(key: String, keyMark: SourceMark, value: DSLNode)] = []
        var pendingKey: (String, SourceMark)?
        var size = 1

        init(kind: Kind, mark: SourceMark, anchor: String?) {
            self.kind = kind
            self.mark = mark
            self.anchor = anchor
        }
    }

    static func documents(_ text: String, limits: DSLLimits) throws -> [DSLNode] {
        var bytes = Array(text.utf8)
        if bytes.count > limits.maximumBytes {
            throw VampError(.limit, "the input is \(bytes.count) bytes; at most \(limits.maximumBytes) are accepted")
        }
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { throw VampError(.limit, "cannot initialise the YAML parser (out of memory)") }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count - 1)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            return try parse(&parser, limits: limits)
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int? = nil) -> String? {
        guard let pointer else { return nil }
        let count = length ?? strlen(UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    private static func mark(_ mark: yaml_mark_t) -> SourceMark {
        SourceMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private static func parse(_ parser: inout yaml_parser_t, limits: DSLLimits) throws -> [DSLNode] {
        var documents: [DSLNode] = []
        var stack: [Frame] = []
        var anchors: [String: (node: DSLNode, size: Int)] = [:]
        var budget = limits.maximumNodes
        var root: DSLNode?

        /// Adds a finished node to its parent (or as the document root).
        func attach(_ node: DSLNode, size: Int, anchor: String?, at position: SourceMark) throws {
            budget -= size
            if budget < 0 {
                throw VampError(.limit, "a document expands to more than \(limits.maximumNodes) nodes (an alias bomb?)", line: position.line, column: position.column)
            }
            if let anchor { anchors[anchor] = (node, size) }
            guard let parent = stack.last else {
                root = node
                return
            }
            parent.size += size
            switch parent.kind {
            case .sequence:
                parent.items.append(node)
            case .mapping:
                if let (key, keyMark) = parent.pendingKey {
                    parent.entries.append((key, keyMark, node))
                    parent.pendingKey = nil
                    return
                }
                let key: String
                switch node {
                case .scalar(let text, _, _):
                    key = text
                case .sequence(let items, _) where items.allSatisfy({ if case .scalar = $0 { true } else { false } }):
                    // `[external/1/2]:` unquoted is a flow sequence to YAML; Vamp 0.9.5 read it as the
                    // bracketed text (an external route), and so do we.
                    key = "[" + items.map { if case .scalar(let text, _, _) = $0 { text } else { "" } }.joined(separator: ", ") + "]"
                default:
                    throw VampError(.syntax, "map keys must be plain text, not \(node.typeName)", line: position.line, column: position.column)
                }
                if key == "<<" {
                    throw VampError(.syntax, "YAML merge keys ('<<') are not supported in the Vamp DSL; write the keys out", line: position.line, column: position.column)
                }
                if parent.entries.contains(where: { $0.key == key }) {
                    throw VampError(.syntax, "the key '\(ReadContext.short(key))' appears twice in one map; each key may appear once", line: position.line, column: position.column)
                }
                parent.pendingKey = (key, position)
            }
        }

        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else {
                let problem = string(UnsafeMutablePointer(mutating: parser.problem).map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: yaml_char_t.self) }) ?? "unknown problem"
                let context = string(UnsafeMutablePointer(mutating: parser.context).map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: yaml_char_t.self) })
                let position = mark(parser.problem_mark)
                if problem.contains("nesting level") {
                    throw VampError(.limit, "the document nests deeper than the parser allows (\(problem))", line: position.line, column: position.column)
                }
                throw VampError(.syntax, "invalid YAML/JSON: " + [context, problem].compactMap { $0 }.joined(separator: ": "),
                                line: position.line, column: position.column)
            }
            defer { yaml_event_delete(&event) }
            let position = mark(event.start_mark)
            switch event.type {
            case YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT:
                continue
            case YAML_DOCUMENT_END_EVENT:
                if let node = root { documents.append(node) }
                root = nil
                anchors.removeAll()
                // Aliases cannot cross documents, so the expansion budget is per document.
                budget = limits.maximumNodes
            case YAML_STREAM_END_EVENT:
                return documents
            case YAML_ALIAS_EVENT:
                let name = string(event.data.alias.anchor) ?? ""
                guard let anchored = anchors[name] else {
                    throw VampError(.syntax, "invalid YAML/JSON: the alias '*\(name)' names no anchor defined before it", line: position.line, column: position.column)
                }
                try attach(anchored.node, size: anchored.size, anchor: nil, at: position)
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let value = string(scalar.value, length: Int(scalar.length)) ?? ""
                let plain = scalar.style == YAML_PLAIN_SCALAR_STYLE && scalar.tag == nil
                try attach(.scalar(value, plain: plain, position), size: 1, anchor: string(scalar.anchor), at: position)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                if stack.count >= limits.maximumDepth {
                    throw VampError(.limit, "the document nests deeper than \(limits.maximumDepth) levels", line: position.line, column: position.column)
                }
                let isSequence = event.type == YAML_SEQUENCE_START_EVENT
                let anchor = isSequence ? string(event.data.sequence_start.anchor) : string(event.data.mapping_start.anchor)
                stack.append(Frame(kind: isSequence ? .sequence : .mapping, mark: position, anchor: anchor))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                let frame = stack.removeLast()
                let node: DSLNode = frame.kind == .sequence ? .sequence(frame.items, frame.mark) : .mapping(frame.entries, frame.mark)
                try attach(node, size: frame.size, anchor: frame.anchor, at: frame.mark)
            default:
                continue
            }
        }
    }
}
