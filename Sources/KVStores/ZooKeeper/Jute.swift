import NIOCore

/// ZooKeeper operation codes (`RequestHeader.type`) this client uses.
enum ZKOp: Int32 {
    case create = 1
    case delete = 2
    case exists = 3
    case getData = 4
    case setData = 5
    case getChildren = 8
    case ping = 11
    case closeSession = -11
}

/// ZooKeeper error codes (`ReplyHeader.err`) this client tells apart.
enum ZKErr {
    static let ok: Int32 = 0
    static let connectionLoss: Int32 = -4
    static let noNode: Int32 = -101
    static let badVersion: Int32 = -103
    static let nodeExists: Int32 = -110
    static let notEmpty: Int32 = -111
    static let sessionExpired: Int32 = -112

    static func name(_ code: Int32) -> String {
        switch code {
        case -1: "systemError"
        case -4: "connectionLoss"
        case -7: "operationTimeout"
        case -8: "badArguments"
        case -101: "noNode"
        case -102: "noAuth"
        case -103: "badVersion"
        case -108: "noChildrenForEphemerals"
        case -110: "nodeExists"
        case -111: "notEmpty"
        case -112: "sessionExpired"
        case -114: "invalidACL"
        case -115: "authFailed"
        default: "error"
        }
    }
}

/// The Stat record fields this client reads (the record is 68 bytes on the wire).
struct ZKStat: Sendable {
    var mzxid: Int64
    var version: Int32
    var dataLength: Int32
    var numChildren: Int32
}

struct ZKDecodeError: Error, CustomStringConvertible {
    let what: String
    var description: String { "malformed ZooKeeper frame: \(what)" }
}

/// Jute encoding (big-endian integers, length-prefixed buffers with -1 for null).
extension ByteBuffer {
    mutating func writeJuteBool(_ value: Bool) { writeInteger(UInt8(value ? 1 : 0)) }

    mutating func writeJuteBuffer(_ bytes: [UInt8]?) {
        guard let bytes else {
            writeInteger(Int32(-1))
            return
        }
        writeInteger(Int32(bytes.count))
        writeBytes(bytes)
    }

    mutating func writeJuteString(_ string: String) { writeJuteBuffer(Array(string.utf8)) }

    /// OPEN_ACL_UNSAFE: [{perms 31, scheme "world", id "anyone"}].
    mutating func writeOpenACL() {
        writeInteger(Int32(1))
        writeInteger(Int32(31))
        writeJuteString("world")
        writeJuteString("anyone")
    }

    mutating func readJuteInt() throws -> Int32 {
        guard let value = readInteger(as: Int32.self) else { throw ZKDecodeError(what: "int") }
        return value
    }

    mutating func readJuteLong() throws -> Int64 {
        guard let value = readInteger(as: Int64.self) else { throw ZKDecodeError(what: "long") }
        return value
    }

    mutating func readJuteBuffer() throws -> [UInt8]? {
        let length = try readJuteInt()
        if length < 0 { return nil }
        guard let bytes = readBytes(length: Int(length)) else { throw ZKDecodeError(what: "buffer") }
        return bytes
    }

    mutating func readJuteString() throws -> String? {
        try readJuteBuffer().map { String(decoding: $0, as: UTF8.self) }
    }

    mutating func readStat() throws -> ZKStat {
        _ = try readJuteLong()  // czxid
        let mzxid = try readJuteLong()
        _ = try readJuteLong()  // ctime
        _ = try readJuteLong()  // mtime
        let version = try readJuteInt()
        _ = try readJuteInt()  // cversion
        _ = try readJuteInt()  // aversion
        _ = try readJuteLong()  // ephemeralOwner
        let dataLength = try readJuteInt()
        let numChildren = try readJuteInt()
        _ = try readJuteLong()  // pzxid
        return ZKStat(mzxid: mzxid, version: version, dataLength: dataLength, numChildren: numChildren)
    }
}

/// Splits the inbound stream into frames: int32 length + that many bytes (at most 1 MiB).
struct ZKFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    static let maximumFrame: Int32 = 0xfffff

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard length >= 0, length <= Self.maximumFrame else {
            throw ZKDecodeError(what: "frame length \(length) outside 0...\(Self.maximumFrame)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }
}
