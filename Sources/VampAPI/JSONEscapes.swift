/// JSON text as the YAML parser can read it. The DSL reads JSON with libyaml (JSON is YAML), which refuses the
/// `\uD83D\uDE00` escapes JSON uses for characters beyond the Basic Multilingual Plane; encoders that escape
/// everything non-ASCII (Python's `json.dumps`, for one) write every emoji that way, and such a body was a 400.
enum JSONEscapes {
    /// `text` with each escaped UTF-16 surrogate pair written as the character it encodes (`"\uD83D\uDE00"` is
    /// `"😀"`); everything else, lone surrogates included, as it was. Lines stay where they were.
    static func joiningSurrogatePairs(_ text: String) -> String {
        guard text.contains("\\u") else { return text }
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        var backslashes = 0
        while index < scalars.count {
            let scalar = scalars[index]
            // An escape starts at a backslash that is not itself escaped.
            if scalar == "\\", backslashes % 2 == 0,
               let high = unit(scalars, index), (0xD800...0xDBFF).contains(high),
               let low = unit(scalars, index + 6), (0xDC00...0xDFFF).contains(low),
               let joined = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) {
                out.append(joined)
                index += 12
                backslashes = 0
                continue
            }
            backslashes = scalar == "\\" ? backslashes + 1 : 0
            out.append(scalar)
            index += 1
        }
        return String(out)
    }

    /// The UTF-16 unit of the `\uXXXX` escape at `start`, or `nil`.
    static func unit(_ scalars: [Unicode.Scalar], _ start: Int) -> UInt32? {
        guard start + 6 <= scalars.count, scalars[start] == "\\", scalars[start + 1] == "u" else { return nil }
        let digits = scalars[(start + 2)..<(start + 6)]
        guard digits.allSatisfy(\.isASCII) else { return nil }
        return UInt32(String(String.UnicodeScalarView(digits)), radix: 16)
    }
}
