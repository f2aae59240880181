/// What Pulse takes from one of HAProxy's JSON log lines (Vamp's `log-format`, `HAProxyConfigGen.LogFormat`): the
/// frontend, backend and server it went through, its times, status and size.
public struct LogRecord: Sendable, Hashable {
    /// Where the request was counted: frontend `ft`, backend `b`, server `s`.
    public var key: PulseKey
    /// `Tt`: total session time in milliseconds (`-1` when the session was cut).
    public var totalTime: Int
    /// `Tr`: the server's response time in milliseconds; `nil` in TCP lines, `-1` when no answer came.
    public var serverTime: Int?
    /// `ST`: the HTTP status; `nil` in TCP lines.
    public var status: Int?
    /// `B`: bytes sent to the client.
    public var bytes: Int

    /// Creates a record.
    public init(key: PulseKey, totalTime: Int, serverTime: Int? = nil, status: Int? = nil, bytes: Int = 0) {
        self.key = key
        self.totalTime = totalTime
        self.serverTime = serverTime
        self.status = status
        self.bytes = bytes
    }

    /// The longest line read: HAProxy sends at most its `len` (8192 in the agent's base configuration).
    public static let maximumLength = 65536

    /// Reads a JSON log line (the syslog header already taken off). `nil` for anything else: a line that is not a
    /// flat JSON object, that HAProxy cut at `len`, that lacks `ft`, `b`, `s` or `Tt`, or that is longer than
    /// ``maximumLength``. Never traps, whatever the bytes.
    public static func parse(_ line: some StringProtocol) -> LogRecord? {
        var text = String(line)
        return text.withUTF8 { parse(bytes: $0) }
    }

    /// Reads a JSON log line from its bytes; see ``parse(_:)``.
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) -> LogRecord? {
        guard bytes.count <= maximumLength else { return nil }
        var scanner = Scanner(bytes: bytes)
        var frontend: String?
        var backend: String?
        var server: String?
        var totalTime: Int?
        var serverTime: Int?
        var status: Int?
        var sent = 0
        scanner.skipSpaces()
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        scanner.skipSpaces()
        if scanner.take(UInt8(ascii: "}")) { return nil }
        while true {
            scanner.skipSpaces()
            guard let key = scanner.string() else { return nil }
            scanner.skipSpaces()
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            scanner.skipSpaces()
            switch Field(key) {
            case .frontend: guard let value = scanner.stringValue() else { return nil }; frontend = value
            case .backend: guard let value = scanner.stringValue() else { return nil }; backend = value
            case .server: guard let value = scanner.stringValue() else { return nil }; server = value
            case .totalTime: guard let value = scanner.integer() else { return nil }; totalTime = value
            case .serverTime: guard let value = scanner.integer() else { return nil }; serverTime = value
            case .status: guard let value = scanner.integer() else { return nil }; status = value
            case .bytes: guard let value = scanner.integer() else { return nil }; sent = value
            case .other: guard scanner.skipValue() else { return nil }
            }
            scanner.skipSpaces()
            if scanner.take(UInt8(ascii: ",")) { continue }
            guard scanner.take(UInt8(ascii: "}")) else { return nil }
            break
        }
        scanner.skipSpaces()
        guard scanner.atEnd, let frontend, let backend, let server, let totalTime else { return nil }
        return LogRecord(
            key: PulseKey(frontend: frontend, backend: backend, server: server),
            totalTime: totalTime, serverTime: serverTime, status: status, bytes: sent)
    }

    enum Field {
        case frontend, backend, server, totalTime, serverTime, status, bytes, other

        init(_ key: UnsafeBufferPointer<UInt8>) {
            switch key.count {
            case 1:
                switch key[0] {
                case UInt8(ascii: "b"): self = .backend
                case UInt8(ascii: "s"): self = .server
                case UInt8(ascii: "B"): self = .bytes
                default: self = .other
                }
            case 2:
                switch (key[0], key[1]) {
                case (UInt8(ascii: "f"), UInt8(ascii: "t")): self = .frontend
                case (UInt8(ascii: "T"), UInt8(ascii: "t")): self = .totalTime
                case (UInt8(ascii: "T"), UInt8(ascii: "r")): self = .serverTime
                case (UInt8(ascii: "S"), UInt8(ascii: "T")): self = .status
                default: self = .other
                }
            default: self = .other
            }
        }
    }

    /// A forward-only reader of a flat JSON object of strings and numbers (what HAProxy's `log-format` writes).
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }

        mutating func skipSpaces() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0 {
                index += 1
            }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// A string's raw bytes (escapes kept as written), without its quotes.
        mutating func string() -> UnsafeBufferPointer<UInt8>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return slice
                case UInt8(ascii: "\\"):
                    index += 2
                default:
                    index += 1
                }
            }
            return nil
        }

        /// A string value as text; HAProxy's names have no escapes, so none are decoded.
        mutating func stringValue() -> String? {
            guard let raw = string() else { return nil }
            return String(decoding: raw, as: UTF8.self)
        }

        /// An integer, with an optional sign; HAProxy writes `-1` for a time it could not take. A fraction or an
        /// exponent is not an integer.
        mutating func integer() -> Int? {
            var negative = false
            if take(UInt8(ascii: "-")) { negative = true } else { _ = take(UInt8(ascii: "+")) }
            let start = index
            var value = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = product.addingReportingOverflow(Int(bytes[index] - 0x30))
                guard !overflow, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            guard index > start else { return nil }
            return negative ? -value : value
        }

        /// Skips a string, a number or a bare word (`true`, `null`, or what HAProxy writes for an empty numeric
        /// field, such as `-`).
        mutating func skipValue() -> Bool {
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: "\"") { return string() != nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}"),
                  bytes[index] != UInt8(ascii: "{"), bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "[") {
                index += 1
            }
            return index > start
        }
    }
}
