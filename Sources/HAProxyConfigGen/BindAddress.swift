#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import VampModel

/// The addresses gateway frontends bind. Only IP literals: a host name would wait on DNS when HAProxy starts, and
/// nothing but an address may reach a `bind` line (the addresses come from settings, never from a gateway).
enum BindAddress {
    /// True for an IPv4 (`127.0.0.1`, `0.0.0.0`) or IPv6 (`::1`, `::`) literal, as `inet_pton` reads them.
    static func isIPLiteral(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 45,
              text.utf8.allSatisfy({ (0x30...0x3A).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) || $0 == UInt8(ascii: ".") })
        else { return false }
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { bytes in
            inet_pton(text.contains(":") ? AF_INET6 : AF_INET, text, bytes.baseAddress) == 1
        }
    }

    /// `address:port` as a `bind` or `server` line takes it: an IPv6 address in brackets.
    static func endpoint(_ address: String, port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// Where HAProxy itself connects to a frontend bound to `address` (the virtual hosts' backends): loopback for a
    /// wildcard, the address itself otherwise.
    static func reachable(_ address: String) -> String {
        switch address {
        case "0.0.0.0": "127.0.0.1"
        case "::": "::1"
        default: address
        }
    }
}

extension HAProxyConfigurationGenerator.Options {
    /// True when `text` may be a bind address: an IPv4 or IPv6 literal (`0.0.0.0` and `::` for every address).
    /// Host names are refused.
    public static func isValidBindAddress(_ text: String) -> Bool { BindAddress.isIPLiteral(text) }

    /// The address the frontend of `gateway` binds: ``internalBindAddress`` for a cluster port's internal gateway
    /// (a name of three segments, `deployment/cluster/port`), ``bindAddress`` for every other gateway.
    public func bindAddress(of gateway: Gateway) -> String {
        gateway.isInternal ? internalBindAddress : bindAddress
    }
}
