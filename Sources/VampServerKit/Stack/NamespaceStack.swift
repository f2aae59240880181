import ContainerDrivers
import Foundation
import KVStores
import Logging
import Persistence
import ServiceLifecycle
import VampCore
import VampPulse

/// What serves one namespace: its facade and the services that keep it going (its stores, the gateway
/// synchroniser writing its KV key, the container driver and the reconciler). The default namespace and every
/// namespace opened later are built by this one function, so that they cannot drift apart.
struct NamespaceStack: Sendable {
    let vamp: Vamp
    /// The namespace's stores: the other services start once they are ready.
    let stores: PersistenceStores
    /// Every service of the namespace, the stores first.
    let services: [any ServiceLifecycle.Service]

    /// Builds the stack of `namespace`; `isDefault` keeps the configured stores as they are, another namespace gets
    /// its own files, tables or indices and its own KV key.
    static func make(
        namespace: String, isDefault: Bool, configuration: ServerConfiguration, keyValueStore: any KeyValueStore,
        check: Vamp.ConfigurationCheck?, workflows: WorkflowHost, logger: Logger
    ) async throws -> NamespaceStack {
        let persistence = isDefault ? configuration.persistence : Self.persistence(configuration.persistence, namespace: namespace)
        let stores: PersistenceStores
        do {
            stores = try persistence.makeStores(logger: logger.part("persistence"))
        } catch {
            throw SettingError(description: error.message)
        }
        var core = Vamp.Configuration(
            gatewayPortRange: configuration.gatewayPortRange, reservedPorts: configuration.reservedPorts, generator: configuration.generator,
            resolution: configuration.resolution, configurationCheck: check,
            healthWindow: configuration.pulse.pulse.healthWindow, metricsWindow: configuration.pulse.pulse.metricsWindow,
            cacheReads: configuration.cacheReads)
        core.pulse = configuration.pulse.pulse
        core.maximumConfigurationBytes = configuration.keyValueStore.valueLimit(
            key: KeyPath.haproxyConfiguration(namespace: namespace, version: configuration.haproxyVersion))
        let driver: (any ContainerDriver)?
        do {
            driver = try configuration.drivers.makeDriver(
                namespace: isDefault ? nil : namespace,
                excludedPorts: [configuration.gatewayPortRange, configuration.virtualHostsPort...configuration.virtualHostsPort],
                logger: logger.part("driver"))
        } catch {
            throw SettingError(description: error.message)
        }
        core.workflowDeployableTypes = driver?.deployableTypes ?? []
        core.workflowJobs = driver?.runsJobs ?? false
        let vamp = Vamp(artifacts: stores.artifacts, events: stores.events, configuration: core, logger: logger.part("core"))
        var services: [any ServiceLifecycle.Service] = [stores]
        services.append(StartAfter(stores, PulsePublisher(vamp: vamp, logger: logger.part("pulse"))))
        services.append(StartAfter(stores, GatewaySynchronizer(
            vamp: vamp, store: keyValueStore,
            configuration: .init(namespace: namespace, haproxyVersion: configuration.haproxyVersion, resyncInterval: configuration.resyncInterval),
            logger: logger.part("gateway-sync"))))
        if let driver {
            // The driver's background work first: it stops after the reconciler that asks it.
            services.append(driver)
            if isDefault, configuration.drivers.synchronizesGateways {
                services.append(StartAfter(stores, DriverGatewaySynchronizer(
                    vamp: vamp, driver: driver, interval: configuration.resyncInterval, logger: logger.part("driver"))))
            }
            services.append(StartAfter(stores, Reconciler(
                vamp: vamp, driver: driver,
                configuration: .init(interval: configuration.reconcileInterval, planner: configuration.planner),
                logger: logger.part("reconciler"))))
        }
        // Workflows: daemons through the driver, time and event runs as one-off jobs; only the lease holder of servers
        // sharing the store runs them.
        let kv = configuration.keyValueStore
        let server: @Sendable () -> WorkflowEnvironment.Server = {
            WorkflowEnvironment.Server(
                // `$VAMP_URL/api/v1` is the workflow's own namespace.
                url: isDefault ? workflows.url : workflows.url + "/" + namespace, namespace: namespace,
                keyValueStore: .init(
                    type: kv.kind.rawValue,
                    connection: kv.endpoints.isEmpty ? kv.directory : kv.endpoints.map { "\($0)" }.joined(separator: ","),
                    path: kv.path ?? "/vamp/\(namespace)"),
                caFile: workflows.caFile)
        }
        services.append(StartAfter(stores, WorkflowScheduler(
            vamp: vamp, driver: driver,
            settings: .init(
                server: server, defaultTimeout: configuration.workflowTimeout, holder: WorkflowHost.holder,
                token: { name in await workflows.tokens.token(workflow: name, namespace: namespace) },
                forgetToken: { name in await workflows.tokens.forget(workflow: name, namespace: namespace) }),
            logger: logger.part("workflows"))))
        // The SLAs' checks and escalations, on Pulse's figures: a gateway's response time is the mean total time of
        // the requests its own frontend counted over the window (each request once; its routes count it again).
        let pulse = vamp.pulse
        services.append(StartAfter(stores, SLAMonitor(
            vamp: vamp,
            configuration: .init(period: configuration.slaPeriod, responseTime: { gateway, window in
                await pulse.figures(gateway: gateway, window: window)?.totalTime.mean
            }),
            logger: logger.part("sla"))))
        // Releases: the canary judged against its baseline on Pulse's figures, step by step; one server drives them.
        services.append(StartAfter(stores, ReleaseDriver(
            vamp: vamp,
            configuration: .init(period: configuration.releasePeriod, holder: WorkflowHost.holder, webhook: ReleaseWebhooks.call),
            logger: logger.part("releases"))))
        return NamespaceStack(vamp: vamp, stores: stores, services: services)
    }

    /// The default namespace's persistence settings, moved to the namespace's own files, tables or indices.
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

/// Runs a service once the stores are ready (SQLite opened, PostgreSQL connected).
struct StartAfter<S: ServiceLifecycle.Service>: ServiceLifecycle.Service {
    let stores: PersistenceStores
    let service: S

    init(_ stores: PersistenceStores, _ service: S) {
        self.stores = stores
        self.service = service
    }

    func run() async throws {
        try await stores.ready()
        try await service.run()
    }
}

extension Logger {
    /// This logger, its lines marked with the part of the server that writes them (`vamp.part=reconciler`). Every
    /// part gets the server's one logger this way, so `--log-level` reaches all of them.
    func part(_ name: String) -> Logger {
        var logger = self
        logger[metadataKey: "vamp.part"] = .string(name)
        return logger
    }
}
