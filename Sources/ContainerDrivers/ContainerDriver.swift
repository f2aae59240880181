import Foundation
public import ServiceLifecycle
public import VampModel

/// Which service of which deployment, or which workflow: the identity a driver records with everything it starts
/// (Vamp's ownership labels `io.vamp.deployment`, `io.vamp.cluster`, `io.vamp.service` for a service;
/// `io.vamp=workflow`, `io.vamp.workflow`, `io.vamp.breed` for a workflow).
///
/// A workflow's daemon runs through the same calls as a deployment's service (``ContainerDriver/deploy(_:update:)``,
/// ``ContainerDriver/undeploy(_:)``, reported by ``ContainerDriver/services()``), with an identity made by
/// ``workflow(_:breed:)``: its ``kind`` tells the two apart, so a service and a workflow of the same name never meet.
public struct ServiceIdentity: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// What a driver runs: a deployment's service or a workflow's daemon.
    public enum Kind: String, Sendable, Hashable {
        /// A service of a deployment's cluster.
        case service
        /// A workflow's breed, run as a daemon (the workflow issue schedules them).
        case workflow
    }

    /// A service or a workflow.
    public var kind: Kind
    /// The deployment's name; for a workflow, the workflow's name.
    public var deployment: String
    /// The cluster's name; empty for a workflow.
    public var cluster: String
    /// The service's breed name (`sava:1.0`); for a workflow, its breed's name.
    public var service: String

    /// Creates the identity of a deployment's service.
    public init(deployment: String, cluster: String, service: String) {
        self.kind = .service
        self.deployment = deployment
        self.cluster = cluster
        self.service = service
    }

    /// The identity of workflow `name`'s daemon, which runs `breed`.
    public static func workflow(_ name: String, breed: String) -> ServiceIdentity {
        var id = ServiceIdentity(deployment: name, cluster: "", service: breed)
        id.kind = .workflow
        return id
    }

    /// The workflow's name, or nil for a deployment's service.
    public var workflow: String? { kind == .workflow ? deployment : nil }

    /// `deployment/cluster/service`, or `workflow/<name>`.
    public var description: String { kind == .workflow ? "workflow/\(deployment)" : "\(deployment)/\(cluster)/\(service)" }

    public static func < (lhs: ServiceIdentity, rhs: ServiceIdentity) -> Bool { lhs.description < rhs.description }
}

/// Everything a driver needs to run one service: what the reconciler asks for.
public struct ServiceSpecification: Sendable, Hashable {
    /// Whose service this is.
    public var id: ServiceIdentity
    /// The resolved breed: its deployable (`type`, `definition`) and its ports by name.
    public var breed: Breed
    /// CPU, memory and the number of instances.
    public var scale: Scale
    /// The environment to inject, keyed by alias or name, with every value resolved (§4.6).
    public var environment: [String: String]
    /// Run arguments (`privileged: true`).
    public var arguments: [RunArgument]
    /// The health checks that decide when an instance counts as up (empty: it is up when it accepts connections
    /// on its ports).
    public var healthChecks: [HealthCheck]
    /// Driver-specific settings (`docker:`, `kubernetes:`, `marathon:`), already merged deployment → cluster →
    /// service.
    public var dialects: [String: JSONValue]

    /// Creates a specification.
    public init(
        id: ServiceIdentity, breed: Breed, scale: Scale, environment: [String: String] = [:],
        arguments: [RunArgument] = [], healthChecks: [HealthCheck] = [], dialects: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.breed = breed
        self.scale = scale
        self.environment = environment
        self.arguments = arguments
        self.healthChecks = healthChecks
        self.dialects = dialects
    }

    /// A stable digest of what is run (deployable, ports, environment, arguments, health checks, dialects, cpu and
    /// memory; not the number of instances). A driver records it with what it starts and reports it back in
    /// ``RuntimeService/digest``, so the reconciler sees a running service that no longer matches its model.
    public var digest: String {
        var text = "deployable=\(breed.deployable?.type ?? "")|\(breed.deployable?.definition ?? "")\n"
        for port in breed.ports.sorted(by: { $0.name < $1.name }) { text += "port=\(port.name)=\(port.value ?? "")\n" }
        for key in environment.keys.sorted() { text += "env=\(key)=\(environment[key]!)\n" }
        for argument in arguments { text += "arg=\(argument.key)=\(argument.value)\n" }
        for check in healthChecks {
            text += "check=\(check.protocol.rawValue) \(check.port) \(check.path) \(check.initialDelay) \(check.timeout) \(check.interval) \(check.failures)\n"
        }
        for key in dialects.keys.sorted() { text += "dialect=\(key)=\(dialects[key]!)\n" }
        text += "cpu=\(scale.cpu) memory=\(scale.memory)\n"
        return SHA1.hex(text)
    }
}

/// What a driver reports of one service it runs.
public struct RuntimeService: Sendable, Hashable {
    /// Whose service this is.
    public var id: ServiceIdentity
    /// The ``ServiceSpecification/digest`` of the specification it was started with.
    public var digest: String
    /// The number of instances it was asked for.
    public var desiredInstances: Int
    /// Its instances. An instance is `deployed` when it runs and is up (its health checks pass, or without any, it
    /// accepts connections on its ports): only those get traffic.
    public var instances: [Instance]

    /// Creates a report.
    public init(id: ServiceIdentity, digest: String, desiredInstances: Int, instances: [Instance]) {
        self.id = id
        self.digest = digest
        self.desiredInstances = desiredInstances
        self.instances = instances
    }
}

/// What a driver says of itself (`GET /info`'s `container_driver` section).
public struct ContainerDriverInfo: Sendable, Hashable {
    /// `local`, `docker`, `kubernetes`, `marathon`.
    public var type: String
    /// Free-form facts (versions, addresses, counts).
    public var details: [String: JSONValue]

    /// Creates driver information.
    public init(type: String, details: [String: JSONValue] = [:]) {
        self.type = type
        self.details = details
    }
}

/// A driver's refusal or failure, worded for the user (it becomes the service's `Failed` notification).
public struct ContainerDriverError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// True when the request itself cannot work (a deployable type the driver does not run, a command that does not
    /// exist): retrying does not help.
    public var permanent: Bool
    /// The error this one wraps (a connection refused, a TLS failure, a file that cannot be written), when there is
    /// one; its words are in ``message`` already. Not part of equality.
    public var cause: (any Error)?

    /// Creates an error.
    public init(_ message: String, permanent: Bool = false, cause: (any Error)? = nil) {
        self.message = message
        self.permanent = permanent
        self.cause = cause
    }

    /// The message.
    public var description: String { message }

    /// Equal when the message and ``permanent`` are; the ``cause`` is not compared.
    public static func == (lhs: ContainerDriverError, rhs: ContainerDriverError) -> Bool {
        lhs.message == rhs.message && lhs.permanent == rhs.permanent
    }

    /// Hashes the message and ``permanent``, as `==` compares them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(message)
        hasher.combine(permanent)
    }
}

/// A gateway as a driver sees it, for what a platform adds for gateways (``ContainerDriver/synchronizeGateways(_:)``).
public struct DriverGateway: Sendable, Hashable {
    /// The gateway's name (`shop/web`).
    public var name: String
    /// Its lookup name (a hex SHA-1 of its name).
    public var lookupName: String
    /// Its port, where the gateway agents' HAProxy binds it.
    public var port: Int

    /// Creates a gateway.
    public init(name: String, lookupName: String, port: Int) {
        self.name = name
        self.lookupName = lookupName
        self.port = port
    }
}

/// Runs services somewhere: local processes, Docker, Kubernetes, Marathon (the original's ContainerDriverActor,
/// §1.1). Drivers hold no deployment logic: the reconciler decides, the driver does what it is told and reports
/// what runs.
///
/// A driver is a ServiceLifecycle `Service`: creating one does no I/O and starts nothing; its background work
/// (watching the platform for ``changeNotices()``, the local driver's supervision of its processes) runs in
/// `run()` and stops when that is cancelled or shut down gracefully; the change notices' streams end then. A driver
/// runs once. What the driver runs keeps running after it stopped: a driver made later finds it again. Run the driver
/// before the parts that use it (in a `ServiceGroup`, list it before the reconciler, which then stops first).
public protocol ContainerDriver: ServiceLifecycle.Service {
    /// The deployable types the driver runs (`command`, `container/docker`, ...).
    var deployableTypes: Set<String> { get }

    /// What the driver knows of itself.
    func info() async throws(ContainerDriverError) -> ContainerDriverInfo

    /// Every service the driver runs for `deployment`s it owns (by its ownership records or labels), whether or not
    /// the model still knows them, so the reconciler can also remove leftovers; workflows' daemons too (their
    /// ``ServiceIdentity/kind`` is `workflow`), which the deployments' reconciler leaves alone.
    func services() async throws(ContainerDriverError) -> [RuntimeService]

    /// Starts the service (`update == false`) or makes the running one match the specification (`update == true`):
    /// instances added or removed to reach the scale, all of them replaced when the digest changed. Returns when the
    /// request is accepted; instances come up afterwards and are seen in ``services()``.
    func deploy(_ service: ServiceSpecification, update: Bool) async throws(ContainerDriverError)

    /// Stops and removes every instance of the service. Removing a service that does not run is not an error.
    func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError)

    /// A new subscription to the driver's change notices: a notice whenever something the driver runs changed on its
    /// own (an instance exited, came up, failed its health check), so the reconciler looks at once instead of at its
    /// next periodic pass. Each call is a subscription of its own, so any number of parts can listen; bursts may
    /// coalesce. The stream ends when the driver's `run()` ends.
    func changeNotices() -> AsyncStream<Void>

    /// Makes what the platform adds for gateways match `gateways`, every gateway with a port (Kubernetes: a Service
    /// per gateway selecting the gateway agents). Most drivers add nothing: the default does nothing.
    func synchronizeGateways(_ gateways: [DriverGateway]) async throws(ContainerDriverError)

    /// Runs `job` once, a `time` or `event` workflow's run, and returns when it ended or was stopped: past
    /// ``JobSpecification/timeout`` it is stopped (``JobOutcome/timedOut``), and when the calling task is cancelled
    /// (a workflow suspended or deleted) it is stopped too and the call returns with ``JobOutcome/cancelled``. Nothing
    /// of the run is left behind either way: no process, no container. The default refuses with a permanent
    /// error: the driver runs workflows only as `daemon` schedules (through ``deploy(_:update:)``).
    /// - Throws: A permanent ``ContainerDriverError`` for a job the driver cannot run (another deployable type, an
    ///   empty command, a run id outside `[a-z0-9-]`); a transient one when the run could not be started or watched.
    func runJob(_ job: JobSpecification) async throws(ContainerDriverError) -> JobOutcome
    /// True when ``runJob(_:)`` runs jobs (the local and Docker drivers); false when the driver runs workflows only
    /// as `daemon` schedules, so that a `time` or `event` workflow is refused when it is written, not at each run.
    var runsJobs: Bool { get }
}

extension ContainerDriver {
    /// True when the driver runs breeds of this deployable type; `docker` and `cmd` are the original's aliases of
    /// `container/docker` and `command`.
    public func runs(_ deployable: Deployable) -> Bool {
        deployableTypes.contains(Self.canonicalType(deployable.type))
    }

    /// The deployable type as the drivers list it: lower case, `docker` as `container/docker`, `cmd` as `command`,
    /// `rkt` as `container/rkt` (the original's aliases).
    public static func canonicalType(_ type: String) -> String {
        let type = type.lowercased()
        let aliases = ["docker": "container/docker", "cmd": "command", "rkt": "container/rkt"]
        return aliases[type] ?? type
    }

    /// Nothing: the platform gets nothing for gateways.
    public func synchronizeGateways(_ gateways: [DriverGateway]) async throws(ContainerDriverError) {}
}
