import Testing
@testable import VampAPI

/// The framing follower before NIO's decoder: where heads and bodies are, and chunk sizes over the body limit.
@Suite("HTTP server: following request framing on the raw bytes")
struct RequestFramingTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Scans `text` in pieces of `piece` bytes; the first refusal, and the phase at the end.
    static func scan(_ text: String, limit: Int = 1000, piece: Int = .max) -> (refused: UInt64?, phase: RequestFraming.Phase, started: Int) {
        var framing = RequestFraming(limit: limit)
        let all = bytes(text)
        var offset = 0
        while offset < all.count {
            let end = min(all.count, offset + min(piece, all.count - offset))
            if let refused = all[offset..<end].withUnsafeBytes({ framing.scan($0) }) { return (refused, framing.phase, framing.started) }
            offset = end
        }
        return (nil, framing.phase, framing.started)
    }

    static let chunkedHead = "POST /api/v1/breeds HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test("a chunk size over the limit is refused as soon as its digits are over, in one piece or byte by byte",
          arguments: [Int.max, 1, 3])
    func hugeChunk(piece: Int) {
        let result = Self.scan(Self.chunkedHead + "FFFFFFFFFFFFFFFF", piece: piece)
        #expect(result.refused == 0xFFF)
        let extended = Self.scan(Self.chunkedHead + "5\r\nhello\r\n3e9;name=value\r\n", piece: piece)
        #expect(extended.refused == 5 + 0x3e9)
    }

    @Test("chunks adding up to more than the limit are refused at the size line that goes over")
    func runningTotal() {
        let chunk = "258\r\n" + String(repeating: "a", count: 600) + "\r\n"
        #expect(Self.scan(Self.chunkedHead + chunk + "258\r\n").refused == 1200)
        #expect(Self.scan(Self.chunkedHead + chunk + "190\r\n").refused == nil, "600 + 400 is the limit, not over it")
    }

    @Test("chunked bodies within the limit, with extensions and trailers, pipelined: followed to their ends", arguments: [Int.max, 1, 7])
    func withinLimit(piece: Int) {
        let request = Self.chunkedHead + "5;ext\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let plain = "GET /api/v1/info HTTP/1.1\r\nHost: localhost\r\n\r\n"
        let sized = "PUT /api/v1/breeds/a HTTP/1.1\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
        let result = Self.scan(request + "\r\n" + plain + sized + request, piece: piece)
        #expect(result.refused == nil)
        #expect(result.phase == .idle)
        #expect(result.started == 4)
    }

    @Test("the phase says whether a head or a body is awaited")
    func phases() {
        #expect(Self.scan("").phase == .idle)
        #expect(Self.scan("GET / HTTP/1.1\r\nHost: a").phase == .head)
        #expect(Self.scan("GET / HTTP/1.1\r\nHost: a\r\n\r\n").phase == .idle)
        #expect(Self.scan("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345").phase == .body)
        #expect(Self.scan(Self.chunkedHead + "5\r\nhel").phase == .body)
        #expect(Self.scan("GET / HTTP/1.0\n\n").phase == .idle, "bare line feeds end lines too")
    }

    @Test("what it cannot follow, it stops following, refusing nothing: a Content-Length over the limit (refused after the decoder), a huge head")
    func stops() {
        #expect(Self.scan("POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nFFFFFFFFFFFF").phase == .stopped)
        #expect(Self.scan("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100 << 10)).phase == .stopped)
        #expect(Self.scan(Self.chunkedHead + "zz\r\n").phase == .stopped)
    }
}
