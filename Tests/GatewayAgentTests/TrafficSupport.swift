import Foundation
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Requests to `port` from `clients` threads of their own (never the cooperative pool, which blocking calls would
/// starve) until ``LoadThreads/stop()``.
final class LoadThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopping = false
    private var running: Int
    private var ok = 0
    private var failed: [String] = []

    init(port: Int, clients: Int = 2) {
        running = clients
        for _ in 0..<clients {
            Thread.detachNewThread { [self] in
                while !condition.withLock({ stopping }) {
                    let outcome: String?
                    do {
                        let response = try HTTPProbe.get(port: port, timeoutSeconds: 5)
                        outcome = response.status == 200 ? nil : "status \(response.status)"
                    } catch {
                        outcome = "\(error)"
                    }
                    condition.withLock {
                        if let outcome { if failed.count < 100 { failed.append(outcome) } } else { ok += 1 }
                    }
                }
                condition.withLock {
                    running -= 1
                    condition.broadcast()
                }
            }
        }
    }

    /// Stops the threads and returns the requests answered 200 and the others (the first 100).
    func stop() async -> (ok: Int, failed: [String]) {
        condition.withLock { stopping = true }
        while condition.withLock({ running > 0 }) { try? await Task.sleep(for: .milliseconds(10)) }
        return condition.withLock { (ok, failed) }
    }
}

/// An HTTP service that holds every request until ``release()``, then answers 200: a request in flight.
final class HeldHTTPService: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let condition = NSCondition()
    private var released = false
    private var _waiting = 0

    /// Requests received and not answered yet.
    var waiting: Int { condition.withLock { _waiting } }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw FixtureError("cannot listen on 127.0.0.1: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread { [self] in answer(client) }
            }
        }
    }

    private func answer(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        // A health check connects and closes; a request sends its head.
        guard read(client, &buffer, buffer.count) > 0 else { return }
        condition.withLock {
            _waiting += 1
            while !released { condition.wait() }
            _waiting -= 1
        }
        let response = "HTTP/1.1 200 OK\r\nX-Served-By: held\r\nContent-Length: 5\r\nConnection: close\r\n\r\nheld\n"
        // MSG_NOSIGNAL: a client gone meanwhile is no SIGPIPE for the test process.
        _ = response.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Answers every request held, and the next ones at once.
    func release() {
        condition.withLock {
            released = true
            condition.broadcast()
        }
    }

    func stop() {
        release()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
