import Foundation
import Testing
import VampDSL
import VampModel

/// Malformed, truncated and hostile input gives an error, never a crash or a hang.
@Suite("Robustness")
struct RobustnessTests {
    func expectError(_ text: String, _ fragment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let documents = try DSLReader.read(text, kind: .blueprint)
            Issue.record("expected an error, got \(documents.count) documents", sourceLocation: sourceLocation)
        } catch {
            if let fragment { #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation) }
        }
    }

    @Test("deep flow nesting is refused before parsing")
    func deepFlow() {
        expectError("name: b\nclusters: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), "nests deeper")
        expectError(String(repeating: "{a: ", count: 50_000) + "1" + String(repeating: "}", count: 50_000), "nests deeper")
    }

    @Test("deep block nesting is refused")
    func deepBlock() {
        var text = ""
        for depth in 0..<500 { text += String(repeating: " ", count: depth) + "k\(depth):\n" }
        expectError(text, "nests deeper")
        expectError(String(repeating: "- ", count: 20_000) + "x\n", "nests deeper")
    }

    @Test("an alias bomb is refused, not expanded")
    func aliasBomb() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...12 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let start = ContinuousClock.now
        expectError(text, "expands to more than")
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test("huge numbers and wrong types are errors")
    func numbers() {
        expectError("name: b\nclusters:\n  web:\n    breed: a\n    scale: {cpu: 1e999, memory: 1GB}\n", "millicores")
        expectError("name: b\nclusters:\n  web:\n    breed: a\n    scale: {cpu: 1, memory: 1GB, instances: 99999999999999999999999}\n", "whole number")
        expectError("name: b\nclusters: [1, 2]\n", "expected a map")
        expectError("name: b\nclusters:\n  web: {services: {breed: [1]}}\n", "expected a breed name")
        expectError("[[[]]]\n")
        expectError("42\n", "expected an artifact")
    }

    @Test("unusual YAML is an error with a message")
    func unusual() {
        expectError("name: b\n? {complex: key}\n: value\n", "plain text")
        expectError("base: &b {name: x}\n<<: *b\n", "merge keys")
        expectError("name: *undefined\n", "invalid YAML")
        expectError("name: b\nclusters: {web: a:1}\n\t- tab\n", "invalid YAML")
        expectError("name: \"unterminated\n", "invalid YAML")
        expectError(String(repeating: "x", count: 17 << 20), "bytes")
    }

    @Test("every truncation of a valid document gives a result or an error")
    func truncations() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples/canary.yaml")
        let text = try String(contentsOf: examples, encoding: .utf8)
        let scalars = Array(text.unicodeScalars)
        for cut in stride(from: 0, to: scalars.count, by: 7) {
            _ = try? DSLReader.readEach(String(String.UnicodeScalarView(scalars[..<cut])))
        }
    }

    /// A generated-input fuzz test with a fixed seed: random byte-level mutations of the
    /// examples (insert structural characters, delete, duplicate, splice) must never crash.
    @Test("10,000 mutated documents (fixed seed) never crash")
    func mutations() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples")
        let corpus = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted().map {
            Array(try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8).utf8)
        }
        var rng = SeededRandom(seed: 0x5EED_2026)
        let alphabet = Array("{}[]:,-#&*!|>'\"%@`\n\t ~?0123456789.eE\\$/".utf8)
        var accepted = 0
        var rejected = 0
        for _ in 0..<10_000 {
            var bytes = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0...3, using: &rng) {
                case 0: bytes.insert(alphabet.randomElement(using: &rng)!, at: position)
                case 1: bytes.remove(at: position)
                case 2: bytes[position] = alphabet.randomElement(using: &rng)!
                default:
                    let end = min(bytes.count, position + Int.random(in: 1...40, using: &rng))
                    bytes.insert(contentsOf: bytes[position..<end], at: Int.random(in: 0..<bytes.count, using: &rng))
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let results = try? DSLReader.readEach(text) {
                for result in results {
                    if case .success(let document) = result {
                        _ = document.validate()
                        _ = DSLWriter.yaml(document.artifact)
                        accepted += 1
                    } else {
                        rejected += 1
                    }
                }
            } else {
                rejected += 1
            }
        }
        // Both outcomes occur, so the mutations exercise the reader and the validator.
        #expect(accepted > 100)
        #expect(rejected > 100)
    }
}
