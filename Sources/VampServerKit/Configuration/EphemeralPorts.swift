import Foundation

/// The kernel's ephemeral ports: the source ports `connect` picks for outgoing connections
/// (`net.ipv4.ip_local_port_range`), less the ones set aside (`net.ipv4.ip_local_reserved_ports`).
///
/// A gateway port inside that range is a trap: any client or health check on the machine may hold it as a source
/// port (in TIME_WAIT for a minute after it closes), and then HAProxy cannot bind the gateway (`Address already in
/// use`, even with SO_REUSEADDR and SO_REUSEPORT). So the default gateway range, 61000-64999, lies above Linux's
/// default ephemeral range (32768-60999), and the server warns at start when the configured one overlaps it.
struct EphemeralPorts: Sendable, Hashable {
    /// `ip_local_port_range`.
    var range: ClosedRange<Int>
    /// `ip_local_reserved_ports`: never picked as source ports.
    var reserved: [ClosedRange<Int>]

    /// Reads both from `/proc/sys/net/ipv4` (under `root`); nil where they cannot be read (not Linux).
    static func read(root: String = "/proc/sys/net/ipv4") -> EphemeralPorts? {
        guard let text = try? String(contentsOfFile: "\(root)/ip_local_port_range", encoding: .utf8),
              let range = parseRange(text)
        else { return nil }
        let reserved = (try? String(contentsOfFile: "\(root)/ip_local_reserved_ports", encoding: .utf8)).map(parseReserved) ?? []
        return EphemeralPorts(range: range, reserved: reserved)
    }

    /// `32768\t60999`.
    static func parseRange(_ text: String) -> ClosedRange<Int>? {
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] <= numbers[1] else { return nil }
        return numbers[0]...numbers[1]
    }

    /// `8080,40000-45000` (empty: none).
    static func parseReserved(_ text: String) -> [ClosedRange<Int>] {
        text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { part in
            let bounds = part.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1: return bounds[0]...bounds[0]
            case 2 where bounds[0] <= bounds[1]: return bounds[0]...bounds[1]
            default: return nil
            }
        }
    }

    /// How many ports of `gateways` the kernel may pick as source ports.
    func exposed(_ gateways: ClosedRange<Int>) -> Int {
        guard gateways.overlaps(range) else { return 0 }
        let shared = gateways.clamped(to: range)
        return shared.count { port in !reserved.contains { $0.contains(port) } }
    }

    /// The warning for a gateway range that overlaps, naming both ranges and the two ways out; nil when it does not.
    func warning(gateways: ClosedRange<Int>, setting: String) -> String? {
        let count = exposed(gateways)
        guard count > 0 else { return nil }
        return "\(count) ports of the gateway range \(gateways.lowerBound)-\(gateways.upperBound) (\(setting)) lie in the kernel's "
            + "ephemeral range \(range.lowerBound)-\(range.upperBound) (net.ipv4.ip_local_port_range): a connection that holds "
            + "one as its source port stops HAProxy from binding a gateway there; choose a range outside it (the default is "
            + "61000-64999) or reserve it: sysctl -w net.ipv4.ip_local_reserved_ports=\(gateways.lowerBound)-\(gateways.upperBound)"
    }
}
