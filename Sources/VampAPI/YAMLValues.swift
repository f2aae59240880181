import Yams

/// YAML text to the values `Yams.load` gives (`[String: Any]`, `[Any]`, `String`, `Int`, …), refusing first what
/// Yams's construction would trap on or blow up with: a key that is a list or a map (Yams takes every key as text,
/// force-unwrapped: `? [a]\n: b` stopped the server), and aliases that expand to more than ``maximumValues`` values
/// (found by fuzzing the `/websocket` reader, Fuzz/).
enum YAMLValues {
    /// The most values (scalars, lists, maps and keys) a text may expand to.
    static let maximumValues = 100_000

    /// Why a text is refused.
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// The text's one document as values; `nil` when it is empty. Throws Yams's error for text that is not YAML and a
    /// ``Refusal`` for a non-text key or too many values.
    static func load(_ text: String) throws -> Any? {
        guard let node = try Yams.compose(yaml: text) else { return nil }
        var count = 0
        try check(node, &count)
        return node.any
    }

    /// Walks the values as Yams will construct them (aliases expanded), stopping at the first problem or the limit.
    private static func check(_ node: Node, _ count: inout Int) throws(Refusal) {
        count += 1
        if count > maximumValues {
            throw Refusal(description: "the YAML expands to more than \(maximumValues) values (through aliases?)")
        }
        switch node {
        case .scalar, .alias:
            return
        case .sequence(let sequence):
            for item in sequence { try check(item, &count) }
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar = key else {
                    throw Refusal(description: "a key at line \(key.mark?.line ?? 0) is a list or a map: keys are text")
                }
                count += 1
                try check(value, &count)
            }
        }
    }
}
