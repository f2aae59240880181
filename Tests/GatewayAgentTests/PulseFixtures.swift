import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import VampPulse
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// What Pulse handed over, gathered: the in-process sink's buckets, or a receiver's.
final class BucketCollector: Sendable {
    let buckets = Mutex<[PulseBucket]>([])

    /// The sink to give the agent.
    var sink: @Sendable ([PulseBucket]) async -> Void { { [self] new in buckets.withLock { $0 += new } } }

    /// Lines counted on `frontend` (requests), in every bucket so far.
    func requests(_ frontend: String) -> UInt64 {
        buckets.withLock { $0.reduce(0) { $0 + $1.entries.filter { $0.key.frontend == frontend }.reduce(0) { $0 + $1.figures.requests } } }
    }

    /// HAProxy's count of `frontend`, in every bucket so far.
    func haproxy(_ frontend: String) -> UInt64 { buckets.withLock { $0.reduce(0) { $0 + ($1.haproxyCounts?[frontend] ?? 0) } } }

    /// Lines that did not read, in every bucket so far.
    var unparsed: UInt64 { buckets.withLock { $0.reduce(0) { $0 + $1.unparsed } } }

    /// The keys counted on `frontend`.
    func keys(_ frontend: String) -> Set<PulseKey> {
        buckets.withLock { Set($0.flatMap { $0.entries.map(\.key) }.filter { $0.frontend == frontend }) }
    }
}

/// A stand-in for `vamp-server`'s `POST /api/v1/pulse` (Hummingbird on 127.0.0.1:`port`): records each request's
/// `Authorization` and buckets, and answers `202 {"accepted": n, "refused": 0}`.
final class PulseReceiver: Sendable {
    struct Post: Sendable {
        var authorization: String?
        var buckets: [PulseBucket]
    }

    struct Body: Decodable {
        var buckets: [PulseBucket]
    }

    /// The requests received, in order.
    final class Log: Sendable {
        let posts = Mutex<[Post]>([])
    }

    let port: Int
    let log = Log()
    let collector = BucketCollector()
    private let task: Task<Void, any Error>

    init(port: Int) async throws {
        self.port = port
        let router = Router()
        router.post("/api/v1/pulse") { [log, collector] request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let decoded = try JSONDecoder().decode(Body.self, from: Data(body.readableBytesView))
            log.posts.withLock { $0.append(Post(authorization: request.headers[.authorization], buckets: decoded.buckets)) }
            await collector.sink(decoded.buckets)
            return Response(
                status: .accepted, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"accepted":\#(decoded.buckets.count),"refused":0}"#)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        task = Task { try await app.run() }
        try await waitUntil(timeout: .seconds(10), "the Pulse receiver to listen on \(port)") { FreePort.isAccepting(port) }
    }

    /// The seconds received, per agent, with repeats.
    var seconds: [String: [Int64]] {
        log.posts.withLock { posts in
            var seconds: [String: [Int64]] = [:]
            for post in posts { for bucket in post.buckets { seconds[bucket.agent, default: []].append(bucket.second) } }
            return seconds
        }
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// Sends `datagram` to the unix datagram socket at `path`, as HAProxy does (from an unnamed socket).
func sendDatagram(_ datagram: [UInt8], to path: String) throws {
    let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    guard descriptor >= 0 else { throw FixtureError("socket: errno \(errno)") }
    defer { close(descriptor) }
    var size: Int32 = 1 << 20
    setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let sent = datagram.withUnsafeBytes { bytes in
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
    guard sent == datagram.count else { throw FixtureError("sendto \(path): \(sent) of \(datagram.count) bytes, errno \(errno)") }
}
