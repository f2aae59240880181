#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine's own network addresses, for tests of what listens where (a gateway on loopback must not answer on
/// the machine's other addresses).
public enum MachineAddresses {
    /// The IPv4 addresses of the machine's interfaces outside `127.0.0.0/8` (what `hostname -I` lists), in
    /// interface order.
    public static func nonLoopbackIPv4() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let converted = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet -> Bool in
                var raw = inet.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &text, socklen_t(INET_ADDRSTRLEN)) != nil
            }
            let string = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if converted, !string.hasPrefix("127."), !addresses.contains(string) { addresses.append(string) }
        }
        return addresses
    }

    /// True when something accepts TCP connections on the IPv4 `address`:`port` (a refused or failed connect is
    /// `false`).
    public static func isAccepting(_ address: String, port: Int) -> Bool {
        FreePort.isAccepting(port, address: address)
    }
}
