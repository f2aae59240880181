import HAProxyConfigGen
import VampModel

/// One input: a route condition as a user writes it (`user-agent == Firefox and has cookie beta`).
///
/// Invariants beyond "does not crash": an error's column lies in the text (or just after it); a parsed condition's
/// canonical text (`description`) parses back to the same expression (when within the parser's length limit); and a
/// gateway routing on it renders either to a refusal with a condition/unsafe-value error, or to a configuration whose
/// every line is one of the directives a gateway has, in one of its two sections, with at most the two `use_backend`
/// lines of a conditional route: the condition cannot add an HAProxy directive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCondition(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let expression: ConditionExpression
    do {
        expression = try ConditionParser.parse(text)
    } catch {
        check(!error.message.isEmpty, "an error without a message", text)
        // Columns count Unicode scalars.
        let scalars = text.unicodeScalars.count
        check(error.column >= 1 && error.column <= scalars + 1, "error column \(error.column) outside 1...\(scalars + 1)", text)
        return 0
    }
    let canonical = expression.description
    // The canonical text spells out what was abbreviated (`1&1` is `true and true`), so it can pass the parser's
    // length limit when the input did not: such a text is not read back (found by fuzzing, 2026-12-07).
    guard canonical.count <= ConditionParser.maximumLength else {
        rendersSafely(text)
        return 0
    }
    do {
        let again = try ConditionParser.parse(canonical)
        check(again == expression, "the canonical text \(canonical.debugDescription) reads as \(again), not \(expression)", text)
    } catch {
        fail("the canonical text \(canonical.debugDescription) does not parse: \(error)", text)
    }
    rendersSafely(text)
    return 0
}

let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: "/tmp/vamp-fuzz", virtualHostsPort: 18001))

/// The gateway of the generator's injection tests (Tests/HAProxyConfigGenTests), routing on `condition`.
func rendersSafely(_ condition: String) {
    let route = Route(
        path: "r", weight: Percentage(100), condition: .inline(Condition(definition: condition)), conditionStrength: Percentage(100),
        targets: [.instance(name: "t", host: "127.0.0.1", port: 8080)])
    let gateway = Gateway(name: "g", port: GatewayPort(number: 19999), routes: [route])
    let rendered: String
    do {
        rendered = try generator.render([gateway])
    } catch {
        check([.unsafeValue, .condition, .invalidGateway].contains(error.code), "refused with \(error.code): \(error)", condition)
        check(!error.message.isEmpty, "a refusal without a message", condition)
        return
    }
    let sections: Set<Substring> = ["frontend", "backend"]
    let directives: Set<Substring> = [
        "bind", "mode", "option", "log-format", "acl", "use_backend", "default_backend", "balance", "cookie", "server", "http-request",
    ]
    var useBackends = 0
    for line in rendered.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty && !line.hasPrefix("#") {
        let words = line.split(separator: " ")
        if line.hasPrefix("  ") {
            check(directives.contains(words[0]), "unexpected directive in: \(line)\n\(rendered)", condition)
            if words[0] == "use_backend" { useBackends += 1 }
        } else {
            check(words.count == 2 && sections.contains(words[0]), "unexpected section line: \(line)\n\(rendered)", condition)
        }
    }
    check(useBackends <= 2, "\(useBackends) use_backend lines in:\n\(rendered)", condition)
    check(!rendered.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F },
          "a control character in:\n\(rendered)", condition)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, _ input: String) {
    if !condition { fail(message(), input) }
}

func fail(_ message: String, _ input: String) -> Never {
    fatalError("invariant broken: \(message)\ninput: \(input.debugDescription)")
}
