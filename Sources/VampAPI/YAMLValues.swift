import Foundation
import Yams

/// YAML text to the values `Yams.load` gives (`[String: Any]`, `[Any]`, `String`, `Int`, …), refusing first what
/// Yams's construction would trap on or blow up with: a key that is a list or a map (Yams takes every key as text,
/// force-unwrapped: `? [a]\n: b` stopped the server), and aliases that expand to more than ``maximumValues`` values
/// (found by fuzzing the `/websocket` reader, Fuzz/), and a YAML 1.1 base-60 integer too large for `Int`
/// (`4:2:22:2:2:4:2:22:2:2:2`: Yams multiplies without an overflow check and trapped, found by fuzzing too).
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
        case .scalar(let scalar):
            if node.tag.description == Tag.Name.int.rawValue, let problem = sexagesimalProblem(scalar.string) {
                throw Refusal(description: "the value '\(scalar.string.prefix(40))' at line \(node.mark?.line ?? 0) \(problem)")
            }
        case .alias:
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

    /// Why a plain scalar Yams reads as a base-60 integer (`1:30` is 90) would overflow in Yams's construction, which
    /// multiplies without a check (it computes 60 to the power of the number of parts, and each part times it), or
    /// `nil`: the same arithmetic, with the overflow reported.
    static func sexagesimalProblem(_ text: String) -> String? {
        var digits = text.replacingOccurrences(of: "_", with: "")
        if digits.hasPrefix("-") || digits.hasPrefix("+") { digits.removeFirst() }
        guard digits.contains(":") else { return nil }
        let parts = digits.split(separator: ":", omittingEmptySubsequences: false).map { Int($0, radix: 10) }
        // A part that is not a number: Yams gives no integer (the value stays text), nothing overflows.
        guard parts.allSatisfy({ $0 != nil }) else { return nil }
        var base = 1, value = 0
        for part in parts.reversed() {
            let (product, productOverflow) = part!.multipliedReportingOverflow(by: base)
            let (sum, sumOverflow) = value.addingReportingOverflow(product)
            let (next, baseOverflow) = base.multipliedReportingOverflow(by: 60)
            if productOverflow || sumOverflow || baseOverflow {
                return "is a base-60 number (YAML 1.1 reads digits:digits so) too large for an integer; quote it to send it as text"
            }
            (base, value) = (next, sum)
        }
        return nil
    }
}
