import Foundation
import NIOCore
import Testing

@testable import KVStores

/// Byte-exact checks of the ZooKeeper encoding against the frames recorded from a real server
/// (zookeeper-protocol.md, part B), and of the key layout.
@Suite("Wire formats and key layout")
struct WireFormatTests {
    func hex(_ buffer: ByteBuffer) -> String {
        buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
    }

    @Test("ZooKeeper ConnectRequest for a new session is the recorded 49-byte frame")
    func connectRequest() {
        let frame = ZooKeeperConnection.connectRequest(
            ByteBufferAllocator(), lastZxid: 0, sessionTimeout: 30000, sessionId: 0, password: [])
        let expected =
            "0000002d" + "00000000" + "0000000000000000" + "00007530" + "0000000000000000" + "00000010"
            + String(repeating: "00", count: 16) + "00"
        #expect(frame.readableBytes == 49)
        #expect(hex(frame) == expected)
    }

    @Test("ZooKeeper ping is the recorded 12-byte frame")
    func ping() {
        let frame = ZooKeeperConnection.frame(ByteBufferAllocator()) { buffer in
            buffer.writeInteger(Int32(-2))
            buffer.writeInteger(ZKOp.ping.rawValue)
        }
        #expect(hex(frame) == "00000008fffffffe0000000b")
    }

    @Test("ZooKeeper jute: null buffer is -1, strings are length-prefixed, Stat is 68 bytes")
    func jute() throws {
        var buffer = ByteBuffer()
        buffer.writeJuteBuffer(nil)
        buffer.writeJuteString("/vamp-test")
        #expect(hex(buffer) == "ffffffff" + "0000000a" + "2f76616d702d74657374")
        #expect(try buffer.readJuteBuffer() == nil)
        #expect(try buffer.readJuteString() == "/vamp-test")

        var stat = ByteBuffer()
        stat.writeInteger(Int64(1))  // czxid
        stat.writeInteger(Int64(7))  // mzxid
        stat.writeInteger(Int64(0))
        stat.writeInteger(Int64(0))
        stat.writeInteger(Int32(3))  // version
        stat.writeInteger(Int32(0))
        stat.writeInteger(Int32(0))
        stat.writeInteger(Int64(0))
        stat.writeInteger(Int32(5))  // dataLength
        stat.writeInteger(Int32(2))  // numChildren
        stat.writeInteger(Int64(1))
        #expect(stat.readableBytes == 68)
        let decoded = try stat.readStat()
        #expect(decoded.mzxid == 7 && decoded.version == 3 && decoded.dataLength == 5 && decoded.numChildren == 2)
        #expect(stat.readableBytes == 0)
    }

    @Test("key layout follows Vamp's /vamp/<namespace>/gateways/haproxy/<version>/configuration")
    func layout() {
        #expect(KeyPath.gateways(namespace: "acme") == "/vamp/acme/gateways")
        #expect(
            KeyPath.haproxyConfiguration(namespace: "acme", version: "2.6")
                == "/vamp/acme/gateways/haproxy/2.6/configuration")
        #expect(KeyPath.parents(of: "/a/b/c") == ["/a", "/a/b"])
        #expect(KeyPath.childNames(of: "/a", in: ["/a/x/y", "/a/b", "/ab/c", "/a"]) == ["b", "x"])
    }

    @Test("backoff doubles from 50 ms and stays under its cap")
    func backoff() {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(1))
        let delays = (0..<10).map { _ in backoff.next() }
        #expect(delays[0] <= .milliseconds(50) && delays[0] >= .milliseconds(40))
        #expect(delays.allSatisfy { $0 <= .seconds(1) })
        #expect(delays[9] >= .milliseconds(800))
        backoff.reset()
        #expect(backoff.next() <= .milliseconds(50))
    }
}
