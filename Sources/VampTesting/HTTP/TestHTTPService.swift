import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small real HTTP/1.1 server on 127.0.0.1 for tests: every response names the service and
/// echoes the path and Host it received, so a test can see where HAProxy sent a request.
/// One thread per connection; every response closes its connection.
public final class TestHTTPService: @unchecked Sendable {
    /// The name in every response (`X-Served-By` header and body).
    public let name: String
    /// The port it listens on.
    public let port: Int
    /// The status of every answer (200 unless told; a webhook that refuses answers 500).
    public let status: Int
    private let listener: Int32
    private let lock = NSLock()
    private var stopped = false
    private var _requests: [Request] = []

    /// A request the service received.
    public struct Request: Sendable {
        /// The path, as HAProxy forwarded it.
        public var path: String
        /// Header names lowercased → values.
        public var headers: [String: String]
    }

    /// Every request received so far.
    public var requests: [Request] { lock.withLock { _requests } }

    /// Starts the service on a free loopback port; every answer has `status`.
    public init(name: String, status: Int = 200) throws {
        self.name = name
        self.status = status
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket() failed: errno \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 256) == 0 else {
            close(fd)
            throw FixtureError("cannot listen on 127.0.0.1: errno \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        self.listener = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { return }
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !data.containsHeaderEnd {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { return }
            data += buffer[0..<count]
            if data.count > 1 << 20 { return }
        }
        let head = String(decoding: data, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let path = String(requestLine[1])
        lock.withLock { _requests.append(Request(path: path, headers: headers)) }
        let body = "\(name) \(path)\n"
        let response = "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Answer")\r\nContent-Type: text/plain\r\nX-Served-By: \(name)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = response.withCString { write(client, $0, strlen($0)) }
    }

    /// Stops accepting connections.
    public func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }
}

extension [UInt8] {
    var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}

/// A response read by ``HTTPProbe``.
public struct HTTPProbeResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Headers in order.
    public var headers: [(name: String, value: String)]
    /// Body text.
    public var body: String

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }

    /// All values of `name`.
    public func headers(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
}

/// A raw HTTP/1.1 client over a fresh TCP connection, with full control of the Host header
/// and cookies (what a browser or curl sends), for tests against a real HAProxy.
public enum HTTPProbe {
    /// Sends `GET path` to 127.0.0.1:`port` and reads the whole response (the connection closes).
    public static func get(port: Int, path: String = "/", host: String? = nil, headers: [String: String] = [:], timeoutSeconds: Int = 5) throws -> HTTPProbeResponse {
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let raw = try exchange(port: port, bytes: Array(request.utf8), timeoutSeconds: timeoutSeconds)
        let text = String(decoding: raw, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw FixtureError("incomplete HTTP response from port \(port): \(text.prefix(200))") }
        var lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw FixtureError("bad status line from port \(port)") }
        let parsed = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return HTTPProbeResponse(status: status, headers: parsed.map { (name: $0.0, value: $0.1) }, body: String(text[split.upperBound...]))
    }

    /// Connects to 127.0.0.1:`port`, writes `bytes`, half-closes, and reads until the peer closes.
    public static func exchange(port: Int, bytes: [UInt8], timeoutSeconds: Int = 5) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket() failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw FixtureError("cannot connect to 127.0.0.1:\(port): errno \(errno)") }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw FixtureError("write to port \(port) failed: errno \(errno)") }
            sent += n
        }
        var result = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { break }
            if n < 0 { throw FixtureError("read from port \(port) failed: errno \(errno) after \(result.count) bytes") }
            result += buffer[0..<n]
        }
        return result
    }
}
