import Foundation
public import HAProxyConfigGen
public import Logging
public import Persistence
public import VampConcurrency
public import VampModel

/// The facade of Vamp's coordinator: what the REST API, the CLI's server commands and embedding programs call.
///
/// It holds protocols only (the artifact and event stores, the clock). Each operation reads the state it needs
/// through a `Workspace`, decides with the pure planners in `Planning/`, checks the gateways that would result,
/// and commits its writes as one transaction of the store, then publishes its events. A request with one bad
/// document writes nothing. Parts that act on changes subscribe to ``changes``.
public actor Vamp {
    /// Settings of the coordinator.
    public struct Configuration: Sendable {
        /// The ports handed to gateways created without one (Vamp's `vamp.operation.gateway.port-range`).
        public var gatewayPortRange: ClosedRange<Int>
        /// Ports no gateway may take, each with what uses it and the setting that chose it (`8080: "vamp-server's
        /// API (vamp.http-api.port)"`): a gateway asking for one is refused, and the port allocator never hands one
        /// out. Empty by default; `vamp-server` fills it with its own ports and its gateway agent's.
        public var reservedPorts: [Int: String]
        /// The generator gateways are checked with before they are stored.
        public var generator: HAProxyConfigurationGenerator
        /// How the gateways' routes are resolved (default virtual hosts, the host of gateway-to-gateway hops).
        public var resolution: GatewayResolution.Options
        /// A second check of the generated text before a gateway change is stored, such as `haproxy -c` of the
        /// text the agents will load: returns what is wrong, or `nil` when the text is accepted. `nil` (the
        /// default) checks with the generator alone.
        public var configurationCheck: ConfigurationCheck?
        /// How far back `/health` looks for the last health event (`vamp.operation.health.window`, 30 s).
        public var healthWindow: Duration
        /// How far back `/metrics` looks for the last metrics event (`vamp.operation.metrics.window`, 30 s).
        public var metricsWindow: Duration
        /// The clock of archive events, statuses, time windows and the services' waits.
        public var clock: any VampClock
        /// Serve reads of artifacts from memory, kept in step with this facade's own writes. Only correct when this
        /// facade is the store's one writer (SQLite, memory); off for a PostgreSQL or Elasticsearch store that
        /// several servers share.
        public var cacheReads: Bool
        /// The scale of a deployed service that gives none (`vamp.operation.deployment.scale`).
        public var defaultScale: Scale = .default
        /// How often a subscriber of ``Vamp/changes`` reads the store's change log when no notice came.
        public var changePollInterval: Duration = .seconds(5)
        /// The most routes all gateways may have together: a write that would take them past it is refused
        /// (`Validation.Limits.routesInTotal`, 10,000, by default).
        public var maximumRoutes: Int = Validation.Limits.routesInTotal
        /// Pulse: the window of the gateways' figures, and how often its events are published.
        public var pulse: Pulse.Configuration = Pulse.Configuration()
        /// The deployable types a workflow's breed may have: what the container driver runs (`nil`: not checked, as
        /// for a facade without a scheduler). A workflow whose breed has another type is refused when it is written.
        public var workflowDeployableTypes: Set<String>?
        /// Whether the container driver runs `time` and `event` workflows (one-off runs); `false` refuses them when
        /// they are written (Kubernetes and Marathon run workflows only as daemons). `nil`: not checked.
        public var workflowJobs: Bool?
        /// The most instances all deployed services may ask for together (their scales): a write that would take
        /// them past it is refused (`Validation.Limits.instancesInTotal`, 10,000, by default).
        public var maximumInstances: Int = Validation.Limits.instancesInTotal
        /// The largest value the KV store takes under the gateways' configuration key (`nil`: no limit, as for the
        /// file store): a write that would make the configuration larger (the HAProxy text and the certificates of
        /// the stored secrets it names) is refused, since the agents would never get it.
        public var maximumConfigurationBytes: Int?

        /// Creates a configuration with Vamp's defaults.
        public init(
            gatewayPortRange: ClosedRange<Int> = 61000...64999, reservedPorts: [Int: String] = [:],
            generator: HAProxyConfigurationGenerator = HAProxyConfigurationGenerator(),
            resolution: GatewayResolution.Options = GatewayResolution.Options(),
            configurationCheck: ConfigurationCheck? = nil,
            healthWindow: Duration = .seconds(30), metricsWindow: Duration = .seconds(30),
            clock: any VampClock = SystemClock(), cacheReads: Bool = false
        ) {
            self.cacheReads = cacheReads
            self.gatewayPortRange = gatewayPortRange
            self.reservedPorts = reservedPorts
            self.generator = generator
            self.resolution = resolution
            self.configurationCheck = configurationCheck
            self.healthWindow = healthWindow
            self.metricsWindow = metricsWindow
            self.clock = clock
        }
    }

    /// A check of the generated HAProxy text (frontends and backends, without the agents' base sections):
    /// the refusal as text, or `nil` when it is accepted.
    public typealias ConfigurationCheck = @Sendable (_ generatedText: String) async -> String?

    /// The kinds stored as they are written (deployments and events have their own operations).
    public static let storedKinds: Set<ArtifactKind> = [
        .breed, .blueprint, .scale, .gateway, .route, .condition, .rewrite, .sla, .escalation, .workflow, .template, .release,
    ]

    let repository: ArtifactRepository
    /// The event store: archive events, `POST /events`, the stream, health and metrics.
    public nonisolated let events: any EventStore
    /// Every change of the stored artifacts, for any number of subscribers (this server's and other servers').
    public nonisolated let changes: ChangeFeed
    /// The settings this facade was made with.
    public nonisolated let configuration: Configuration
    /// What the gateways see: the figures the gateway agents send, merged (health, metrics, SLAs read them).
    public nonisolated let pulse: Pulse
    /// What the workflow scheduler says of each workflow now (its next run, why it waits).
    public nonisolated let workflowStatuses = WorkflowStatusBoard()
    let logger: Logger
    var allocator: GatewayPortAllocator
    let writes = WriteLock()
    /// Runs the releases' transitions (a user's action, the driver's pass) one after another on this server.
    let releaseTransitions = WriteLock()
    /// The last rendering of every gateway, and the position of the change log it was made at.
    var rendered: (position: Int64, configuration: GatewayConfiguration)?

    /// The clock of this facade and of the services that act on it.
    public nonisolated var clock: any VampClock { configuration.clock }

    /// Creates the coordinator over an artifact store and an event store.
    public init(
        artifacts: any ArtifactStore, events: any EventStore = InMemoryEventStore(),
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "vamp.core")
    ) {
        self.repository = ArtifactRepository(store: artifacts, cacheReads: configuration.cacheReads)
        self.events = events
        self.changes = ChangeFeed(store: artifacts, pollInterval: configuration.changePollInterval, clock: configuration.clock)
        self.configuration = configuration
        self.pulse = Pulse(configuration: configuration.pulse, clock: configuration.clock)
        self.logger = logger
        self.allocator = configuration.portAllocator
    }

    // MARK: Reading

    /// One page of the artifacts of `kind`, ordered by name.
    public func list(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> Page<StoredArtifact> {
        try await repository.list(kind, page: page)
    }

    /// One page as the JSON array the API answers (the stored JSON texts joined), with the total; kept by the read
    /// cache like the page itself, so a cached list costs no rendering.
    public func listJSON(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> RenderedPage {
        try await repository.listJSON(kind, page: page)
    }

    /// The artifact, or `nil` when there is none.
    public func read(_ kind: ArtifactKind, name: String) async throws(OperationError) -> StoredArtifact? {
        try await repository.read(kind, name: name)
    }

    /// The stored artifact, decoded.
    public nonisolated func artifact(_ stored: StoredArtifact) throws(OperationError) -> Artifact {
        try repository.decode(stored)
    }

    // MARK: Committing

    /// Commits the workspace's writes as one transaction, then publishes the events. A version the store no
    /// longer holds is `preconditionFailed` when the request asked for it (`If-Match`).
    @discardableResult
    func commit(_ workspace: Workspace, events: [Event], ifMatch: Int64? = nil) async throws(OperationError) -> [ArtifactWriteOutcome] {
        let caller = Caller.current
        if let caller, !caller.mayRunCommands { try await refuseNewCommands(workspace, caller: caller) }
        let outcomes: [ArtifactWriteOutcome]
        do throws(OperationError) {
            outcomes = try await repository.write(workspace.writes)
        } catch {
            if let ifMatch, error.code == .conflict || error.code == .notFound {
                throw OperationError(.preconditionFailed, "\(error.message) (If-Match: version \(ifMatch) is not the stored version; read the artifact again)", cause: error)
            }
            throw error
        }
        // The archive names the token that made the change (its name, never its secret): `token:<name>`.
        let named = caller?.name.map { name in
            events.map { event in
                var event = event
                if event.type == "archive", !event.tags.contains("token:\(name)") { event.tags.append("token:\(name)") }
                return event
            }
        } ?? events
        await publishArchive(named)
        return outcomes
    }

    /// Refuses a change that would run a command line that was not there before (``CommandLines``), naming the
    /// artifact and the line, when the caller may not run commands.
    func refuseNewCommands(_ workspace: Workspace, caller: Caller) async throws(OperationError) {
        var lookup = workspace
        var breeds: [String: Breed]?
        for (key, artifact) in workspace.changes where artifact != nil {
            let before = try await repository.artifact(key.kind, name: key.name)
            if breeds == nil {
                breeds = [:]
                for case .breed(let breed) in try await lookup.all(.breed) { breeds?[breed.name] = breed }
            }
            let known = breeds ?? [:]
            let find: (String) -> Breed? = { known[$0] }
            let introduced = CommandLines.lines(of: artifact, breed: find).subtracting(CommandLines.lines(of: before, breed: find))
            guard let line = introduced.sorted().first else { continue }
            let who = caller.name.map { "the token '\($0)'" } ?? "this caller"
            throw OperationError(
                .forbidden,
                "\(key.kind) '\(key.name)' would run the command `\(line)` (a command breed): \(who) may not run commands; use a token with the role command or admin")
        }
    }

    /// Stores the events after a commit; an event that cannot be stored is logged, never undoes the commit.
    func publishArchive(_ archive: [Event]) async {
        for event in archive {
            do {
                _ = try await self.events.append(event)
            } catch {
                logger.warning("the event was not stored", metadata: ["vamp.event.tags": "\(event.tags)", "vamp.error": "\(error)"])
            }
        }
    }

    /// The time of this facade's clock.
    nonisolated var now: Date { configuration.clock.now }
}

extension Gateway {
    /// True for a `deployment/cluster/port` name: the internal gateway of a cluster port.
    static func isInternalName(_ name: String) -> Bool { name.split(separator: "/", omittingEmptySubsequences: false).count == 3 }
}
