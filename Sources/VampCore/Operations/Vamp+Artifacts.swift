import Persistence
public import VampDSL
public import VampModel

/// What a write request asks for, as the HTTP method says it: the archive event follows the method, as in
/// Vamp 0.9.5 (`POST` publishes `archive:create`, `PUT` `archive:update`, whether or not the artifact existed).
public enum WriteIntent: Sendable, Hashable {
    /// `POST`: create (or overwrite) the artifacts; deployments are created or merged.
    case create
    /// `PUT`: replace the artifacts; deployments are created or merged.
    case replace
}

extension Vamp {
    // MARK: Writing artifacts

    /// Validates every document, then stores each artifact (create or overwrite, as Vamp's `POST` does) and, for
    /// `kind: deployment` documents, creates or merges the deployment: all of it in one transaction of the store.
    /// Returns what was stored, in the order of the documents. With `validateOnly`, runs every check and writes
    /// nothing.
    ///
    /// - Parameters:
    ///   - documents: the documents of the request, as `DSLReader` read them (with their source lines).
    ///   - intent: `POST` or `PUT`, which decides the archive event.
    ///   - expectedName: for `PUT /{kind}/{name}`: each document must carry this name.
    ///   - expectedVersion: for `If-Match`: the single document replaces the stored artifact only at this
    ///     version; otherwise the error is `preconditionFailed`.
    ///   - validateOnly: run every check and write nothing.
    ///   - requestBody: the request text, the value of the archive event (Vamp 0.9.5 archives what was sent).
    public func apply(
        _ documents: [DSLDocument], intent: WriteIntent = .create, expectedName: String? = nil, expectedVersion: Int64? = nil,
        validateOnly: Bool = false, requestBody: String? = nil
    ) async throws(OperationError) -> [StoredArtifact] {
        var problems: [String] = []
        for document in documents where !Self.isDeploymentDocument(document) {
            let kind = document.artifact.kind
            guard Self.storedKinds.contains(kind) else {
                problems.append(kind == .secret
                    ? "document \(document.index): a secret is stored on its own, with PUT /api/v1/secrets/{name}"
                    : "document \(document.index): \(kind.plural) cannot be stored through this endpoint")
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
        let stored = try await writes.run { () async throws(OperationError) -> [StoredArtifact] in
            try await self.applyLocked(documents, intent: intent, expectedVersion: expectedVersion, validateOnly: validateOnly, requestBody: requestBody)
        }
        guard !validateOnly else { return stored }
        // A release stored is a release started: its first step's weights are set before the answer.
        for release in stored where release.kind == .release {
            try await startRelease(release.name)
        }
        return stored
    }

    /// A `kind: deployment` document: what to deploy (as a blueprint) rather than an artifact to store.
    static func isDeploymentDocument(_ document: DSLDocument) -> Bool {
        document.isDeploymentRequest || document.artifact.kind == .deployment
    }

    func applyLocked(
        _ documents: [DSLDocument], intent: WriteIntent, expectedVersion: Int64?, validateOnly: Bool, requestBody: String?
    ) async throws(OperationError) -> [StoredArtifact] {
        var workspace = Workspace(repository: repository)
        var allocator = self.allocator
        var events: [Event] = []
        var keys: [Workspace.Key] = []
        let now = self.now
        let single = documents.count == 1
        // Deployments after the artifacts they may use (a breed, a blueprint of the same request).
        let ordered = documents.filter { !Self.isDeploymentDocument($0) } + documents.filter(Self.isDeploymentDocument)
        for document in ordered {
            let artifact = document.artifact
            if Self.isDeploymentDocument(document) {
                let name = artifact.name
                let deployment = try await stageDeploy(
                    DeploymentRequest.of(document), name: name, in: &workspace, allocator: &allocator,
                    requestBody: single ? requestBody : DSLWriter.yaml(artifact), events: &events)
                keys.append(.init(kind: .deployment, name: deployment.name))
                continue
            }
            if case .gateway(let gateway) = artifact, gateway.isInternal, single {
                // A cluster's gateway: its weights and conditions change through the deployment that owns it.
                try await stageInternalGateway(gateway, in: &workspace)
                keys.append(.init(kind: .gateway, name: gateway.name))
                continue
            }
            if case .workflow(let workflow) = artifact {
                try await checkWorkflow(workflow, document: document, in: &workspace)
            }
            if case .release(let release) = artifact {
                try await checkRelease(release, in: &workspace)
                try await stageCanaryMerge(release, in: &workspace, allocator: &allocator, events: &events)
            }
            var toStore = artifact
            if case .gateway(let gateway) = artifact {
                toStore = .gateway(try await assignPort(to: gateway, in: &workspace, allocator: &allocator))
            }
            let kind = toStore.kind, name = toStore.name ?? ""
            workspace.save(toStore, expectedVersion: expectedVersion)
            keys.append(.init(kind: kind, name: name))
            let operation: ArchiveEvents.Operation = intent == .replace ? .update : .create
            events.append(ArchiveEvents.event(operation, kind: kind, name: name, body: single ? requestBody : DSLWriter.yaml(toStore), at: now))
        }
        if let expectedVersion, try await workspace.repositoryVersion(of: keys.first) == nil {
            let key = keys.first!
            throw OperationError(.preconditionFailed, "\(key.kind) '\(key.name)' does not exist, so it is not at version \(expectedVersion) (If-Match)")
        }
        if workspace.changes(.gateway) || workspace.changes(.deployment) {
            try await checkGateways(in: &workspace, changed: keys.filter { $0.kind == .gateway }.map(\.name))
        }
        if validateOnly {
            var previews: [StoredArtifact] = []
            for key in keys {
                guard let artifact = try await workspace.artifact(key.kind, key.name) else { continue }
                previews.append(StoredArtifact(kind: key.kind, name: key.name, version: 0, json: ArtifactRepository.json(artifact)))
            }
            return previews
        }
        let outcomes = try await commit(workspace, events: events, ifMatch: expectedVersion)
        self.allocator = allocator
        var stored: [Workspace.Key: StoredArtifact] = [:]
        for (key, outcome) in zip(workspace.keys, outcomes) {
            if let record = outcome.record { stored[key] = ArtifactRepository.stored(record, key.kind) }
        }
        return keys.compactMap { stored[$0] }
    }

    // MARK: Deleting artifacts

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
        try await delete(targets, slicing: [], expectedVersion: expectedVersion, validateOnly: validateOnly)
    }

    /// Deletes the artifacts and slices the deployments of one `DELETE /api/v1` request, in one transaction.
    ///
    /// - Parameters:
    ///   - targets: the artifacts (other than deployments) to delete, by kind and name.
    ///   - slicing: for each deployment named in the request, the services to take out of it.
    ///   - expectedVersion: for `If-Match`: each artifact is deleted only at this version.
    ///   - validateOnly: run every check and write nothing.
    ///   - requestBody: the request text, the value of the archive event of a single slice.
    public func delete(
        _ targets: [(ArtifactKind, String)], slicing: [(name: String, request: DeploymentRequest)],
        expectedVersion: Int64? = nil, validateOnly: Bool = false, requestBody: String? = nil
    ) async throws(OperationError) {
        var problems: [String] = []
        for (kind, name) in targets {
            if !Self.storedKinds.contains(kind) {
                problems.append("\(kind.plural) cannot be deleted through this endpoint")
            } else if kind == .gateway, Gateway.isInternalName(name) {
                problems.append("gateway '\(name)' is the internal gateway of a deployment's cluster; remove it by removing the cluster from the deployment")
            }
        }
        for (kind, name) in targets where kind == .release { try await checkReleaseDeletion(name) }
        guard problems.isEmpty else { throw OperationError(.invalid, problems.joined(separator: "\n")) }
        try await writes.run { () async throws(OperationError) in
            var workspace = Workspace(repository: self.repository)
            var events: [Event] = []
            let now = self.now
            for (kind, name) in targets {
                let stored = try await self.repository.read(kind, name: name)
                if stored == nil {
                    if let expectedVersion {
                        throw OperationError(.preconditionFailed, "\(kind) '\(name)' does not exist, so it is not at version \(expectedVersion) (If-Match)")
                    }
                    continue
                }
                workspace.delete(kind, name, expectedVersion: expectedVersion)
                events.append(ArchiveEvents.event(.delete, kind: kind, name: name, body: nil, at: now))
            }
            for (name, request) in slicing {
                try await self.stageSlice(request, name: name, in: &workspace, requestBody: slicing.count == 1 ? requestBody : nil, events: &events)
            }
            if workspace.changes(.gateway) || workspace.changes(.deployment) {
                try await self.checkGateways(in: &workspace, changed: [])
            }
            guard !validateOnly else { return }
            try await self.commit(workspace, events: events, ifMatch: expectedVersion)
        }
        guard !validateOnly else { return }
        for (kind, name) in targets where kind == .release { try await releaseRecords.delete(name) }
    }
}

extension Workspace {
    /// The stored version of the artifact at `key` (not the workspace's view); `nil` when none is stored.
    func repositoryVersion(of key: Key?) async throws(OperationError) -> Int64? {
        guard let key else { return nil }
        return try await repository.read(key.kind, name: key.name)?.version
    }
}
