import VampModel

/// A tree ready to be written as canonical YAML or JSON; maps keep the order they are built in.
indirect enum OutNode {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case list([OutNode])
    case map([(String, OutNode)])

    static func from(_ value: JSONValue) -> OutNode {
        switch value {
        case .null: .null
        case .bool(let b): .bool(b)
        case .number(let n): .number(n)
        case .string(let s): .string(s)
        case .array(let items): .list(items.map(from))
        case .object(let object): .map(object.keys.sorted().map { ($0, from(object[$0]!)) })
        }
    }
}

enum JSONEmitter {
    static func emit(_ node: OutNode, pretty: Bool) -> String {
        var out = ""
        write(node, into: &out, indent: 0, pretty: pretty)
        return out
    }

    static func write(_ node: OutNode, into out: inout String, indent: Int, pretty: Bool) {
        switch node {
        case .string(let s): quote(s, into: &out)
        case .number(let n): out += n
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .list(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                write(item, into: &out, indent: indent + 1, pretty: pretty)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .map(let entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in entries.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                quote(key, into: &out)
                out += pretty ? ": " : ":"
                write(value, into: &out, indent: indent + 1, pretty: pretty)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// Block-style YAML; strings are quoted whenever a plain scalar could read back as something else.
enum YAMLEmitter {
    static func emit(_ node: OutNode) -> String {
        var out = ""
        switch node {
        case .map(let entries) where !entries.isEmpty: writeMap(entries, into: &out, indent: 0)
        case .list(let items) where !items.isEmpty: writeList(items, into: &out, indent: 0)
        default: out += inline(node) + "\n"
        }
        return out
    }

    static func isEmptyCollection(_ node: OutNode) -> Bool {
        switch node {
        case .map(let e): e.isEmpty
        case .list(let l): l.isEmpty
        default: true
        }
    }

    static func writeMap(_ entries: [(String, OutNode)], into out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent)
        for (key, value) in entries {
            out += pad + scalar(key) + ":"
            writeValue(value, into: &out, indent: indent)
        }
    }

    static func writeList(_ items: [OutNode], into out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent)
        for item in items {
            out += pad + "-"
            switch item {
            case .map(let entries) where !entries.isEmpty:
                // First entry on the dash line, the rest indented under it.
                var nested = ""
                writeMap(entries, into: &nested, indent: indent + 1)
                out += " " + nested.dropFirst((indent + 1) * 2)
            case .list(let inner) where !inner.isEmpty:
                out += "\n"
                writeList(inner, into: &out, indent: indent + 1)
            default:
                out += " " + inline(item) + "\n"
            }
        }
    }

    static func writeValue(_ value: OutNode, into out: inout String, indent: Int) {
        switch value {
        case .map(let entries) where !entries.isEmpty:
            out += "\n"
            writeMap(entries, into: &out, indent: indent + 1)
        case .list(let items) where !items.isEmpty:
            out += "\n"
            writeList(items, into: &out, indent: indent + 1)
        default:
            out += " " + inline(value) + "\n"
        }
    }

    static func inline(_ node: OutNode) -> String {
        switch node {
        case .string(let s): scalar(s)
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        case .map: "{}"
        case .list: "[]"
        }
    }

    /// `s` plain when it can only read back as the same string, double-quoted otherwise.
    static func scalar(_ s: String) -> String {
        if isSafePlain(s) { return s }
        var out = ""
        JSONEmitter.quote(s, into: &out)
        return out
    }

    static let reserved: Set<String> = ["", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"]

    static func isSafePlain(_ s: String) -> Bool {
        if reserved.contains(s.lowercased()) { return false }
        guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return false }
        // Anything that looks like a number, date or special float stays quoted.
        if first.properties.numericType != nil || first == "-" || first == "+" || first == "." { return false }
        if !(first.properties.isAlphabetic || first == "/" || first == "_" || first == "$") { return false }
        if last == ":" || last == " " { return false }
        for scalar in s.unicodeScalars {
            if scalar.value < 0x20 || scalar.value > 0x7E { return false }
            if "#,[]{}&*!|>'\"%@`\\".unicodeScalars.contains(scalar) { return false }
        }
        if s.contains(": ") || s.contains(" #") { return false }
        return true
    }
}
