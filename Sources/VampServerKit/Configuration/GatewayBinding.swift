import Foundation
import HAProxyConfigGen

extension ServerKeys {
    /// Where internal gateways (cluster ports) and the virtual-hosts frontend listen.
    static let bindInternal = Setting<String>.bindAddress("vamp.gateway-driver.bind.internal", default: "127.0.0.1")
    /// Where external gateways (the API's, a blueprint's `gateways:`) listen; empty for every address.
    static let bindExternal = Setting<String>.bindAddress("vamp.gateway-driver.bind.external", default: "")
}

extension Setting where Value == String {
    /// An IPv4 or IPv6 literal; empty or `*` for every IPv4 address (`0.0.0.0`). Never a host name: the text goes
    /// into HAProxy's `bind` lines.
    static func bindAddress(_ key: String, default value: String) -> Setting {
        Setting(key, default: value, expected: "an IPv4 or IPv6 address (empty or * for every address)") { text in
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "*" { return "0.0.0.0" }
            return HAProxyConfigurationGenerator.Options.isValidBindAddress(trimmed) ? trimmed : nil
        }
    }
}

/// Where the gateways the server generates listen: internal ones (cluster ports, the virtual-hosts frontend) on
/// loopback unless told otherwise, external ones on every address unless told otherwise.
struct GatewayBinding: Sendable, Hashable {
    /// `vamp.gateway-driver.bind.internal`.
    var internalAddress: String
    /// `vamp.gateway-driver.bind.external` (`0.0.0.0` for every address).
    var externalAddress: String

    /// Reads both settings and refuses an internal address the services cannot reach on `gatewayHost`
    /// (`vamp.gateway-driver.host`): the server stops at start rather than deploy services that cannot reach each
    /// other.
    init(_ reader: inout SettingsReader, gatewayHost: String) throws(SettingError) {
        internalAddress = try reader.read(ServerKeys.bindInternal)
        externalAddress = try reader.read(ServerKeys.bindExternal)
        if let problem = Self.unreachable(internal: internalAddress, gatewayHost: gatewayHost) { throw SettingError(description: problem) }
    }

    /// Why services that reach internal gateways on `gatewayHost` would find nothing listening when they bind
    /// `internal`; `nil` when they can reach them. A wildcard is reachable everywhere; a loopback address only from
    /// a loopback host; a specific address is trusted for a host name or another address (a name may resolve to
    /// it, an address may be forwarded to it), but not for a loopback host.
    static func unreachable(internal bind: String, gatewayHost: String) -> String? {
        guard bind != "0.0.0.0" && bind != "::" else { return nil }
        let host = "\(ServerKeys.gatewayHost.described) is '\(gatewayHost)'"
        let setting = "\(ServerKeys.bindInternal.described) is '\(bind)'"
        switch (isLoopback(bind), isLoopback(gatewayHost)) {
        case (true, false):
            return "\(host), where services reach the internal gateways, but \(setting), so they would listen on loopback only: set vamp.gateway-driver.bind.internal to an address of the gateway agents' machines where services reach them (0.0.0.0 for every address), or the host to 127.0.0.1"
        case (false, true):
            return "\(host), where services reach the internal gateways, but \(setting), so nothing would listen there: set vamp.gateway-driver.host to '\(bind)', or vamp.gateway-driver.bind.internal to 127.0.0.1 or 0.0.0.0"
        default:
            return nil
        }
    }

    /// `localhost`, `127.0.0.0/8` and `::1`.
    static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "localhost." || lowered == "::1" { return true }
        return lowered.hasPrefix("127.") && HAProxyConfigurationGenerator.Options.isValidBindAddress(lowered)
    }
}

extension ServerConfiguration {
    /// The ports no gateway may take, with what uses each and its setting: the API's, HAProxy's stats page, the
    /// virtual-hosts frontend's, and the embedded agent's status and log ports when they are set. An API on port 0
    /// (a free port, chosen at start) reserves nothing.
    var reservedPorts: [Int: String] {
        var reserved: [Int: String] = [:]
        func add(_ port: Int?, _ user: String) {
            guard let port, port != 0, reserved[port] == nil else { return }
            reserved[port] = user
        }
        add(port, "vamp-server's API (\(ServerKeys.port.key))")
        add(HAProxyBaseConfiguration.defaultStatsPort, "HAProxy's stats page (127.0.0.1:\(HAProxyBaseConfiguration.defaultStatsPort) in the gateway agents' base configuration)")
        add(virtualHostsPort, "the virtual-hosts frontend (\(ServerKeys.virtualHostsPort.key))")
        add(embeddedAgent?.status?.port, "the gateway agent's /health and /metrics (\(ServerKeys.agentStatus.key))")
        add(embeddedAgent?.logPort, "the UDP port HAProxy logs to (\(ServerKeys.agentLogPort.key))")
        return reserved
    }
}
