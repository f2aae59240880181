public import Foundation

/// A running blueprint as the server reports it (reference §1.9).
public struct Deployment: Sendable, Hashable {
    /// Name.
    public var name: String
    /// Clusters.
    public var clusters: [DeploymentCluster]
    /// `cluster.port` → assigned internal gateway port.
    public var ports: [String: Int]
    /// Deployment-level variables (`cluster.VAR`).
    public var environmentVariables: [EnvironmentVariable]
    /// Cluster → gateway-agent host.
    public var hosts: [String: String]
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]

    /// Creates a deployment.
    public init(
        name: String, clusters: [DeploymentCluster] = [], ports: [String: Int] = [:],
        environmentVariables: [EnvironmentVariable] = [], hosts: [String: String] = [:], dialects: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.clusters = clusters
        self.ports = ports
        self.environmentVariables = environmentVariables
        self.hosts = hosts
        self.dialects = dialects
    }

    /// The stable lookup name.
    public var lookupName: String { Names.lookupName(kind: "deployment", name: name) }
}

/// A cluster of a deployment.
public struct DeploymentCluster: Sendable, Hashable {
    /// Name.
    public var name: String
    /// Services with their status and instances.
    public var services: [DeploymentService]
    /// Internal gateways.
    public var gateways: [Gateway]
    /// SLA.
    public var sla: ArtifactReference<SLA>?
    /// Escalations added to a referenced SLA.
    public var slaEscalations: [ArtifactReference<Escalation>] = []
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]

    /// Creates a cluster.
    public init(
        name: String, services: [DeploymentService] = [], gateways: [Gateway] = [], sla: ArtifactReference<SLA>? = nil,
        dialects: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.services = services
        self.gateways = gateways
        self.sla = sla
        self.dialects = dialects
    }
}

/// A deployed service: a full breed at a scale, with status and instances.
public struct DeploymentService: Sendable, Hashable {
    /// Status.
    public var status: ServiceStatus
    /// The resolved breed.
    public var breed: Breed
    /// The resolved scale.
    public var scale: Scale
    /// Running instances.
    public var instances: [Instance]
    /// Resolved ("interpolated") variables.
    public var environmentVariables: [EnvironmentVariable]
    /// Run arguments.
    public var arguments: [RunArgument]
    /// Health checks.
    public var healthChecks: [HealthCheck]?
    /// Dependency alias → cluster that runs it.
    public var dependencies: [String: String]
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]
    /// Health counters, when reported.
    public var health: ServiceHealth?

    /// Creates a service.
    public init(
        status: ServiceStatus, breed: Breed, scale: Scale, instances: [Instance] = [],
        environmentVariables: [EnvironmentVariable] = [], arguments: [RunArgument] = [], healthChecks: [HealthCheck]? = nil,
        dependencies: [String: String] = [:], dialects: [String: JSONValue] = [:], health: ServiceHealth? = nil
    ) {
        self.status = status
        self.breed = breed
        self.scale = scale
        self.instances = instances
        self.environmentVariables = environmentVariables
        self.arguments = arguments
        self.healthChecks = healthChecks
        self.dependencies = dependencies
        self.dialects = dialects
        self.health = health
    }
}

/// A service's status: what should happen (intention) and how far it is (phase).
public struct ServiceStatus: Sendable, Hashable {
    /// Deploy or undeploy.
    public enum Intention: String, Sendable, Hashable, CaseIterable {
        case deployment = "Deployment"
        case undeployment = "Undeployment"
    }

    /// Progress towards the intention.
    public struct Phase: Sendable, Hashable {
        /// Phase names.
        public enum Name: String, Sendable, Hashable, CaseIterable {
            case initiated = "Initiated"
            case updating = "Updating"
            case done = "Done"
            case failed = "Failed"
        }

        /// The phase.
        public var name: Name
        /// When the phase began.
        public var since: Date
        /// Why it failed (only for `failed`).
        public var notification: String?

        /// Creates a phase.
        public init(name: Name, since: Date, notification: String? = nil) {
            self.name = name
            self.since = since
            self.notification = notification
        }
    }

    /// The intention.
    public var intention: Intention
    /// When the intention was set.
    public var since: Date
    /// The phase.
    public var phase: Phase

    /// Creates a status.
    public init(intention: Intention, since: Date, phase: Phase) {
        self.intention = intention
        self.since = since
        self.phase = phase
    }
}

/// One running instance (container or process) of a service.
public struct Instance: Sendable, Hashable {
    /// Name (driver specific).
    public var name: String
    /// Host.
    public var host: String
    /// Breed port name → host port.
    public var ports: [String: Int]
    /// Whether it is deployed.
    public var deployed: Bool

    /// Creates an instance.
    public init(name: String, host: String, ports: [String: Int], deployed: Bool) {
        self.name = name
        self.host = host
        self.ports = ports
        self.deployed = deployed
    }
}

/// Health counters of a service.
public struct ServiceHealth: Sendable, Hashable {
    /// Instances staged.
    public var staged: Int
    /// Instances running.
    public var running: Int
    /// Instances healthy.
    public var healthy: Int
    /// Instances unhealthy.
    public var unhealthy: Int

    /// Creates counters.
    public init(staged: Int, running: Int, healthy: Int, unhealthy: Int) {
        self.staged = staged
        self.running = running
        self.healthy = healthy
        self.unhealthy = unhealthy
    }
}
