public import Foundation
public import HAProxyConfigGen
public import Logging
import Metrics
public import Persistence
public import VampDSL
public import VampModel

/// One artifact as it is stored: its canonical JSON (what the API returns, byte for byte) and its version.
public struct StoredArtifact: Sendable, Hashable {
    /// The artifact's kind.
    public var kind: ArtifactKind
    /// The artifact's name.
    public var name: String
    /// 1 after the first write, one more after every update.
    public var version: Int64
    /// The canonical JSON of the artifact.
    public var json: Data

    /// Creates a stored artifact (`version` 0: not stored, as `validate_only` answers).
    public init(kind: ArtifactKind, name: String, version: Int64 = 0, json: Data) {
        self.kind = kind
        self.name = name
        self.version = version
        self.json = json
    }
}

/// A page of artifacts as one JSON array, and how many artifacts the list has in all.
public struct RenderedPage: Sendable, Hashable {
    /// `[<artifact JSON>,...]`.
    public var json: Data
    /// The number of artifacts of the kind.
    public var total: Int
}

/// The facade of Vamp's coordinator: what the REST API, the CLI's server commands and embedding programs call.
///
/// It holds only protocols (the artifact store today; the KV store, the container driver and the clock come with
/// the gateway synchroniser and the deployments). Every change is validated whole before anything is written: a
/// request with one bad document writes nothing.
public actor Vamp {
    /// Settings of the coordinator.
    public struct Configuration: Sendable {
        /// The ports handed to gateways created without one (Vamp's `vamp.operation.gateway.port-range`).
        public var gatewayPortRange: ClosedRange<Int>
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
        /// The clock of archive events and time windows.
        public var now: @Sendable () -> Date
        /// Serve reads of artifacts from memory, kept in step with this facade's own writes. Only correct when this
        /// facade is the store's one writer (SQLite, memory); off for a PostgreSQL or Elasticsearch store that
        /// several servers share.
        public var cacheReads: Bool
        /// The scale of a deployed service that gives none (`vamp.operation.deployment.scale`).
        public var defaultScale: Scale = .default

        /// Creates a configuration with Vamp's defaults.
        public init(
            gatewayPortRange: ClosedRange<Int> = 40000...45000,
            generator: HAProxyConfigurationGenerator = HAProxyConfigurationGenerator(),
            resolution: GatewayResolution.Options = GatewayResolution.Options(),
            configurationCheck: ConfigurationCheck? = nil,
            healthWindow: Duration = .seconds(30), metricsWindow: Duration = .seconds(30),
            now: @escaping @Sendable () -> Date = { Date() }, cacheReads: Bool = false
        ) {
            self.cacheReads = cacheReads
            self.gatewayPortRange = gatewayPortRange
            self.generator = generator
            self.resolution = resolution
            self.configurationCheck = configurationCheck
            self.healthWindow = healthWindow
            self.metricsWindow = metricsWindow
            self.now = now
        }
    }

    /// A check of the generated HAProxy text (frontends and backends, without the agents' base sections):
    /// the refusal as text, or `nil` when it is accepted.
    public typealias ConfigurationCheck = @Sendable (_ generatedText: String) async -> String?

    /// The kinds stored as they are written (deployments and events have their own operations).
    public static let storedKinds: Set<ArtifactKind> = [
        .breed, .blueprint, .scale, .gateway, .route, .condition, .rewrite, .sla, .escalation, .workflow, .template,
    ]

    let artifacts: any ArtifactStore
    /// The event store: archive events, `POST /events`, the stream, health and metrics.
    public nonisolated let events: any EventStore
    let configuration: Configuration
    let logger: Logger
    var allocator: GatewayPortAllocator
    let writes = WriteLock()
    /// Reads served from memory when the configuration allows it (one writer: this process).
    var cache: ReadCache?

    /// Wakes the gateway synchroniser after every gateway change (one consumer; bursts coalesce to one wake).
    nonisolated let gatewayChanges: AsyncStream<Void>
    nonisolated let gatewayChanged: AsyncStream<Void>.Continuation
    /// Wakes the reconciler after every change of a deployment (one consumer; bursts coalesce to one wake).
    nonisolated let deploymentChanges: AsyncStream<Void>
    nonisolated let deploymentChanged: AsyncStream<Void>.Continuation

    /// Creates the coordinator over an artifact store and an event store.
    public init(
        artifacts: any ArtifactStore, events: any EventStore = InMemoryEventStore(),
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "vamp.core")
    ) {
        self.artifacts = artifacts
        self.events = events
        self.configuration = configuration
        self.logger = logger
        self.allocator = GatewayPortAllocator(range: configuration.gatewayPortRange)
        self.cache = configuration.cacheReads ? ReadCache() : nil
        (gatewayChanges, gatewayChanged) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (deploymentChanges, deploymentChanged) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Reading

    /// One page of the artifacts of `kind`, ordered by name.
    public func list(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> Page<StoredArtifact> {
        if let cached = cache?.page(kind, page) { return cached }
        let generation = cache?.generation(kind)
        let records = try await storeCall("artifacts") { try await self.artifacts.list(kind: kind.plural, page: page) }
        let result = Page(items: records.items.map { Self.stored($0, kind) }, total: records.total, request: records.request)
        if let generation { cache?.keep(result, kind, page, ifStill: generation) }
        return result
    }

    /// One page as the JSON array the API answers (the stored JSON texts joined), with the total; kept by the read
    /// cache like the page itself, so a cached list costs no rendering.
    public func listJSON(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> RenderedPage {
        if let cached = cache?.rendered(kind, page) { return cached }
        let generation = cache?.generation(kind)
        let result = try await list(kind, page: page)
        var json = Data(capacity: result.items.reduce(2) { $0 + $1.json.count + 1 })
        json.append(UInt8(ascii: "["))
        for (index, item) in result.items.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json.append(item.json)
        }
        json.append(UInt8(ascii: "]"))
        let rendered = RenderedPage(json: json, total: result.total)
        if let generation { cache?.keep(rendered, kind, page, ifStill: generation) }
        return rendered
    }

    /// The artifact, or `nil` when there is none.
    public func read(_ kind: ArtifactKind, name: String) async throws(OperationError) -> StoredArtifact? {
        if let cached = cache?.artifact(kind, name) { return cached }
        let generation = cache?.generation(kind)
        let result = try await storeCall("artifacts") { try await self.artifacts.read(kind: kind.plural, name: name) }.map { Self.stored($0, kind) }
        if let generation, let result { cache?.keep(result, ifStill: generation) }
        return result
    }

    /// Forgets what the read cache holds of `kind`; called before and after every change of the store, so that a
    /// read that started before a change cannot put what it read into the cache after it.
    func invalidate(_ kind: ArtifactKind) {
        cache?.invalidate(kind)
    }

    // MARK: Writing

    /// Validates every document, then stores each artifact (create or overwrite, as Vamp's `POST` does), and
    /// returns what was stored. With `validateOnly`, runs every check and writes nothing.
    ///
    /// Writes run one at a time. When the store fails part way through a request of several documents, the
    /// artifacts already written are put back as they were, so a request is applied whole or not at all.
    ///
    /// - Parameters:
    ///   - documents: the documents of the request, as `DSLReader` read them (with their source lines).
    ///   - expectedName: for `PUT /{kind}/{name}`: each document must carry this name.
    ///   - expectedVersion: for `If-Match`: the single document replaces the stored artifact only at this
    ///     version; otherwise the error is `preconditionFailed`.
    ///   - validateOnly: run every check and write nothing.
    ///   - requestBody: the request text, the value of the archive event (Vamp 0.9.5 archives what was sent).
    public func apply(
        _ documents: [DSLDocument], expectedName: String? = nil, expectedVersion: Int64? = nil,
        validateOnly: Bool = false, requestBody: String? = nil
    ) async throws(OperationError) -> [StoredArtifact] {
        var problems: [String] = []
        for document in documents {
            let kind = document.artifact.kind
            guard Self.storedKinds.contains(kind) else {
                problems.append("document \(document.index): \(kind.plural) cannot be stored through this endpoint")
                continue
            }
            if let expectedName, let name = document.artifact.name, name != expectedName {
                problems.append("\(kind) '\(name)': the name in the body must be '\(expectedName)', the name in the path")
            }
            if document.artifact.name?.isEmpty ?? true {
                problems.append("document \(document.index): a \(kind) needs a name")
            }
            problems += document.validate().map(\.description)
        }
        if expectedVersion != nil, documents.count != 1 {
            problems.append("If-Match applies to one artifact; this request holds \(documents.count) documents")
        }
        guard problems.isEmpty else { throw OperationError(.invalid, problems.joined(separator: "\n")) }
        if documents.count == 1, case .gateway(let gateway) = documents[0].artifact, gateway.isInternal {
            // A cluster's gateway: its weights and conditions change through the deployment that owns it.
            return try await writes.run { () async throws(OperationError) -> [StoredArtifact] in
                [try await self.updateInternalGateway(gateway, validateOnly: validateOnly)]
            }
        }
        return try await writes.run { () async throws(OperationError) -> [StoredArtifact] in
            try await self.applyLocked(documents, expectedVersion: expectedVersion, validateOnly: validateOnly, requestBody: requestBody)
        }
    }

    func applyLocked(
        _ documents: [DSLDocument], expectedVersion: Int64?, validateOnly: Bool, requestBody: String?
    ) async throws(OperationError) -> [StoredArtifact] {
        var artifactsToStore = documents.map(\.artifact)
        let gateways = artifactsToStore.indices.filter { artifactsToStore[$0].kind == .gateway }
        var allocator = self.allocator
        if !gateways.isEmpty {
            var changed: [String: Gateway] = [:]
            for index in gateways {
                guard case .gateway(var gateway) = artifactsToStore[index] else { continue }
                gateway = try await assignPort(to: gateway, allocator: &allocator)
                artifactsToStore[index] = .gateway(gateway)
                changed[gateway.name] = gateway
            }
            try await checkGateways(replacing: changed, removing: [])
        }
        if validateOnly {
            return artifactsToStore.map { StoredArtifact(kind: $0.kind, name: $0.name ?? "", version: 0, json: Self.json($0)) }
        }
        self.allocator = allocator

        var stored: [StoredArtifact] = []
        var undo: [(kind: ArtifactKind, name: String, previous: ArtifactRecord?)] = []
        var archive: [Event] = []
        do throws(OperationError) {
            for artifact in artifactsToStore {
                let kind = artifact.kind, name = artifact.name ?? ""
                let previous = try await storeCall("artifacts") { try await self.artifacts.read(kind: kind.plural, name: name) }
                let body = Self.json(artifact)
                invalidate(kind)
                defer { invalidate(kind) }
                let record: ArtifactRecord
                if let expectedVersion {
                    guard let previous else {
                        throw OperationError(.preconditionFailed, "\(kind) '\(name)' does not exist, so it is not at version \(expectedVersion) (If-Match)")
                    }
                    record = try await storeCall("artifacts") { try await self.artifacts.update(kind: kind.plural, name: name, body: body, expectedVersion: expectedVersion) }
                    _ = previous
                } else {
                    record = try await storeCall("artifacts") { try await self.artifacts.save(kind: kind.plural, name: name, body: body) }
                }
                undo.append((kind, name, previous))
                stored.append(Self.stored(record, kind))
                let text = documents.count == 1 ? requestBody : DSLWriter.yaml(artifact)
                archive.append(ArchiveEvents.event(previous == nil ? .create : .update, kind: kind, name: name, body: text, at: configuration.now()))
            }
        } catch {
            await rollBack(undo)
            if error.code == .conflict, expectedVersion != nil {
                throw OperationError(.preconditionFailed, "\(error.message) (If-Match: version \(expectedVersion!) is no longer current; read the artifact again)")
            }
            throw error
        }
        if !gateways.isEmpty { gatewayChanged.yield() }
        await publishArchive(archive)
        return stored
    }

    /// Puts back what a failed request had written, newest first. Best effort: a store that failed a write may
    /// fail these too, and then says so in the log.
    func rollBack(_ undo: [(kind: ArtifactKind, name: String, previous: ArtifactRecord?)]) async {
        for entry in undo.reversed() {
            invalidate(entry.kind)
            defer { invalidate(entry.kind) }
            do {
                if let previous = entry.previous {
                    _ = try await artifacts.save(kind: entry.kind.plural, name: entry.name, body: previous.body)
                } else {
                    try await artifacts.delete(kind: entry.kind.plural, name: entry.name, expectedVersion: nil)
                }
            } catch {
                logger.error("could not undo a partly applied request", metadata: [
                    "vamp.artifact": "\(entry.kind.plural)/\(entry.name)", "vamp.error": "\(error)",
                ])
            }
        }
    }

    func publishArchive(_ archive: [Event]) async {
        for event in archive {
            do {
                try await events.append(event)
            } catch {
                logger.warning("the archive event was not stored", metadata: ["vamp.event.tags": "\(event.tags)", "vamp.error": "\(error)"])
            }
        }
    }

    /// Deletes the artifact; deleting one that does not exist is not an error (Vamp's `DELETE` is idempotent).
    /// With `expectedVersion` (`If-Match`), deletes only that version.
    public func delete(
        _ kind: ArtifactKind, name: String, expectedVersion: Int64? = nil, validateOnly: Bool = false
    ) async throws(OperationError) {
        try await delete([(kind, name)], expectedVersion: expectedVersion, validateOnly: validateOnly)
    }

    /// Deletes several artifacts as one request (`DELETE /api/v1` with documents): every one is checked first,
    /// and nothing is deleted when one of them may not be.
    public func delete(
        _ targets: [(ArtifactKind, String)], expectedVersion: Int64? = nil, validateOnly: Bool = false
    ) async throws(OperationError) {
        var problems: [String] = []
        for (kind, name) in targets {
            if !Self.storedKinds.contains(kind) {
                problems.append("\(kind.plural) cannot be deleted through this endpoint")
            } else if kind == .gateway, Gateway.isInternalName(name) {
                problems.append("gateway '\(name)' is the internal gateway of a deployment's cluster; remove it by removing the cluster from the deployment")
            }
        }
        guard problems.isEmpty else { throw OperationError(.invalid, problems.joined(separator: "\n")) }
        try await writes.run { () async throws(OperationError) in
            let gateways = Set(targets.filter { $0.0 == .gateway }.map(\.1))
            if !gateways.isEmpty { try await self.checkGateways(replacing: [:], removing: gateways) }
            guard !validateOnly else { return }
            var archive: [Event] = []
            for (kind, name) in targets {
                if try await self.removeStored(kind, name: name, expectedVersion: expectedVersion) {
                    archive.append(ArchiveEvents.event(.delete, kind: kind, name: name, body: nil, at: self.configuration.now()))
                }
            }
            if !gateways.isEmpty { self.gatewayChanged.yield() }
            await self.publishArchive(archive)
        }
    }

    /// Deletes one artifact; false when there was none (not an error without `If-Match`).
    func removeStored(_ kind: ArtifactKind, name: String, expectedVersion: Int64?) async throws(OperationError) -> Bool {
        invalidate(kind)
        defer { invalidate(kind) }
        do {
            try await artifacts.delete(kind: kind.plural, name: name, expectedVersion: expectedVersion)
            return true
        } catch let error as PersistenceError where error.code == .notFound {
            if let expectedVersion {
                throw OperationError(.preconditionFailed, "\(kind) '\(name)' does not exist, so it is not at version \(expectedVersion) (If-Match)")
            }
            return false
        } catch let error as PersistenceError where error.code == .versionConflict {
            throw OperationError(.preconditionFailed, "\(kind) '\(name)': \(error.message) (If-Match)")
        } catch {
            throw Self.mapped(error)
        }
    }

    // MARK: Gateways

    func assignPort(to gateway: Gateway, allocator: inout GatewayPortAllocator) async throws(OperationError) -> Gateway {
        var gateway = gateway
        if gateway.isInternal {
            throw OperationError(.invalid, "gateway '\(gateway.name)': a name of three segments is a cluster's internal gateway, which Vamp manages; give a gateway one, two or four segments")
        }
        guard gateway.port.number == 0 else { return gateway }
        if let existing = try await read(.gateway, name: gateway.name),
           let port = Self.storedPort(existing.json), port != 0 {
            gateway.port.number = port
            return gateway
        }
        let used = Set(try await allGateways().map(\.port.number))
        do {
            gateway.port.number = try allocator.allocate(avoiding: used)
        } catch {
            throw OperationError(.invalid, error.description)
        }
        return gateway
    }

    /// Refuses the change when the gateways after it could not be served: two on one port, a gateway the HAProxy
    /// generator refuses (a condition it cannot translate, weights over 100%, ...), or a text the configured
    /// check (`haproxy -c`) refuses. The message names the gateway where the generator says which one it is.
    func checkGateways(
        replacing changed: [String: Gateway], removing removed: Set<String>, deployments: [Deployment] = []
    ) async throws(OperationError) {
        var all = try await allGateways().filter { changed[$0.name] == nil && !removed.contains($0.name) }
        all += changed.values
        let rendered = try render(all, deployments: deployments)
        if let check = configuration.configurationCheck, let refusal = await check(rendered.text) {
            let names = changed.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
            let subject = names.isEmpty ? "the remaining gateways" : "gateway \(names)"
            throw OperationError(.invalid, "\(subject): HAProxy refuses the configuration it would get: \(refusal)")
        }
    }

    func render(_ gateways: [Gateway], deployments: [Deployment] = []) throws(OperationError) -> GatewayConfiguration {
        var scratch = GatewayPortAllocator(range: configuration.gatewayPortRange)
        do {
            let resolved = try GatewayResolution.resolve(gateways, deployments: deployments, allocator: &scratch, options: configuration.resolution)
            return try GatewayConfiguration.render(resolved, generator: configuration.generator)
        } catch {
            throw OperationError(.invalid, error.description)
        }
    }

    /// The HAProxy text of every stored gateway, as the gateway synchroniser writes it to the KV store and
    /// `GET /vga/haproxy/<version>/configuration` shows it.
    public func gatewayConfiguration() async throws(OperationError) -> GatewayConfiguration {
        try render(try await allGateways(), deployments: try await allDeployments())
    }

    func allGateways() async throws(OperationError) -> [Gateway] {
        var gateways: [Gateway] = []
        var page = 1
        while true {
            let request = PageRequest(page: page, perPage: 500)
            let records = try await storeCall("artifacts") { try await self.artifacts.list(kind: ArtifactKind.gateway.plural, page: request) }
            for record in records.items {
                guard let text = String(data: record.body, encoding: .utf8),
                      let document = try? DSLReader.read(text, kind: .gateway).first,
                      case .gateway(let gateway) = document.artifact else {
                    throw OperationError(.unavailable, "the stored gateway '\(record.name)' cannot be read back; repair or delete it")
                }
                gateways.append(gateway)
            }
            if page * 500 >= records.total { return gateways }
            page += 1
        }
    }

    // MARK: Support

    static func json(_ artifact: Artifact) -> Data { Data(DSLWriter.json(artifact, pretty: false).utf8) }

    static func stored(_ record: ArtifactRecord, _ kind: ArtifactKind) -> StoredArtifact {
        StoredArtifact(kind: kind, name: record.name, version: record.version, json: record.body)
    }

    static func storedPort(_ json: Data) -> Int? {
        guard let text = String(data: json, encoding: .utf8),
              case .gateway(let gateway)? = try? DSLReader.read(text, kind: .gateway).first?.artifact else { return nil }
        return gateway.port.number
    }

    /// Calls a store, maps its error, and records the call's duration as `vamp_store_duration_seconds` with the
    /// store (`artifacts`, `events`) as a dimension, for the server's Prometheus `/metrics`.
    func storeCall<T: Sendable>(_ store: String, _ body: @Sendable () async throws -> T) async throws(OperationError) -> T {
        let start = ContinuousClock.now
        defer { Metrics.Timer(label: "vamp_store_duration_seconds", dimensions: [("store", store)]).record(duration: ContinuousClock.now - start) }
        do {
            return try await body()
        } catch {
            throw Self.mapped(error)
        }
    }

    static func mapped(_ error: any Error) -> OperationError {
        guard let error = error as? PersistenceError else { return OperationError(.unavailable, "the artifact store failed: \(error)") }
        switch error.code {
        case .notFound: return OperationError(.notFound, error.message)
        case .versionConflict, .alreadyExists: return OperationError(.conflict, error.message)
        case .invalidEvent, .invalidQuery: return OperationError(.invalid, error.message)
        default: return OperationError(.unavailable, "the artifact store failed: \(error.message)")
        }
    }
}

extension Gateway {
    /// True for a `deployment/cluster/port` name: the internal gateway of a cluster port.
    static func isInternalName(_ name: String) -> Bool { name.split(separator: "/", omittingEmptySubsequences: false).count == 3 }
}
