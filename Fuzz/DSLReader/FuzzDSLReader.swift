import Foundation
import VampDSL
import VampModel

/// One input: a request body of the artifact API, YAML or JSON, one or more documents. A first line `# kind: NAME`
/// (a YAML comment, so the text reads the same) gives the kind a per-kind endpoint would, for documents without
/// `kind` (the seeds of per-kind fixtures).
///
/// Invariants beyond "does not crash": the three readers agree (`readEach` throws only when `read` does; `read`
/// returns exactly the documents `readEach` read when all did, and throws otherwise; `load` returns only documents
/// `read` returned); every thrown error lists at least one error, each with a message; and every document `load`
/// accepts (what the API stores) is written by the writer, YAML and JSON, to a text that reads back as the same
/// artifact, and the YAML writer writes it the same way twice.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDSLReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let kind = declaredKind(text)
    // The limits an API server would have, smaller so that one input cannot take seconds.
    let limits = DSLLimits(maximumBytes: 1 << 20, maximumDepth: 64, maximumNodes: 100_000)

    let each: [Result<DSLDocument, VampErrors>]?
    do {
        each = try DSLReader.readEach(text, kind: kind, limits: limits)
    } catch {
        check(!error.message.isEmpty, "readEach threw an error without a message", text)
        each = nil
    }
    let read: [DSLDocument]?
    do {
        read = try DSLReader.read(text, kind: kind, limits: limits)
    } catch {
        described(error, "read", text)
        read = nil
    }
    if let each {
        let allRead = each.allSatisfy { if case .success = $0 { true } else { false } }
        if allRead {
            let artifacts = each.compactMap { try? $0.get().artifact }
            check(read.map { $0.map { timeless($0.artifact) } } == artifacts.map(timeless), "readEach read every document but read did not give the same", text)
        } else {
            check(read == nil, "readEach has a failure but read returned documents", text)
            for case .failure(let failure) in each { described(failure, "readEach", text) }
        }
    } else {
        check(read == nil, "readEach threw but read returned documents", text)
    }
    let loaded: [DSLDocument]
    do {
        loaded = try DSLReader.load(text, kind: kind, limits: limits)
    } catch {
        described(error, "load", text)
        return 0
    }
    guard let read else { fail("load returned documents that read refused", text) }
    check(loaded.map { timeless($0.artifact) } == read.map { timeless($0.artifact) }, "load and read give different artifacts", text)
    for document in loaded { roundTrips(document.artifact, text, limits: limits) }
    return 0
}

/// The writer's YAML and JSON of a valid artifact read back as the same artifact.
func roundTrips(_ artifact: Artifact, _ input: String, limits: DSLLimits) {
    let yaml = DSLWriter.yaml(artifact)
    check(DSLWriter.yaml(artifact) == yaml, "the YAML writer is not deterministic", input)
    for (format, written) in [("YAML", yaml), ("JSON", DSLWriter.json(artifact))] {
        do {
            let again = try DSLReader.read(written, limits: limits).map(\.artifact)
            check(again.count == 1 && same(again[0], artifact), "the writer's \(format) reads as another artifact:\n\(written)\nread: \(again)\nwas: \(artifact)", input)
        } catch {
            fail("the writer's \(format) does not read back: \(error)\n\(written)", input)
        }
    }
}

/// The artifact with an event's timestamp fixed: an event without one is stamped with the time it is read, so two
/// readings of the same text differ in it.
func timeless(_ artifact: Artifact) -> Artifact {
    guard case .event(var event) = artifact else { return artifact }
    event.timestamp = Date(timeIntervalSince1970: 0)
    return .event(event)
}

/// Equal artifacts, an event's timestamp to the millisecond: the writer writes milliseconds, and an event without a
/// timestamp is stamped with the time it is read, to the nanosecond.
func same(_ a: Artifact, _ b: Artifact) -> Bool {
    guard case .event(let x) = a, case .event(let y) = b else { return a == b }
    return timeless(a) == timeless(b) && abs(x.timestamp.timeIntervalSince(y.timestamp)) < 0.001
}

func declaredKind(_ text: String) -> ArtifactKind? {
    guard text.hasPrefix("# kind: ") else { return nil }
    let line = text.dropFirst("# kind: ".count).prefix { $0 != "\n" && $0 != "\r" }
    return ArtifactKind(name: String(line))
}

func described(_ errors: VampErrors, _ reader: String, _ input: String) {
    check(!errors.errors.isEmpty, "\(reader) threw an empty list of errors", input)
    for error in errors.errors { check(!error.message.isEmpty, "\(reader) threw an error without a message", input) }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, _ input: String) {
    if !condition { fail(message(), input) }
}

func fail(_ message: String, _ input: String) -> Never {
    fatalError("invariant broken: \(message)\ninput: \(input.debugDescription)")
}
