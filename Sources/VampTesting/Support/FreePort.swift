import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Free loopback TCP ports for test servers.
public enum FreePort {
    /// Where test ports come from: above Linux's default ephemeral range (32768-60999), as Vamp's default gateway
    /// range is. A port the kernel hands out for binding to port 0, or picks as a client's source port, can be held
    /// in TIME_WAIT by any connection of the machine; a gateway on it then cannot be bound when HAProxy reloads.
    public static let range = 61000...64999

    /// A free TCP port from ``range``: one that binds on every IPv4 address (so also on 127.0.0.1) with no other
    /// socket, listening or in TIME_WAIT, on it. Falls back to a port the kernel chooses when 200 tries find none.
    ///
    /// Another process may take the port between this call and the server's bind; fixtures retry
    /// a start when the server reports the address in use.
    public static func next() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: range)
            if canBind(port) { return port }
        }
        return try kernelChosen()
    }

    /// True when a socket without SO_REUSEADDR binds `0.0.0.0:port`.
    public static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = INADDR_ANY
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Asks the kernel for a free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
    static func kernelChosen() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw FixtureError("bind(127.0.0.1:0) failed: errno \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw FixtureError("getsockname failed: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    public static func isAccepting(_ port: Int) -> Bool {
        isAccepting(port, address: "127.0.0.1")
    }

    /// True when something accepts TCP connections on the IPv4 `address`:`port` (a refused or failed connect, or
    /// one that takes over 2 s, is `false`).
    public static func isAccepting(_ port: Int, address: String) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else { return false }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }
}
