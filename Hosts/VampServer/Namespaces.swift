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
    struct Settings: Sendable {
        var persistence: PersistenceConfiguration
        var gatewayPortRange: ClosedRange<Int>
        var haproxyVersion: String
        var resyncInterval: Duration
        var maximum: Int
        var check: Vamp.ConfigurationCheck?
        var deployments: DeploymentSettings
    }

    let settings: Settings
    let keyValueStore: any KeyValueStore
    let logger: Logger
    let services: AsyncStream<any ServiceLifecycle.Service>.Continuation
    /// Started by ``NamespaceServices``.
    nonisolated let started: AsyncStream<any ServiceLifecycle.Service>
    private var namespaces: [String: Task<Vamp, any Error>] = [:]

    init(settings: Settings, keyValueStore: any KeyValueStore, logger: Logger) {
        self.settings = settings
        self.keyValueStore = keyValueStore
        self.logger = logger
        (started, services) = AsyncStream.makeStream(of: (any ServiceLifecycle.Service).self)
    }

    static func isName(_ name: String) -> Bool {
        (1...63).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    func vamp(namespace: String) async throws(OperationError) -> Vamp? {
        guard Self.isName(namespace) else { return nil }
        if namespaces[namespace] == nil {
            guard namespaces.count < settings.maximum else {
                throw OperationError(.invalid, "namespace '\(namespace)': this server serves at most \(settings.maximum) namespaces besides the default one (vamp.namespaces.maximum)")
            }
            let settings = self.settings, store = keyValueStore, logger = self.logger, services = self.services
            namespaces[namespace] = Task {
                let stores = try Self.persistence(settings.persistence, namespace: namespace).makeStores(logger: logger)
                services.yield(stores)
                try await stores.ready()
                let vamp = Vamp(
                    artifacts: stores.artifacts, events: stores.events,
                    configuration: Vamp.Configuration(
                        gatewayPortRange: settings.gatewayPortRange, generator: settings.deployments.generator,
                        resolution: settings.deployments.resolution,
                        configurationCheck: settings.check,
                        cacheReads: [.sqlite, .memory].contains(settings.persistence.artifacts)),
                    logger: logger)
                services.yield(GatewaySynchronizer(
                    vamp: vamp, store: store,
                    configuration: .init(namespace: namespace, haproxyVersion: settings.haproxyVersion, resyncInterval: settings.resyncInterval),
                    logger: logger))
                if let driver = try await settings.deployments.makeDriver(namespace: namespace, excludedPorts: [settings.gatewayPortRange], logger: logger) {
                    services.yield(driver)
                    services.yield(Reconciler(
                        vamp: vamp, driver: driver,
                        configuration: .init(interval: settings.deployments.reconcileInterval, planner: settings.deployments.planner),
                        logger: logger))
                }
                logger.notice("opened namespace", metadata: ["vamp.namespace": "\(namespace)"])
                return vamp
            }
        }
        do {
            return try await namespaces[namespace]!.value
        } catch {
            namespaces[namespace] = nil
            throw OperationError(.unavailable, "namespace '\(namespace)' could not be opened: \(error)")
        }
    }

    /// The default namespace's persistence settings, moved to their own files, tables or indices.
    static func persistence(_ base: PersistenceConfiguration, namespace: String) -> PersistenceConfiguration {
        var configuration = base
        let folder = URL(fileURLWithPath: base.sqlite.path).deletingLastPathComponent()
        configuration.sqlite.path = folder.appendingPathComponent("namespaces/\(namespace).sqlite").path
        configuration.postgres.tablePrefix = base.postgres.tablePrefix + namespace.replacingOccurrences(of: "-", with: "_") + "_"
        configuration.elasticsearch.index = base.elasticsearch.index + "-" + namespace
        configuration.elasticsearchArtifacts.index = base.elasticsearchArtifacts.index + "-" + namespace
        return configuration
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
