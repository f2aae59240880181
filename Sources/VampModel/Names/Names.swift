/// Vamp's naming rules (reference §2.4) and stable lookup names.
public enum Names {
    /// Why `name` is not a legal artifact name or reference, or `nil` when it is.
    ///
    /// Artifact names may not be empty and may not contain whitespace, `/`, `[` or `]`.
    /// `name:version` is one opaque name (`catalog:2.1`).
    public static func artifactNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the name is empty" }
        // Fast path: printable ASCII without the forbidden characters.
        if name.utf8.count <= 255, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x2F && $0 != 0x5B && $0 != 0x5D }) { return nil }
        if name.count > 255 { return "the name is longer than 255 characters" }
        if let bad = name.unicodeScalars.first(where: { isWhitespaceOrControl($0) || "/[]".unicodeScalars.contains($0) }) {
            return "the name '\(printable(name))' contains \(describe(bad)); names may not contain whitespace, '/', '[' or ']'"
        }
        if !slashesStayApart(name) { return joiningProblem(name) }
        return nil
    }

    /// True when every `/` of `"x/" + name + "/x"` stays a character of its own. A name that starts with a combining
    /// mark (`\u{301}abc`) would join the `/` before it in a gateway or route path (`shop/web/\u{301}abc/port`), which
    /// then no longer splits into its names: the route would find no instances and its gateway would never be served.
    static func slashesStayApart(_ name: String) -> Bool {
        let text = "x/" + name + "/x"
        return text.reduce(0) { $1 == "/" ? $0 + 1 : $0 } == text.unicodeScalars.reduce(0) { $1 == "/" ? $0 + 1 : $0 }
    }

    static func joiningProblem(_ name: String, what: String = "name") -> String {
        "the \(what) '\(printable(name))' has a character that joins a '/' next to it (such as a combining accent at the start of a name), so the path no longer splits into its names; begin and end every name with another character"
    }

    /// Why `name` is not a legal trait name (port, environment variable, constant), or `nil`.
    /// Trait names follow the artifact rules and may not contain `.` either.
    public static func traitNameProblem(_ name: String) -> String? {
        if let problem = artifactNameProblem(name) { return problem }
        // Scalars, as references split on them: a `.` followed by a combining mark is one Character that is not `.`.
        if name.unicodeScalars.contains(".") { return "the name '\(printable(name))' contains '.', which trait names may not" }
        return nil
    }

    /// Why `name` is not a legal gateway name, or `nil`: no whitespace, `[` or `]`, and 1 to 4
    /// non-empty `/`-separated segments. Names of 3 segments are internal gateways.
    public static func gatewayNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the gateway name is empty" }
        if name.count > 255 { return "the gateway name is longer than 255 characters" }
        if let bad = name.unicodeScalars.first(where: { isWhitespaceOrControl($0) || "[]".unicodeScalars.contains($0) }) {
            return "the gateway name '\(printable(name))' contains \(describe(bad)); gateway names may not contain whitespace, '[' or ']'"
        }
        if !slashesStayApart(name) { return joiningProblem(name, what: "gateway name") }
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: \.isEmpty) { return "the gateway name '\(name)' has an empty '/' segment" }
        if segments.count > 4 { return "the gateway name '\(name)' has \(segments.count) segments; at most 4 are allowed" }
        return nil
    }

    /// True when `reference` matches `name` as a dependency: equal, or `reference` ends in `*`
    /// and `name` starts with what precedes it (`redis:1.*` matches `redis:1.2`).
    public static func dependency(_ reference: String, isSatisfiedBy name: String) -> Bool {
        if reference.hasSuffix("*") { return name.hasPrefix(reference.dropLast()) }
        return reference == name
    }

    /// A stable lookup name: the SHA-1 hex of `"<kind>@<name>"`. Used for HAProxy frontend and
    /// backend ids and metric keys, so logs stay attributable across reloads.
    public static func lookupName(kind: String, name: String) -> String {
        SHA1.hex("\(kind)@\(name)")
    }

    static func isWhitespaceOrControl(_ scalar: Unicode.Scalar) -> Bool {
        // ASCII without the Unicode property tables (this runs for every character of a route).
        if scalar.value < 0x80 { return scalar.value <= 0x20 || scalar.value == 0x7F }
        return scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value == 0x7F
            || (0x80..<0xA0).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case " ": return "a space"
        case "\n": return "a newline"
        case "\t": return "a tab"
        case "\r": return "a carriage return"
        default:
            if scalar.properties.isWhitespace || scalar.value < 0x20 {
                return "the character U+\(String(scalar.value, radix: 16, uppercase: true))"
            }
            return "'\(scalar)'"
        }
    }

    /// `text` with control characters shown as escapes, for error messages.
    package static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(80) {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += scalar.value < 0x20 ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
            }
        }
        return text.unicodeScalars.count > 80 ? out + "…" : out
    }
}
