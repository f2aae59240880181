#if canImport(Glibc)
import Glibc
#endif

/// Whether HAProxy could bind an address now: a real `bind(2)` with the options HAProxy 2.6 sets on Linux
/// (`SO_REUSEADDR` and `SO_REUSEPORT`), then closed at once, never `listen(2)`ed (so it takes no connection).
///
/// Why before a reload: a new master that cannot bind a new address makes HAProxy pause the old workers' listeners
/// (SIGTTOU) while it retries, resume them (SIGTTIN) and give up: every gateway refused connections for about 2 s
/// (measured with HAProxy 2.6.12 on this machine). A configuration with such an address must never reach the master.
/// With `SO_REUSEPORT` the probe succeeds on a port this agent's own HAProxy (same user) already listens on, as
/// HAProxy's own bind would, and fails on one that another program holds, or that a connection uses as its local port.
enum BindProbe {
    /// nil when `address` can be bound, else why not (`strerror`).
    static func check(_ address: TCPAddress) -> String? {
        let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(descriptor) }
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        let result: Int32
        if address.family == AF_INET6 {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = UInt16(address.port).bigEndian
            guard inet_pton(AF_INET6, address.host, &socketAddress.sin6_addr) == 1 else { return "not an IPv6 address" }
            result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = UInt16(address.port).bigEndian
            guard inet_pton(AF_INET, address.host, &socketAddress.sin_addr) == 1 else { return "not an IPv4 address" }
            result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        return result == 0 ? nil : String(cString: strerror(errno))
    }

    /// The addresses among `addresses` that cannot be bound, with why; each probed once.
    static func unbindable(_ addresses: some Sequence<TCPAddress>) -> [TCPAddress: String] {
        var failed: [TCPAddress: String] = [:]
        var probed = Set<TCPAddress>()
        for address in addresses where probed.insert(address).inserted {
            if let error = check(address) { failed[address] = error }
        }
        return failed
    }
}
