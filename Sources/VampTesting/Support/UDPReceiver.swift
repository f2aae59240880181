import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket on 127.0.0.1 that plays a log sink (Logstash, syslog) in tests.
public struct UDPReceiver: Sendable {
    /// The socket.
    public let fd: Int32
    /// The port it is bound to.
    public let port: Int

    /// Binds 127.0.0.1:`port` (0 picks a free one).
    public init(port requested: Int = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(requested).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            Glibc.close(fd)
            throw FixtureError("cannot bind UDP 127.0.0.1:\(requested): errno \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: addr.sin_port))
    }

    /// The next datagram as text, or nil after `timeoutMilliseconds`.
    public func receive(timeoutMilliseconds: Int) -> String? {
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    /// Closes the socket (a sender then gets "connection refused").
    public func close() { _ = Glibc.close(fd) }
}
