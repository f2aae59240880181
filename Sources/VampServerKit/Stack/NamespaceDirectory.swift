import Foundation
import KVStores
import Logging
import Persistence
import ServiceLifecycle
import VampAPI
import VampCore

/// The namespaces other than the default one (`/<namespace>/api/v1`), created on first use: each has its own
/// artifacts and events (a SQLite file under `.vamp/namespaces/`, a PostgreSQL table prefix, Elasticsearch
/// indices with the namespace appended) and its own KV key, `/vamp/<namespace>/gateways/haproxy/<v>/configuration`,
/// which an agent serving that namespace watches. At most `maximum` exist, so that a client cannot make the server
/// open files without end.
actor NamespaceDirectory: VampDirectory {
    let configuration: ServerConfiguration
    let keyValueStore: any KeyValueStore
    let check: Vamp.ConfigurationCheck?
    let workflows: WorkflowHost
    let logger: Logger
    let services: AsyncStream<any ServiceLifecycle.Service>.Continuation
    /// Started by ``NamespaceServices``.
    nonisolated let started: AsyncStream<any ServiceLifecycle.Service>
    private var namespaces: [String: Task<Vamp, any Error>] = [:]

    init(
        configuration: ServerConfiguration, keyValueStore: any KeyValueStore, check: Vamp.ConfigurationCheck?, workflows: WorkflowHost,
        logger: Logger
    ) {
        self.workflows = workflows
        self.configuration = configuration
        self.keyValueStore = keyValueStore
        self.check = check
        self.logger = logger
        (started, services) = AsyncStream.makeStream(of: (any ServiceLifecycle.Service).self)
    }

    static func isName(_ name: String) -> Bool {
        (1...63).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    func vamp(namespace: String, mayOpen: Bool) async throws(OperationError) -> Vamp? {
        guard Self.isName(namespace) else { return nil }
        if namespaces[namespace] == nil, !mayOpen, !hasState(namespace) {
            throw OperationError(.forbidden, "namespace '\(namespace)' is not open on this server: opening a namespace needs a token with the role admin, or one limited to that namespace")
        }
        if namespaces[namespace] == nil {
            let maximum = configuration.maximumNamespaces
            guard namespaces.count < maximum else {
                throw OperationError(.invalid, "namespace '\(namespace)': this server serves at most \(maximum) namespaces besides the default one (vamp.namespaces.maximum)")
            }
            let configuration = self.configuration, store = keyValueStore, check = self.check, services = self.services
            let workflows = self.workflows
            let logger = self.logger.namespace(namespace)
            // One opening per namespace, whoever asks first; the others wait for it.
            namespaces[namespace] = Task {
                let stack = try await NamespaceStack.make(
                    namespace: namespace, isDefault: false, configuration: configuration, keyValueStore: store, check: check, workflows: workflows, logger: logger)
                for service in stack.services { services.yield(service) }
                try await stack.stores.ready()
                logger.notice("opened namespace")
                return stack.vamp
            }
        }
        do {
            return try await namespaces[namespace]!.value
        } catch {
            namespaces[namespace] = nil
            throw OperationError(.unavailable, "namespace '\(namespace)' could not be opened: \(error)", cause: error)
        }
    }
}

extension NamespaceDirectory {
    /// True when the namespace has state from an earlier run that this server can see without opening it: its
    /// SQLite file. (With PostgreSQL or Elasticsearch, opening is what creates the tables, so after a restart an
    /// admin token, or a token limited to the namespace, opens it first.)
    nonisolated func hasState(_ namespace: String) -> Bool {
        guard configuration.persistence.artifacts == .sqlite else { return false }
        let path = NamespaceStack.persistence(configuration.persistence, namespace: namespace).sqlite.path
        return FileManager.default.fileExists(atPath: path)
    }
}

extension Logger {
    /// This logger, its lines marked with the namespace they are about.
    func namespace(_ name: String) -> Logger {
        var logger = self
        logger[metadataKey: "vamp.namespace"] = .string(name)
        return logger
    }
}

/// Runs the stores and synchronisers of the namespaces opened while the server runs; on graceful shutdown they
/// stop with the rest of the group.
struct NamespaceServices: ServiceLifecycle.Service {
    let directory: NamespaceDirectory

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for await service in directory.started.cancelOnGracefulShutdown() {
                group.addTask { try await service.run() }
            }
        }
    }
}
