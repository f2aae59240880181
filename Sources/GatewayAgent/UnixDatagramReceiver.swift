#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Receives HAProxy's log datagrams on a unix datagram socket (`log /path local0`).
///
/// HAProxy sends from an unnamed socket, whose empty sender address NIO cannot convert (it drops
/// the datagram), so this reads with a blocking `recv` loop on a thread of its own, never on the
/// cooperative pool. Each datagram is read whole (64 KiB buffer; HAProxy sends at most its `len`).
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

    /// Reads datagrams on a dedicated thread and passes each to `received` (on that thread) until
    /// the task is cancelled; then closes and removes the socket.
    func run(_ received: @escaping @Sendable (String) -> Void) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                Self.startThread { [self] in
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

    private func receive(_ received: (String) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stopping.load(ordering: .acquiring) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received(String(decoding: buffer[..<count], as: UTF8.self))
            } else if count < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                return
            }
        }
    }
}
