public import HAProxyConfigGen
public import VampModel

/// What the gateway synchroniser writes to the KV store: the HAProxy text of the deployable gateways, and
/// whether it differs from what is stored (an agent must not reload for nothing).
public struct GatewayConfiguration: Sendable, Hashable {
    /// The generated frontends and backends (without the agent's base sections).
    public var text: String { didSet { stored = GatewayCertificates.bundle(certificates, with: text) } }
    /// The gateways the text serves, in HAProxy order; gateways with `deployed == false` are left out, and so are
    /// the ``excluded`` ones.
    public var servedGateways: [String]
    /// Gateways that would be served but that the generator refuses, with why: they are left out of ``text`` so
    /// that every other gateway is still served and updated. The API refuses a change that adds one; one can still
    /// appear when a deployment's service comes up (its internal gateway is rendered only then), or in a store
    /// written by an older version.
    public var excluded: [String: String]
    /// HAProxy's names of the served gateways, routes and instances, as Pulse reads them in the log lines.
    public var names: PulseNames
    /// The certificates of the stored secrets the served gateways name, by file (`GatewayCertificates`): they travel
    /// with the text in the KV store (``stored``), never in ``text``.
    public var certificates: [String: String] { didSet { stored = GatewayCertificates.bundle(certificates, with: text) } }
    /// What the KV store gets: ``text`` with the certificates it names before it (`GatewayCertificates.bundle(_:with:)`),
    /// encoded once per configuration (the server's `/info` compares it with what the agent applied on every call).
    public private(set) var stored: String

    /// Creates a configuration.
    public init(
        text: String, servedGateways: [String], excluded: [String: String] = [:], names: PulseNames = PulseNames(),
        certificates: [String: String] = [:]
    ) {
        self.text = text
        self.servedGateways = servedGateways
        self.excluded = excluded
        self.names = names
        self.certificates = certificates
        stored = GatewayCertificates.bundle(certificates, with: text)
    }

    /// Renders the deployable gateways among `resolved` (the output of ``GatewayResolution/resolve(_:deployments:allocator:options:)``).
    ///
    /// A gateway the generator refuses is left out, with the reason in ``excluded``, and the others are rendered: one
    /// bad gateway never keeps the rest from HAProxy. The gateway is found from the generator's error, or, when it
    /// names none, by rendering each gateway alone (only on this failure path).
    ///
    /// `secrets` are the stored secrets' PEM texts by name: a gateway naming one gets its file on the `bind` line, and
    /// the certificates of the served gateways go into ``certificates``; a gateway naming another is left out.
    public static func render(
        _ resolved: [Gateway], generator: HAProxyConfigurationGenerator = HAProxyConfigurationGenerator(), secrets: [String: String] = [:]
    ) -> GatewayConfiguration {
        var generator = generator
        let files = secrets.reduce(into: [String: String]()) { $0[$1.key] = GatewayCertificates.file(secret: $1.key, pem: $1.value) }
        generator.options.secretFiles = files
        func certificates(_ served: [Gateway]) -> [String: String] {
            served.reduce(into: [String: String]()) { out, gateway in
                if let secret = gateway.tls?.secret, let file = files[secret], let pem = secrets[secret] { out[file] = pem }
            }
        }
        var served = resolved.filter { $0.deployed ?? true }
        var excluded: [String: String] = [:]
        // Each round leaves out at least one gateway, so there are at most as many rounds as gateways.
        for _ in 0...served.count {
            do {
                return GatewayConfiguration(
                    text: try generator.render(served), servedGateways: served.map(\.name), excluded: excluded, names: PulseNames(served),
                    certificates: certificates(served))
            } catch {
                let named = error.gateway.flatMap { name in served.contains { $0.name == name } ? name : nil }
                let culprits: [(String, String)] = if let named {
                    [(named, reason(error))]
                } else {
                    served.compactMap { gateway -> (String, String)? in
                        do throws(HAProxyConfigError) {
                            _ = try generator.render([gateway])
                            return nil
                        } catch {
                            return (gateway.name, reason(error))
                        }
                    }
                }
                // Nothing alone is refused (two gateways that clash): leave out the last of them in HAProxy order.
                let leftOut = culprits.isEmpty ? served.last.map { [($0.name, reason(error))] } ?? [] : culprits
                for (name, why) in leftOut { excluded[name] = why }
                served.removeAll { gateway in leftOut.contains { $0.0 == gateway.name } }
            }
        }
        return GatewayConfiguration(text: "", servedGateways: [], excluded: excluded)
    }

    static func reason(_ error: HAProxyConfigError) -> String {
        error.route.map { "route '\($0)': \(error.message)" } ?? error.message
    }

    /// True when `stored` (the KV value now, `nil` when the key is missing) is not ``stored`` byte for byte.
    public func needsWrite(over stored: String?) -> Bool { stored != self.stored }
}
