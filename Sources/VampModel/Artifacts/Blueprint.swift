/// A desired topology: clusters of services and external gateways (reference §1.2).
public struct Blueprint: Sendable, Hashable {
    /// Name.
    public var name: String
    /// External gateways (`9050/http: web/port`).
    public var gateways: [Gateway]
    /// Clusters, in document order.
    public var clusters: [Cluster]
    /// Blueprint-level variables, keyed `cluster.VAR`.
    public var environmentVariables: [EnvironmentVariable]
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]
    /// Free metadata.
    public var metadata: [String: JSONValue]

    /// Creates a blueprint.
    public init(
        name: String, gateways: [Gateway] = [], clusters: [Cluster] = [], environmentVariables: [EnvironmentVariable] = [],
        dialects: [String: JSONValue] = [:], metadata: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.gateways = gateways
        self.clusters = clusters
        self.environmentVariables = environmentVariables
        self.dialects = dialects
        self.metadata = metadata
    }
}

/// A cluster: services that run side by side (versions of one service, for canaries) behind
/// internal gateways.
public struct Cluster: Sendable, Hashable {
    /// Name (unique within the blueprint).
    public var name: String
    /// Services.
    public var services: [Service]
    /// Internal gateways, named by breed port name; their routes are keyed by breed name. A
    /// gateway with an empty name is the short form for the cluster's only port, kept when the
    /// breeds are references whose ports are unknown until deployment
    /// (see ``Blueprint/bindingClusterGateways(breeds:)``).
    public var gateways: [Gateway]
    /// SLA of the cluster.
    public var sla: ArtifactReference<SLA>?
    /// Escalations added to a referenced SLA (`sla: {reference: fast, escalations: [...]}`).
    public var slaEscalations: [ArtifactReference<Escalation>] = []
    /// Health checks for all services of the cluster (a service may override).
    public var healthChecks: [HealthCheck]?
    /// Network (driver-specific, e.g. `BRIDGE`, `HOST`, `USER`).
    public var network: String?
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]
    /// Free metadata.
    public var metadata: [String: JSONValue]

    /// Creates a cluster.
    public init(
        name: String, services: [Service] = [], gateways: [Gateway] = [], sla: ArtifactReference<SLA>? = nil,
        healthChecks: [HealthCheck]? = nil, network: String? = nil, dialects: [String: JSONValue] = [:],
        metadata: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.services = services
        self.gateways = gateways
        self.sla = sla
        self.healthChecks = healthChecks
        self.network = network
        self.dialects = dialects
        self.metadata = metadata
    }
}

/// One service in a cluster: a breed at a scale.
public struct Service: Sendable, Hashable {
    /// The breed (reference or inline).
    public var breed: ArtifactReference<Breed>
    /// The scale (reference or inline); `nil` means the server's default.
    public var scale: ArtifactReference<Scale>?
    /// Overrides of breed variables (each must exist in the breed and have a value).
    public var environmentVariables: [EnvironmentVariable]
    /// Run arguments.
    public var arguments: [RunArgument]
    /// Health checks; an empty list disables them, `nil` inherits.
    public var healthChecks: [HealthCheck]?
    /// Network.
    public var network: String?
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]

    /// Creates a service.
    public init(
        breed: ArtifactReference<Breed>, scale: ArtifactReference<Scale>? = nil,
        environmentVariables: [EnvironmentVariable] = [], arguments: [RunArgument] = [], healthChecks: [HealthCheck]? = nil,
        network: String? = nil, dialects: [String: JSONValue] = [:]
    ) {
        self.breed = breed
        self.scale = scale
        self.environmentVariables = environmentVariables
        self.arguments = arguments
        self.healthChecks = healthChecks
        self.network = network
        self.dialects = dialects
    }

    /// The breed's name (referenced or inline).
    public var breedName: String {
        switch breed {
        case .reference(let name): name
        case .inline(let breed): breed.name
        }
    }
}

/// Resources of a service: cpu, memory and number of instances (reference §1.3).
public struct Scale: Sendable, Hashable {
    /// Name when stored; `nil` for an inline scale.
    public var name: String?
    /// CPU.
    public var cpu: CPU
    /// Memory.
    public var memory: Memory
    /// Number of instances.
    public var instances: Int

    /// Creates a scale.
    public init(name: String? = nil, cpu: CPU, memory: Memory, instances: Int = 1) {
        self.name = name
        self.cpu = cpu
        self.memory = memory
        self.instances = instances
    }

    /// Vamp's default scale when a service has none: 1 cpu, 1 GB, 1 instance.
    public static let `default` = Scale(cpu: CPU(cores: 1)!, memory: Memory(megabytes: 1024)!, instances: 1)
}

extension Blueprint {
    /// The blueprint with every cluster gateway written without a port name (kept while the
    /// cluster's breeds were references) bound to the cluster's only port. `breeds` finds a
    /// referenced breed by name; deployment calls this once the breeds are known.
    ///
    /// Throws, naming the cluster, when a cluster's breeds have no port or more than one, or a
    /// referenced breed is not found.
    public func bindingClusterGateways(breeds: (String) -> Breed?) throws(VampErrors) -> Blueprint {
        var bound = self
        var errors: [VampError] = []
        for clusterIndex in bound.clusters.indices {
            let cluster = bound.clusters[clusterIndex]
            guard let gatewayIndex = cluster.gateways.firstIndex(where: { $0.name.isEmpty }) else { continue }
            let path = "clusters.\(cluster.name).gateways"
            var ports: [String] = []
            var missing: [String] = []
            for service in cluster.services {
                let breed: Breed?
                switch service.breed {
                case .inline(let inline): breed = inline
                case .reference(let name): breed = breeds(name)
                }
                guard let breed else {
                    missing.append(service.breedName)
                    continue
                }
                for port in breed.ports where !ports.contains(port.name) { ports.append(port.name) }
            }
            if !missing.isEmpty {
                errors.append(VampError(.invalidArtifact, "the breed \(missing.map { "'\($0)'" }.joined(separator: ", ")) of cluster '\(cluster.name)' is not found, so its gateway cannot be bound to a port", kind: "blueprint", name: name, path: path))
            } else if ports.count != 1 {
                errors.append(VampError(
                    .invalidArtifact,
                    "the gateway of cluster '\(cluster.name)' has no port name and the cluster's breeds have \(ports.isEmpty ? "no port" : "\(ports.count) ports (\(ports.joined(separator: ", ")))"); key the gateway by port name, e.g. gateways: {\(ports.first ?? "web"): {…}}",
                    kind: "blueprint", name: name, path: path))
            } else {
                bound.clusters[clusterIndex].gateways[gatewayIndex].name = ports[0]
            }
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return bound
    }
}
