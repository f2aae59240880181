import VampModel

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
    /// Most nodes one document may expand to (after aliases are resolved).
    public var maximumNodes: Int

    /// Creates limits (defaults: 16 MiB, depth 64, 2,000,000 nodes).
    public init(maximumBytes: Int = 16 << 20, maximumDepth: Int = 64, maximumNodes: Int = 2_000_000) {
        self.maximumBytes = maximumBytes
        self.maximumDepth = maximumDepth
        self.maximumNodes = maximumNodes
    }
}

