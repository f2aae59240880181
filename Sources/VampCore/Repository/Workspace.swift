import Foundation
import Persistence
import VampModel

/// The state one operation plans against: the stored artifacts with the operation's own pending changes on top.
///
/// An operation reads through it, decides with the pure planners, and records what it would write; a request
/// of several documents runs every document through one workspace, so a breed stored by its first document is
/// seen by a deployment in its last. Nothing reaches the store until ``writes`` is committed as one transaction.
struct Workspace {
    struct Key: Hashable {
        var kind: ArtifactKind
        var name: String
    }

    /// A pending change: the artifact after it (`nil`: deleted), and the version the store must still hold.
    private struct Pending {
        var artifact: Artifact?
        var expectedVersion: Int64?
    }

    let repository: ArtifactRepository
    private var pending: [Key: Pending] = [:]
    private var order: [Key] = []
    private var loaded: [ArtifactKind: [String: Artifact]] = [:]

    init(repository: ArtifactRepository) {
        self.repository = repository
    }

    /// The artifact as the operation sees it: its own pending change, else the stored one.
    mutating func artifact(_ kind: ArtifactKind, _ name: String) async throws(OperationError) -> Artifact? {
        if let change = pending[Key(kind: kind, name: name)] { return change.artifact }
        if let all = loaded[kind] { return all[name] }
        return try await repository.artifact(kind, name: name)
    }

    /// Every artifact of `kind` as the operation sees it, ordered by name. The stored ones are read once per
    /// workspace.
    mutating func all(_ kind: ArtifactKind) async throws(OperationError) -> [Artifact] {
        var byName: [String: Artifact]
        if let known = loaded[kind] {
            byName = known
        } else {
            byName = [:]
            for artifact in try await repository.all(kind) { if let name = artifact.name { byName[name] = artifact } }
            loaded[kind] = byName
        }
        for (key, change) in pending where key.kind == kind { byName[key.name] = change.artifact }
        return byName.keys.sorted().compactMap { byName[$0] }
    }

    /// Every stored gateway as the operation sees it.
    mutating func gateways() async throws(OperationError) -> [Gateway] {
        try await all(.gateway).compactMap { if case .gateway(let gateway) = $0 { gateway } else { nil } }
    }

    /// Every stored deployment as the operation sees it.
    mutating func deployments() async throws(OperationError) -> [Deployment] {
        try await all(.deployment).compactMap { if case .deployment(let deployment) = $0 { deployment } else { nil } }
    }

    /// Records a create or replace of `artifact`; with `expectedVersion`, the store must still hold that version.
    mutating func save(_ artifact: Artifact, expectedVersion: Int64? = nil) {
        guard let name = artifact.name else { return }
        note(Key(kind: artifact.kind, name: name), Pending(artifact: artifact, expectedVersion: expectedVersion))
    }

    /// Records a delete; with `expectedVersion`, the store must still hold that version.
    mutating func delete(_ kind: ArtifactKind, _ name: String, expectedVersion: Int64? = nil) {
        note(Key(kind: kind, name: name), Pending(artifact: nil, expectedVersion: expectedVersion))
    }

    private mutating func note(_ key: Key, _ change: Pending) {
        if pending[key] == nil { order.append(key) }
        var change = change
        // A version asked for by an earlier change of the same request still applies to the store.
        if change.expectedVersion == nil { change.expectedVersion = pending[key]?.expectedVersion }
        pending[key] = change
    }

    /// The gateways the operation stores (created or replaced), in the order they were first changed.
    var savedGateways: [Gateway] {
        order.compactMap { key in if case .gateway(let gateway)? = pending[key]?.artifact { gateway } else { nil } }
    }

    /// True when the operation changed artifacts of `kind`.
    func changes(_ kind: ArtifactKind) -> Bool { order.contains { $0.kind == kind } }

    /// The store writes of the pending changes, in the order they were first made.
    var writes: [ArtifactWrite] {
        order.map { key in
            let change = pending[key]!
            if let artifact = change.artifact {
                let body = ArtifactRepository.json(artifact)
                if let version = change.expectedVersion {
                    return .update(kind: key.kind.plural, name: key.name, body: body, expectedVersion: version)
                }
                return .save(kind: key.kind.plural, name: key.name, body: body)
            }
            return .delete(kind: key.kind.plural, name: key.name, expectedVersion: change.expectedVersion)
        }
    }

    /// The keys of ``writes``, in the same order.
    var keys: [Key] { order }

    /// The pending changes: each artifact after it (`nil`: deleted), in the order they were first made.
    var changes: [(key: Key, artifact: Artifact?)] { order.map { ($0, pending[$0]!.artifact) } }
}
