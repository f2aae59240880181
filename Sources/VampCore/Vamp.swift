public import Foundation
public import HAProxyConfigGen
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

        /// Creates a configuration with Vamp's defaults.
        public init(gatewayPortRange: ClosedRange<Int> = 40000...45000, generator: HAProxyConfigurationGenerator = HAProxyConfigurationGenerator()) {
            self.gatewayPortRange = gatewayPortRange
            self.generator = generator
        }
    }

    /// The kinds stored as they are written (deployments and events have their own operations).
    public static let storedKinds: Set<ArtifactKind> = [
        .breed, .blueprint, .scale, .gateway, .route, .condition, .rewrite, .sla, .escalation, .workflow, .template,
    ]

    let artifacts: any ArtifactStore
    let configuration: Configuration
    var allocator: GatewayPortAllocator

    /// Creates the coordinator over an artifact store.
    public init(artifacts: any ArtifactStore, configuration: Configuration = Configuration()) {
        self.artifacts = artifacts
        self.configuration = configuration
        self.allocator = GatewayPortAllocator(range: configuration.gatewayPortRange)
    }

    // MARK: Reading

    /// One page of the artifacts of `kind`, ordered by name.
    public func list(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> Page<StoredArtifact> {
        let records = try await storeCall { try await self.artifacts.list(kind: kind.plural, page: page) }
        return Page(items: records.items.map { Self.stored($0, kind) }, total: records.total, request: records.request)
    }

    /// The artifact, or `nil` when there is none.
    public func read(_ kind: ArtifactKind, name: String) async throws(OperationError) -> StoredArtifact? {
        try await storeCall { try await self.artifacts.read(kind: kind.plural, name: name) }.map { Self.stored($0, kind) }
    }

    // MARK: Writing

    /// Validates every document, then stores each artifact (create or overwrite, as Vamp's `POST` does), and
    /// returns what was stored. With `validateOnly`, runs every check and writes nothing.
    ///
    /// - Parameters:
    ///   - documents: the documents of the request, as `DSLReader` read them (with their source lines).
    ///   - expectedName: for `PUT /{kind}/{name}`: each document must carry this name.
    ///   - validateOnly: run every check and write nothing.
    public func apply(
        _ documents: [DSLDocument], expectedName: String? = nil, validateOnly: Bool = false
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
        guard problems.isEmpty else { throw OperationError(.invalid, problems.joined(separator: "\n")) }

        var artifactsToStore = documents.map(\.artifact)
        let gateways = artifactsToStore.indices.filter { artifactsToStore[$0].kind == .gateway }
        if !gateways.isEmpty {
            var changed: [String: Gateway] = [:]
            for index in gateways {
                guard case .gateway(var gateway) = artifactsToStore[index] else { continue }
                gateway = try await assignPort(to: gateway, validateOnly: validateOnly)
                artifactsToStore[index] = .gateway(gateway)
                changed[gateway.name] = gateway
            }
            try await checkGateways(replacing: changed, removing: [])
        }
        if validateOnly {
            return artifactsToStore.map { StoredArtifact(kind: $0.kind, name: $0.name ?? "", version: 0, json: Self.json($0)) }
        }
        var stored: [StoredArtifact] = []
        for artifact in artifactsToStore {
            let kind = artifact.kind, name = artifact.name ?? ""
            let record = try await storeCall { try await self.artifacts.save(kind: kind.plural, name: name, body: Self.json(artifact)) }
            stored.append(Self.stored(record, kind))
        }
        return stored
    }

    /// Deletes the artifact; deleting one that does not exist is not an error (Vamp's `DELETE` is idempotent).
    public func delete(_ kind: ArtifactKind, name: String, validateOnly: Bool = false) async throws(OperationError) {
        guard Self.storedKinds.contains(kind) else {
            throw OperationError(.invalid, "\(kind.plural) cannot be deleted through this endpoint")
        }
        if kind == .gateway {
            if Gateway.isInternalName(name) {
                throw OperationError(.invalid, "gateway '\(name)' is the internal gateway of a deployment's cluster; remove it by removing the cluster from the deployment")
            }
            try await checkGateways(replacing: [:], removing: [name])
        }
        guard !validateOnly else { return }
        do {
            try await artifacts.delete(kind: kind.plural, name: name, expectedVersion: nil)
        } catch let error as PersistenceError where error.code == .notFound {
            return
        } catch {
            throw Self.mapped(error)
        }
    }

    // MARK: Gateways

    func assignPort(to gateway: Gateway, validateOnly: Bool) async throws(OperationError) -> Gateway {
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
        var allocator = self.allocator
        do {
            gateway.port.number = try allocator.allocate(avoiding: used)
        } catch {
            throw OperationError(.invalid, error.description)
        }
        if !validateOnly { self.allocator = allocator }
        return gateway
    }

    /// Refuses the change when the gateways after it could not be served: two on one port, or a gateway
    /// the HAProxy generator refuses (a condition it cannot translate, weights over 100%, ...).
    func checkGateways(replacing changed: [String: Gateway], removing removed: Set<String>) async throws(OperationError) {
        var all = try await allGateways().filter { changed[$0.name] == nil && !removed.contains($0.name) }
        all += changed.values
        var scratch = GatewayPortAllocator(range: configuration.gatewayPortRange)
        do {
            let resolved = try GatewayResolution.resolve(all, deployments: [], allocator: &scratch)
            _ = try GatewayConfiguration.render(resolved, generator: configuration.generator)
        } catch {
            throw OperationError(.invalid, error.description)
        }
    }

    func allGateways() async throws(OperationError) -> [Gateway] {
        var gateways: [Gateway] = []
        var page = 1
        while true {
            let request = PageRequest(page: page, perPage: 500)
            let records = try await storeCall { try await self.artifacts.list(kind: ArtifactKind.gateway.plural, page: request) }
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

    func storeCall<T: Sendable>(_ body: @Sendable () async throws -> T) async throws(OperationError) -> T {
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
        default: return OperationError(.unavailable, "the artifact store failed: \(error.message)")
        }
    }
}

extension Gateway {
    /// True for a `deployment/cluster/port` name: the internal gateway of a cluster port.
    static func isInternalName(_ name: String) -> Bool { name.split(separator: "/", omittingEmptySubsequences: false).count == 3 }
}
