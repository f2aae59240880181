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

/// Receives HAProxy's log datagrams on a UDP port of 127.0.0.1 (`log 127.0.0.1:port`, the default) or on a unix
/// datagram socket (`log /path`), with blocking `recv` calls on a thread of its own, never on the cooperative pool
/// (HAProxy sends from an unnamed unix socket, whose empty sender address NIO cannot convert). Each datagram is read
/// whole (64 KiB room each; HAProxy sends at most its `len`).
///
/// Datagrams are handed over in batches: after the first, the loop takes whatever else is queued, so the sinks take
/// their lock once a batch. Then:
/// - on a unix datagram socket, which queues at most `net.unix.max_dgram_qlen` datagrams (10 by default; HAProxy
///   drops a line it cannot queue, its `DroppedLogs`), the thread is back in `recv` at once (measured: a 1 ms pause
///   between batches lost 7 % of 12,000 lines a second);
/// - on UDP, whose buffer holds a couple of thousand lines, the thread lets lines gather for a moment
///   (``gatheringPause(room:batch:elapsed:full:)``) instead of waking for every line: a line that wakes the thread
///   costs some 20 µs of CPU, which a gateway serving at full speed pays for in requests.
final class DatagramReceiver: Sendable {
    /// What the socket is bound to, for messages: `127.0.0.1:port` or the unix socket's path.
    let name: String
    /// The unix socket's path, removed when the receiver stops; nil for UDP.
    private let path: String?
    /// About how many datagrams the socket's buffer holds; nil for a unix socket (never waited on).
    private let room: Int?
    private let descriptor: Int32
    private let stopping = Atomic<Bool>(false)

    /// Binds a unix datagram socket at `path`, replacing a socket file left there (by an agent that crashed);
    /// any other file at that path is an error.
    init(path: String) throws {
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
        Self.setOption(descriptor, SO_RCVBUF, 1 << 20)
        Self.setReceiveTimeout(descriptor)
        self.descriptor = descriptor
        self.path = path
        self.name = path
        self.room = nil
    }

    /// The receive buffer asked for on UDP: 4 MB (the kernel doubles it for its own overhead: room for some 4,000 lines).
    static let receiveBuffer: Int32 = 4 << 20
    /// What the kernel charges the buffer for a queued datagram of a usual line (its `truesize`), rounded up.
    static let chargePerDatagram = 2048

    /// Binds UDP `port` (0: the kernel picks) on 127.0.0.1 with a 4 MB receive buffer: past `net.core.rmem_max` when
    /// the agent may (root or `CAP_NET_ADMIN`), else what the kernel allows.
    init(udpPort port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw GatewayAgentError("cannot open a UDP socket for HAProxy's logs: errno \(errno)") }
        Self.setOption(descriptor, SO_REUSEADDR, 1)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw GatewayAgentError("cannot bind the log port 127.0.0.1:\(port): errno \(code); choose another --log-port")
        }
        if !Self.setOption(descriptor, SO_RCVBUFFORCE, Self.receiveBuffer) {
            Self.setOption(descriptor, SO_RCVBUF, Self.receiveBuffer)
        }
        var granted: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &granted, &length)
        Self.setReceiveTimeout(descriptor)
        self.descriptor = descriptor
        self.path = nil
        self.name = "127.0.0.1:\(port)"
        self.room = max(16, Int(granted) / Self.chargePerDatagram)
    }

    @discardableResult
    private static func setOption(_ descriptor: Int32, _ option: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// A bounded wait, so the loop also sees a stop that came before it blocked.
    private static func setReceiveTimeout(_ descriptor: Int32) {
        var timeout = timeval(tv_sec: 0, tv_usec: 250_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The longest the thread lets lines gather on UDP.
    static let longestPause = Duration.milliseconds(10)

    /// How long to let lines gather after taking `batch` datagrams that came over `elapsed` (since the batch before):
    /// none on a unix socket (`room` nil) or after a batch that filled the read buffer (`full`); else
    /// ``longestPause``, shortened so that, at the rate just seen, what arrives meanwhile takes at most a quarter of the
    /// socket's `room` (in datagrams).
    static func gatheringPause(room: Int?, batch: Int, elapsed: Duration, full: Bool) -> Duration {
        guard let room, !full else { return .zero }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard batch > 0, seconds > 0 else { return longestPause }
        let pause = Double(room) / 4 / (Double(batch) / seconds)
        return pause >= 0.010 ? longestPause : .microseconds(Int64(pause * 1e6))
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
    /// task is cancelled; then closes the socket (and removes a unix socket's file).
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
        if let path { unlink(path) }
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
        let clock = ContinuousClock()
        var taken = clock.now
        while !stopping.load(ordering: .acquiring) {
            ranges.removeAll(keepingCapacity: true)
            var offset = 0
            // The first read waits (at most the receive timeout); the next ones take what is queued.
            var flags: Int32 = 0
            var failed = false
            var full = true
            while buffer.count - offset >= Self.datagramBytes {
                let count = recv(descriptor, buffer.baseAddress! + offset, Self.datagramBytes, flags)
                if count > 0 {
                    ranges.append(offset..<(offset + count))
                    offset += count
                    flags = Int32(MSG_DONTWAIT)
                    continue
                }
                failed = count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                full = false
                break
            }
            if ranges.isEmpty {
                if failed { return }
                continue
            }
            let now = clock.now
            received(Datagrams(buffer: UnsafeRawBufferPointer(buffer), ranges: ranges))
            if failed { return }
            let pause = Self.gatheringPause(room: room, batch: ranges.count, elapsed: now - taken, full: full)
            taken = now
            if pause > .zero, !stopping.load(ordering: .acquiring) {
                let (seconds, attoseconds) = pause.components
                var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
                nanosleep(&time, nil)
            }
        }
    }
}
