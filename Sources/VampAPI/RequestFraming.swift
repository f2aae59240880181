#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Follows the framing of the HTTP/1.1 requests in the bytes a client sends, before NIO's decoder (which does not
/// show chunk sizes): where a head starts and ends, how much body is left, and each chunk's declared size. It only
/// looks; the decoder still reads every byte. Used for the read timeouts (is a head or a body being waited for?)
/// and to refuse a chunk, or a running total of chunks, over the body limit as soon as its size line says so.
///
/// Handles pipelined requests, blank lines before a request line, chunk extensions (`1a;name=value`) and trailers.
/// What it cannot follow (a head over 96 KiB, a size line over 4 KiB, a `Content-Length` that does not read or is
/// over the limit) makes it stop looking: the decoder or the `Content-Length` check refuses those requests itself.
struct RequestFraming {
    /// Where in a request the bytes so far end.
    enum Phase: Equatable {
        /// Between requests: nothing of the next one yet.
        case idle
        /// Within a request's head.
        case head
        /// Within a request's body.
        case body
        /// Stopped following (see above).
        case stopped
    }

    private enum State {
        case idle
        case head
        case body(remaining: UInt64)
        case chunkSize
        case chunkData(remaining: UInt64)
        /// The CRLF after a chunk's data.
        case chunkEnd
        case trailers
        case stopped
    }

    static let maximumHead = 96 << 10
    static let maximumSizeLine = 4 << 10
    /// How much of a head's line is kept: enough for the headers that matter.
    static let maximumLine = 512

    /// The body limit (`vamp.http-api.max-body-size`).
    let limit: UInt64
    private var state = State.idle
    /// The bytes of the current line (of the head, a size line or a trailer), without its end.
    private var line: [UInt8] = []
    private var headBytes = 0
    private var isRequestLine = true
    private var chunked = false
    /// The head asks to switch protocols (`Upgrade: websocket`): what follows it is not HTTP/1.1.
    private var upgrading = false
    private var contentLength: UInt64 = 0
    /// The body declared so far by the chunk size lines of the current request.
    private var declared: UInt64 = 0
    /// The value of the current chunk size line so far, its number of digits, and whether its digits have ended.
    private var size: UInt64 = 0
    private var sizeDigits = 0
    private var sizeEnded = false
    /// How many requests have started (their first byte seen).
    private(set) var started = 0
    /// Where in the bytes of the last ``scan(_:)`` the last request that started in them did, if one did.
    private(set) var lastStart: Int?

    init(limit: Int) {
        self.limit = UInt64(max(0, limit))
    }

    var phase: Phase {
        switch state {
        case .idle: .idle
        case .head: .head
        case .body, .chunkSize, .chunkData, .chunkEnd, .trailers: .body
        case .stopped: .stopped
        }
    }

    /// Follows `bytes`; the declared body size that is over the limit, when a chunk size line (or the running total
    /// of the request's chunks) goes over it. Once that is returned, nothing more is followed.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard let base = bytes.baseAddress else { return nil }
        let count = bytes.count
        var index = 0
        lastStart = nil
        while index < count {
            switch state {
            case .stopped:
                return nil
            case .body(let remaining):
                let taken = min(remaining, UInt64(count - index))
                index += Int(taken)
                state = taken == remaining ? .idle : .body(remaining: remaining - taken)
            case .chunkData(let remaining):
                let taken = min(remaining, UInt64(count - index))
                index += Int(taken)
                state = taken == remaining ? .chunkEnd : .chunkData(remaining: remaining - taken)
            case .head:
                // A line at a time: the head is most of what a client sends.
                let end = memchr(base + index, Int32(UInt8(ascii: "\n")), count - index).map { base.distance(to: UnsafeRawPointer($0)) } ?? count
                headBytes += end - index
                guard headBytes <= Self.maximumHead else { return stop() }
                if line.count < Self.maximumLine {
                    line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<min(end, index + Self.maximumLine - line.count)]))
                }
                index = end
                if end < count {
                    index += 1
                    headBytes += 1
                    endLine()
                }
            case .idle:
                let before = started
                if let refused = take(bytes[index]) { return refused }
                if started != before { lastStart = index }
                index += 1
            default:
                if let refused = take(bytes[index]) { return refused }
                index += 1
            }
        }
        return nil
    }

    /// Follows one byte of a head, a size line, a chunk's end or a trailer.
    private mutating func take(_ byte: UInt8) -> UInt64? {
        switch state {
        case .idle:
            // Blank lines before a request line are ignored (RFC 9112 §2.2).
            guard byte != UInt8(ascii: "\r"), byte != UInt8(ascii: "\n") else { return nil }
            started += 1
            state = .head
            headBytes = 0
            isRequestLine = true
            chunked = false
            upgrading = false
            contentLength = 0
            line.removeAll(keepingCapacity: true)
            return take(byte)
        case .head:
            headBytes += 1
            if byte == UInt8(ascii: "\n") { endLine() } else { line.append(byte) }
            return nil
        case .chunkSize:
            line.append(byte)
            guard line.count <= Self.maximumSizeLine else { return stop() }
            if byte == UInt8(ascii: "\n") { return endSizeLine() }
            guard !sizeEnded else { return nil }
            guard let digit = Self.hexValue(byte) else { sizeEnded = true; return nil }
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            let next = shifted &+ UInt64(digit)
            // More digits only make it larger: refuse as soon as it is over, not when the line ends.
            if overflow || next > limit || declared + next > limit { return refuse(overflow ? UInt64.max : declared + next) }
            size = next
            sizeDigits += 1
            return nil
        case .chunkEnd:
            if byte == UInt8(ascii: "\n") { startSizeLine() }
            return nil
        case .trailers:
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                return line.count > Self.maximumSizeLine ? stop() : nil
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty { state = .idle }
            line.removeAll(keepingCapacity: true)
            return nil
        case .body, .chunkData, .stopped:
            return nil
        }
    }

    /// A line of the head has ended.
    private mutating func endLine() {
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.isEmpty { endHead() } else { header() }
        line.removeAll(keepingCapacity: true)
    }

    /// One line of a head: the request line, or a header that matters for framing.
    private mutating func header() {
        guard !isRequestLine else { isRequestLine = false; return }
        // Only Transfer-Encoding, Content-Length and Upgrade matter: skip the others without making text of them.
        switch line.first {
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "c"), UInt8(ascii: "C"), UInt8(ascii: "u"), UInt8(ascii: "U"): break
        default: return
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
        let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
        switch name {
        case "transfer-encoding":
            chunked = value.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } == "chunked"
        case "content-length":
            guard let length = UInt64(value), length <= limit else { _ = stop(); return }
            contentLength = length
        case "upgrade":
            upgrading = value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "websocket" }
        default:
            break
        }
    }

    private mutating func endHead() {
        guard case .head = state else { return }
        // After a WebSocket upgrade the bytes are frames, which the socket's own handler times and limits; should
        // the server refuse the upgrade, the connection's idle timeout still ends it.
        if upgrading {
            state = .stopped
        } else if chunked {
            declared = 0
            startSizeLine()
        } else {
            state = contentLength > 0 ? .body(remaining: contentLength) : .idle
        }
    }

    private mutating func startSizeLine() {
        state = .chunkSize
        size = 0
        sizeDigits = 0
        sizeEnded = false
        line.removeAll(keepingCapacity: true)
    }

    private mutating func endSizeLine() -> UInt64? {
        guard sizeDigits > 0 else { return stop() }
        line.removeAll(keepingCapacity: true)
        declared += size
        state = size == 0 ? .trailers : .chunkData(remaining: size)
        return nil
    }

    private mutating func refuse(_ declared: UInt64) -> UInt64? {
        state = .stopped
        return declared
    }

    private mutating func stop() -> UInt64? {
        state = .stopped
        line = []
        return nil
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
