/// The JSON of an etcd request body, written without Foundation's `JSONSerialization`: objects of strings, integers,
/// booleans, arrays and objects (keys sorted, so the same body is the same bytes).
enum EtcdJSON {
    /// The JSON bytes of `value`; a value of another type is an error.
    static func encode(_ value: Any, server: String) throws(KeyValueStoreError) -> [UInt8] {
        var out: [UInt8] = []
        try write(value, to: &out, server: server)
        return out
    }

    private static func write(_ value: Any, to out: inout [UInt8], server: String) throws(KeyValueStoreError) {
        switch value {
        case let text as String:
            writeString(text, to: &out)
        case let flag as Bool:
            out += Array((flag ? "true" : "false").utf8)
        case let number as Int:
            out += Array(String(number).utf8)
        case let number as Int64:
            out += Array(String(number).utf8)
        case let number as UInt64:
            out += Array(String(number).utf8)
        case let array as [Any]:
            out.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try write(element, to: &out, server: server)
            }
            out.append(UInt8(ascii: "]"))
        case let object as [String: Any]:
            out.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                try write(object[key]!, to: &out, server: server)
            }
            out.append(UInt8(ascii: "}"))
        default:
            throw KeyValueStoreError(.io, "cannot write \(type(of: value)) as JSON in an etcd request", server: server)
        }
    }

    private static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
            case UInt8(ascii: "\n"): out += Array("\\n".utf8)
            case UInt8(ascii: "\r"): out += Array("\\r".utf8)
            case UInt8(ascii: "\t"): out += Array("\\t".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - JSON shapes of etcd's gateway (field names as etcd sends them)

struct EtcdHeader: Decodable {
    var revision: FlexibleInt64?
}

struct EtcdHeaderResponse: Decodable {
    var header: EtcdHeader?
}

struct EtcdKV: Decodable {
    var key: String?
    var value: String?
    var mod_revision: FlexibleInt64?
}

struct EtcdTxnResponse: Decodable {
    var header: EtcdHeader?
    var succeeded: Bool?
}

struct EtcdRangeResponse: Decodable {
    var header: EtcdHeader?
    var kvs: [EtcdKV]?
}

struct EtcdWatchMessage: Decodable {
    struct Result: Decodable {
        var header: EtcdHeader?
        var created: Bool?
        var canceled: Bool?
        var cancel_reason: String?
        var compact_revision: FlexibleInt64?
        var events: [Event]?
    }
    struct Event: Decodable {
        var type: String?
        var kv: EtcdKV?
    }
    struct Failure: Decodable {
        var message: String?
    }
    var result: Result?
    var error: Failure?
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
