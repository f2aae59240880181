import HAProxyConfigGen
import Persistence
public import VampModel

extension Vamp {
    // MARK: Secrets

    /// A stored secret and its version.
    public struct StoredSecret: Sendable, Hashable {
        /// The secret, with its PEM text.
        public var secret: Secret
        /// 1 after the first write, one more after every update.
        public var version: Int64
    }

    /// The secret named `name`, or `nil`. It holds the private key: the API shows only what the certificate says.
    public func secret(named name: String) async throws(OperationError) -> StoredSecret? {
        guard let stored = try await repository.read(.secret, name: name), case .secret(let secret) = try artifact(stored) else { return nil }
        return StoredSecret(secret: secret, version: stored.version)
    }

    /// Every stored secret, by name.
    public func allSecrets() async throws(OperationError) -> [StoredSecret] {
        var found: [StoredSecret] = []
        var page = 1
        while true {
            let records = try await repository.list(.secret, page: PageRequest(page: page, perPage: 500))
            for record in records.items {
                if case .secret(let secret) = try artifact(record) { found.append(StoredSecret(secret: secret, version: record.version)) }
            }
            if records.items.isEmpty || page * 500 >= records.total { break }
            page += 1
        }
        return found.sorted { $0.secret.name < $1.secret.name }
    }

    /// Stores `secret` (creates it or replaces it), checking first every gateway that names it with the new
    /// certificate, as a gateway change is checked (`haproxy -c` when configured): a certificate HAProxy refuses is
    /// refused here and nothing is written. The archive event says which secret changed, never what it holds.
    /// Returns the stored version and whether the secret is new.
    @discardableResult
    public func storeSecret(
        _ secret: Secret, expectedVersion: Int64? = nil, validateOnly: Bool = false
    ) async throws(OperationError) -> (version: Int64, created: Bool) {
        let problems = Validation.validate(secret)
        guard problems.isEmpty else { throw OperationError(.invalid, problems.map(\.description).joined(separator: "\n")) }
        return try await writes.run { () async throws(OperationError) -> (version: Int64, created: Bool) in
            let before = try await self.repository.read(.secret, name: secret.name)
            if let expectedVersion, before?.version != expectedVersion {
                throw OperationError(.preconditionFailed, "secret '\(secret.name)' is \(before.map { "at version \($0.version)" } ?? "not stored"), not at version \(expectedVersion) (If-Match); read it again")
            }
            var workspace = Workspace(repository: self.repository)
            workspace.save(.secret(secret), expectedVersion: expectedVersion)
            let users = try await workspace.gateways().filter { $0.tls?.secret == secret.name }.map(\.name)
            if !users.isEmpty { try await self.checkGateways(in: &workspace, changed: users, secret: secret.name) }
            guard !validateOnly else { return (before?.version ?? 0, before == nil) }
            let event = ArchiveEvents.event(before == nil ? .create : .update, kind: .secret, name: secret.name, body: nil, at: self.now)
            let outcomes = try await self.commit(workspace, events: [event], ifMatch: expectedVersion)
            return (outcomes.first?.record?.version ?? 0, before == nil)
        }
    }

    /// Deletes the secret; refused (409) while a gateway names it, since the gateway could not be served without it.
    /// Deleting a secret that does not exist is not an error.
    public func deleteSecret(_ name: String, expectedVersion: Int64? = nil, validateOnly: Bool = false) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            guard let before = try await self.repository.read(.secret, name: name) else {
                if let expectedVersion {
                    throw OperationError(.preconditionFailed, "secret '\(name)' does not exist, so it is not at version \(expectedVersion) (If-Match)")
                }
                return
            }
            if let expectedVersion, before.version != expectedVersion {
                throw OperationError(.preconditionFailed, "secret '\(name)' is at version \(before.version), not \(expectedVersion) (If-Match); read it again")
            }
            var workspace = Workspace(repository: self.repository)
            let users = try await workspace.gateways().filter { $0.tls?.secret == name }.map(\.name).sorted()
            if !users.isEmpty {
                throw OperationError(.conflict, "secret '\(name)' is the certificate of gateway \(users.map { "'\($0)'" }.joined(separator: ", ")); give those gateways another certificate first")
            }
            guard !validateOnly else { return }
            workspace.delete(.secret, name, expectedVersion: expectedVersion)
            try await self.commit(workspace, events: [ArchiveEvents.event(.delete, kind: .secret, name: name, body: nil, at: self.now)], ifMatch: expectedVersion)
        }
    }
}

extension Workspace {
    /// Every stored secret's PEM text by name, as the operation sees them.
    mutating func secretCertificates() async throws(OperationError) -> [String: String] {
        var found: [String: String] = [:]
        for case .secret(let secret) in try await all(.secret) { found[secret.name] = secret.certificate }
        return found
    }
}
