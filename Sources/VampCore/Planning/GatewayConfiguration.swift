public import HAProxyConfigGen
public import VampModel

/// What the gateway synchroniser writes to the KV store: the HAProxy text of the deployable gateways, and
/// whether it differs from what is stored (an agent must not reload for nothing).
public struct GatewayConfiguration: Sendable, Hashable {
    /// The generated frontends and backends (without the agent's base sections).
    public var text: String
    /// The gateways the text serves, in HAProxy order; gateways with `deployed == false` are left out.
    public var servedGateways: [String]

    /// Renders the deployable gateways among `resolved` (the output of ``GatewayResolution/resolve(_:deployments:allocator:options:)``).
    /// Throws an error naming the gateway when the generator refuses one: such a change is refused at the API
    /// and never reaches an agent.
    public static func render(
        _ resolved: [Gateway], generator: HAProxyConfigurationGenerator = HAProxyConfigurationGenerator()
    ) throws(GatewayPlanningError) -> GatewayConfiguration {
        let served = resolved.filter { $0.deployed ?? true }
        do {
            return GatewayConfiguration(text: try generator.render(served), servedGateways: served.map(\.name))
        } catch {
            throw GatewayPlanningError(code: .invalidGateway, gateway: error.gateway, message: error.route.map { "route '\($0)': \(error.message)" } ?? error.message)
        }
    }

    /// True when `stored` (the KV value now, `nil` when the key is missing) is not this text byte for byte.
    public func needsWrite(over stored: String?) -> Bool { stored != text }
}
