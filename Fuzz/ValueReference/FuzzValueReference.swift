import VampModel

/// One input: a trait value as a user writes it in a breed or blueprint (`http://$api.host:$api.ports.web/`).
///
/// Invariants beyond "does not crash": an error's column lies in the text; a parsed value has no two literals side by
/// side; its written form (`description`) parses back to the same value; a value without a `$` is one literal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzValueReference(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let scalars = text.unicodeScalars.count
    let value: ValueExpression
    do {
        value = try ValueExpression.parse(text)
    } catch {
        check(!error.message.isEmpty, "an error without a message", text)
        check(error.column >= 1 && error.column <= scalars + 1, "error column \(error.column) outside 1...\(scalars + 1)", text)
        check(text.unicodeScalars.contains("$"), "an error for a text without '$': \(error)", text)
        return 0
    }
    for (left, right) in zip(value.parts, value.parts.dropFirst()) {
        if case .literal = left, case .literal = right { fail("two literals side by side: \(value.parts)", text) }
    }
    // Scalars, not characters: "$" and a combining mark after it are one character.
    if !text.unicodeScalars.contains("$") {
        check(value.parts == (text.isEmpty ? [] : [.literal(text)]), "a text without '$' is not one literal: \(value.parts)", text)
    }
    let written = value.description
    do {
        let again = try ValueExpression.parse(written)
        check(again == value, "the written form '\(written)' reads as \(again.parts), not \(value.parts)", text)
    } catch {
        fail("the written form '\(written)' does not parse: \(error)", text)
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, _ input: String) {
    if !condition { fail(message(), input) }
}

func fail(_ message: String, _ input: String) -> Never {
    fatalError("invariant broken: \(message)\ninput: \(input.debugDescription)")
}
