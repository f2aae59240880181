/// Rules for every user-controlled string that reaches the configuration: each is either
/// checked against a strict character set or quoted so that it stays one argument, with no
/// newline, comment, environment-variable expansion or second directive.
enum HAProxyText {
    /// The most words HAProxy 2.6 reads on one configuration line (`MAX_LINE_ARGS`); a longer line is refused
    /// ("too many words").
    static let maximumWords = 64

    /// Header and cookie names: RFC 9110 token characters only.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 256 && text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A DNS name or IPv4 address.
    static func isHost(_ text: String) -> Bool {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        var labelLength = 0
        var previous: UInt8 = UInt8(ascii: ".")
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if labelLength == 0 || previous == UInt8(ascii: "-") { return false }
                labelLength = 0
            } else {
                let alphanumeric = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                guard alphanumeric || (byte == UInt8(ascii: "-") && labelLength > 0) else { return false }
                labelLength += 1
                if labelLength > 63 { return false }
            }
            previous = byte
        }
        return labelLength > 0 && previous != UInt8(ascii: "-")
    }

    /// Printable ASCII or any non-ASCII scalar, no control characters (newline, CR, tab, NUL, DEL).
    static func isSingleLine(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && !(0x80..<0xA0).contains($0.value) && $0 != "\u{2028}" && $0 != "\u{2029}" }
    }

    /// Quotes `text` as one HAProxy argument. Single quotes when possible (no escapes and no
    /// `$VAR` expansion inside them); otherwise double quotes with `\`, `"`, `$` and `#` escaped.
    /// Callers must first reject control characters (``isSingleLine``).
    static func quoted(_ text: String) -> String {
        if !text.contains("'") { return "'" + text + "'" }
        var out = "\""
        for character in text {
            switch character {
            case "\\", "\"", "$", "#": out += "\\" + String(character)
            default: out.append(character)
            }
        }
        return out + "\""
    }

    /// Text safe inside a `#` comment: one line, printable.
    static func comment(_ text: String) -> String {
        if text.utf8.count <= 200, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        return String(text.unicodeScalars.map { isSingleLine(String($0)) ? Character($0) : "?" }.prefix(200))
    }
}
