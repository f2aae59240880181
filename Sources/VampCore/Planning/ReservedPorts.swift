public import VampModel

/// Ports no gateway may take because something else on the gateway machines listens there: the server's API,
/// HAProxy's stats page, the agent's status endpoint, the virtual-hosts frontend, the agent's log port
/// (``Vamp/Configuration/reservedPorts``). HAProxy could not bind a gateway on such a port, or would take
/// connections meant for the program that holds it; either way the gateway is refused when it is written.
public enum ReservedPorts {
    /// Why `gateway` may not have its port, naming the port, what uses it and the setting that chose it; `nil` when
    /// its port is not reserved (port 0, "allocate one", never is).
    public static func problem(of gateway: Gateway, reserved: [Int: String]) -> String? {
        guard gateway.port.number != 0, let user = reserved[gateway.port.number] else { return nil }
        return "gateway '\(gateway.name)': port \(gateway.port.number) is reserved for \(user); give the gateway another port"
    }

    /// Refuses `gateways` (those a request stores) when any has a reserved port, with one line per gateway.
    public static func check(_ gateways: [Gateway], reserved: [Int: String]) throws(OperationError) {
        guard !reserved.isEmpty else { return }
        let problems = gateways.compactMap { problem(of: $0, reserved: reserved) }
        guard problems.isEmpty else { throw OperationError(.invalid, problems.joined(separator: "\n")) }
    }
}

extension Vamp.Configuration {
    /// A port allocator over the configured range that never hands out a reserved port.
    var portAllocator: GatewayPortAllocator {
        GatewayPortAllocator(range: gatewayPortRange, reserved: Set(reservedPorts.keys))
    }
}
