#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HAProxyControl
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Receives HAProxy's log datagrams on a unix datagram socket (`log /path local0`).
///
/// HAProxy sends from an unnamed socket, whose empty sender address NIO cannot convert (it drops
/// the datagram), so this reads with a blocking `recv` loop on a thread of its own, never on the
/// cooperative pool. Each datagram is read whole (64 KiB room each; HAProxy sends at most its `len`).
///
/// Datagrams are handed over in batches: after the first, the loop takes whatever else is queued, so the sinks take
/// their lock once a batch. It never pauses: a unix datagram socket queues at most `net.unix.max_dgram_qlen`
/// datagrams (10 by default), and HAProxy drops a line it cannot queue (its `DroppedLogs`), so the thread must be
/// back in `recv` at once (measured: a 1 ms pause between batches lost 7 % of 12,000 lines a second).
final class UnixDatagramReceiver: Sendable {
    /// The socket's path.
    let path: String
    private let descriptor: Int32
    private let stopping = Atomic<Bool>(false)

    /// Binds the socket at `path`, replacing a socket file left there (by an agent that crashed);
    /// any other file at that path is an error.
    init(path: String) throws {
        self.path = path
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw GatewayAgentError("the log socket path '\(path)' must be 1 to \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes long; choose a shorter one")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw GatewayAgentError("\(path) exists and is not a socket; remove it or choose another --log-socket")
            }
            unlink(path)
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw GatewayAgentError("cannot open a unix datagram socket: errno \(errno)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw GatewayAgentError("cannot bind the log socket \(path): errno \(code); check that its folder exists and is writable")
        }
        // Room for a burst of lines while the forwarder is busy; the kernel may cap it.
        var size: Int32 = 1 << 20
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // A bounded wait, so the loop also sees a stop that came before it blocked.
        var timeout = timeval(tv_sec: 0, tv_usec: 250_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.descriptor = descriptor
    }

    /// Datagrams read in one go, their bytes in one buffer: valid during the call they are handed to.
    struct Datagrams: Sequence {
        let buffer: UnsafeRawBufferPointer
        let ranges: [Range<Int>]

        struct Iterator: IteratorProtocol {
            let buffer: UnsafeRawBufferPointer
            var ranges: IndexingIterator<[Range<Int>]>

            mutating func next() -> UnsafeRawBufferPointer? {
                ranges.next().map { UnsafeRawBufferPointer(rebasing: buffer[$0]) }
            }
        }

        func makeIterator() -> Iterator { Iterator(buffer: buffer, ranges: ranges.makeIterator()) }
    }

    /// `net.unix.max_dgram_qlen`: how many datagrams a unix datagram socket queues (nil when it cannot be read).
    static var queueLimit: Int? {
        (try? String(contentsOfFile: "/proc/sys/net/unix/max_dgram_qlen", encoding: .utf8))
            .flatMap { Int($0.trimmingWhitespace) }
    }

    /// The bytes read before a batch is handed over: room for three of the longest datagrams, or hundreds of usual lines.
    static let batchBytes = 256 * 1024
    /// The room each datagram is read into.
    static let datagramBytes = 65536

    /// Reads datagrams on a dedicated thread and passes them, in batches, to `received` (on that thread) until the
    /// task is cancelled; then closes and removes the socket.
    func run(_ received: @escaping @Sendable (Datagrams) -> Void) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                Self.startThread { [self] in
                    // Back in `recv` sooner on a busy host: a higher priority for this thread alone (Linux sets it per
                    // thread), when the agent may (root or CAP_SYS_NICE); otherwise it stays as it is. It takes little CPU.
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, -10)
                    receive(received)
                    finished.resume()
                }
            }
        } onCancel: {
            stopping.store(true, ordering: .releasing)
            // Wakes a blocked `recv` at once (it returns 0).
            shutdown(descriptor, Int32(SHUT_RD))
        }
        close(descriptor)
        unlink(path)
    }

    /// Runs `body` on a detached thread of its own (pthreads: the agent links FoundationEssentials, which has no
    /// `Thread`).
    static func startThread(_ body: @escaping @Sendable () -> Void) {
        final class Body { let run: @Sendable () -> Void; init(_ run: @escaping @Sendable () -> Void) { self.run = run } }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        guard created == 0 else {
            // No thread (out of resources): run here, which blocks the caller, rather than never.
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return
        }
        pthread_detach(thread)
    }

    private func receive(_ received: (Datagrams) -> Void) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.batchBytes, alignment: 8)
        defer { buffer.deallocate() }
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(512)
        while !stopping.load(ordering: .acquiring) {
            ranges.removeAll(keepingCapacity: true)
            var offset = 0
            // The first read waits (at most the receive timeout); the next ones take what is queued.
            var flags: Int32 = 0
            var failed = false
            while buffer.count - offset >= Self.datagramBytes {
                let count = recv(descriptor, buffer.baseAddress! + offset, Self.datagramBytes, flags)
                if count > 0 {
                    ranges.append(offset..<(offset + count))
                    offset += count
                    flags = Int32(MSG_DONTWAIT)
                    continue
                }
                failed = count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                break
            }
            if !ranges.isEmpty { received(Datagrams(buffer: UnsafeRawBufferPointer(buffer), ranges: ranges)) }
            if failed { return }
        }
    }
}
