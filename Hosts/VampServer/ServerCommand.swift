import ArgumentParser
import Configuration
import ContainerDrivers
import Foundation
import GatewayAgent
import HAProxyConfigGen
import HAProxyControl
import Hummingbird
import KVStores
import Logging
import Metrics
import Persistence
import Prometheus
import ServiceLifecycle
import UnixSignals
import VampAPI
import VampCore
import VampModel

/// `vamp-server`: Vamp's REST API, its artifact and event stores, and the gateway synchroniser that keeps the
/// gateway agents' HAProxy configuration in the KV store.
@main
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vamp-server",
        abstract: "Serve Vamp's REST API, store artifacts and events, and keep the gateways' HAProxy configuration in the KV store.",
        discussion: """
        With no setting at all it serves http://127.0.0.1:8080/api/v1, keeps artifacts and events in SQLite \
        (.vamp/vamp.sqlite), writes the HAProxy configuration to a file KV store (.vamp/kv) and, when HAProxy is \
        installed, runs the gateway agent in-process (vamp.gateway-agent.embedded: auto), so a gateway's port \
        serves at once. HAProxy keeps serving when the server stops; the next start takes it over. \
        `vamp-server --stop-gateway` stops it.

        Settings are read in this order: flags, VAMP_* environment variables (VAMP_HTTP_API_PORT, \
        VAMP_PERSISTENCE_DATABASE_TYPE, VAMP_KEY_VALUE_STORE_TYPE, ...), the YAML file given with --config \
        (the same keys in dotted form: vamp.http-api.port), then the defaults. Documentation/server.md lists them.
        """)

    @Option(help: "A YAML configuration file (keys such as vamp.http-api.port, vamp.persistence.database.type).") var config: String?
    @Option(help: "The address the API listens on (vamp.http-api.interface, default 127.0.0.1).") var interface: String?
    @Option(help: "The API's port (vamp.http-api.port, default 8080; 0 picks a free one and logs it).") var port: Int?
    @Option(help: "trace, debug, info, notice, warning, error or critical (vamp.log-level, default info).") var logLevel: String?
    @Flag(help: "Stop the HAProxy the embedded gateway agent left serving in vamp.gateway-agent.work-directory, and exit (stop the server first).")
    var stopGateway = false

    func run() async throws {
        var flags: [AbsoluteConfigKey: ConfigValue] = [:]
        if let interface { flags[AbsoluteConfigKey(["vamp", "http-api", "interface"])] = .init(stringLiteral: interface) }
        if let port { flags[AbsoluteConfigKey(["vamp", "http-api", "port"])] = .init(stringLiteral: String(port)) }
        if let logLevel { flags[AbsoluteConfigKey(["vamp", "log-level"])] = .init(stringLiteral: logLevel) }
        var providers: [any ConfigProvider] = [InMemoryProvider(name: "flags", values: flags), EnvironmentVariablesProvider()]
        if let config {
            let location = ConfigReader(provider: InMemoryProvider(values: ["filePath": .init(stringLiteral: config)]))
            providers.append(try await FileProvider<YAMLSnapshot>(config: location))
        }
        providers.append(InMemoryProvider(name: "defaults", values: [
            "vamp.key-value-store.type": "file", "vamp.key-value-store.connection": ".vamp/kv",
        ]))
        let reader = ConfigReader(providers: providers)
        if stopGateway {
            try await Self.stopGateway(config: reader)
            return
        }
        let settings = try ServerSettings(config: reader)
        let deployments = try DeploymentSettings(config: reader)

        let logger = {
            var logger = Logger(label: "vamp.server")
            logger.logLevel = settings.logLevel
            return logger
        }()

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let stores: PersistenceStores
        let keyValueStore: any KeyValueStore
        do {
            stores = try settings.persistence.makeStores(logger: logger)
            keyValueStore = try settings.keyValueStore.makeStore(logger: logger)
        } catch let error as PersistenceError {
            throw ValidationError(error.message)
        } catch let error as KeyValueStoreError {
            throw ValidationError(error.message)
        }

        let check = settings.haproxyCheck.map { executable in HAProxyTextCheck(executable: executable, base: settings.haproxyBase, logger: logger).check }
        let vamp = Vamp(
            artifacts: stores.artifacts, events: stores.events,
            configuration: Vamp.Configuration(
                gatewayPortRange: settings.gatewayPortRange, generator: deployments.generator,
                resolution: deployments.resolution, configurationCheck: check, cacheReads: settings.cacheReads),
            logger: logger)
        // The services of deployments run through the container driver; the reconciler keeps them in step.
        let driver = try await deployments.makeDriver(namespace: nil, excludedPorts: [settings.gatewayPortRange], logger: logger)
        let reconciler = driver.map { driver in
            Reconciler(
                vamp: vamp, driver: driver, configuration: .init(interval: deployments.reconcileInterval, planner: deployments.planner),
                logger: Logger(label: "vamp.reconciler"))
        }
        let synchronizer = GatewaySynchronizer(
            vamp: vamp, store: keyValueStore,
            configuration: .init(namespace: settings.namespace, haproxyVersion: settings.haproxyVersion, resyncInterval: settings.resyncInterval),
            logger: Logger(label: "vamp.gateway-sync"))

        var information = settings.information
        information.sections["container_driver"] = deployments.information
        let api = VampAPIConfiguration(
            maximumBodySize: settings.maximumBodySize,
            information: information,
            settings: settings.shown.merging(deployments.shown) { first, _ in first },
            haproxyTemplate: settings.haproxyBase,
            haproxyVersions: [settings.haproxyVersion])
        let directory = NamespaceDirectory(
            settings: .init(
                persistence: settings.persistence, gatewayPortRange: settings.gatewayPortRange, haproxyVersion: settings.haproxyVersion,
                resyncInterval: settings.resyncInterval, maximum: settings.maximumNamespaces, check: check, deployments: deployments),
            keyValueStore: keyValueStore, logger: logger)
        let router = VampHTTPAPI.router(vamp: vamp, namespaces: directory, defaultNamespace: settings.namespace, configuration: api)
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let key = KeyPath.haproxyConfiguration(namespace: settings.namespace, version: settings.haproxyVersion)
        let agent = settings.embeddedAgent.map { agentSettings in
            EmbeddedGatewayAgent(
                settings: agentSettings, executable: settings.haproxyExecutable, key: key, store: keyValueStore,
                logger: {
                    var logger = Logger(label: "vamp.gateway-agent")
                    logger.logLevel = settings.logLevel
                    return logger
                }())
        }
        var app = Application(
            responder: AgentInformationResponder(routes: router.buildResponder(), agent: agent, vamp: vamp),
            configuration: .init(address: .hostname(settings.interface, port: settings.port), serverName: "vamp"),
            onServerRunning: { channel in
                logger.notice("serving the API", metadata: ["vamp.http.address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger)
        // The stores first: the API and the synchroniser wait for them to be ready. The embedded agent after the KV
        // store (it watches the store's key), so it also stops before it.
        app.addServices(stores, KeyValueStoreService(store: keyValueStore))
        if let agent { app.addServices(agent) }
        app.addServices(StartAfter(stores, synchronizer), NamespaceServices(directory: directory))
        // The driver before the parts that use it, which then stop before it.
        if let driver { app.addServices(driver) }
        if let reconciler { app.addServices(StartAfter(stores, reconciler)) }
        if let driver, deployments.drivers.synchronizesGateways {
            app.addServices(StartAfter(stores, DriverGatewaySynchronizer(
                vamp: vamp, driver: driver, interval: settings.resyncInterval, logger: Logger(label: "vamp.driver.gateways"))))
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("starting", metadata: [
            "vamp.persistence": "\(settings.persistence.artifacts.rawValue)", "vamp.kv.store": "\(settings.keyValueStore.kind.rawValue)",
            "vamp.kv.key": "\(key)",
            "vamp.haproxy.check": "\(settings.haproxyCheck ?? "off")",
            "vamp.container-driver": "\(deployments.drivers.kind.rawValue)",
        ])
        if let agentSettings = settings.embeddedAgent {
            logger.info("running the gateway agent in-process; HAProxy keeps serving when the server stops (vamp-server --stop-gateway stops it)", metadata: [
                "vamp.gateway-agent.work-directory": "\(agentSettings.workDirectory.path)", "vamp.haproxy.executable": "\(settings.haproxyExecutable)",
            ])
        } else {
            logger.notice("the gateway agent is not embedded: a separate vamp-gateway-agent must watch the KV key for the gateways to serve", metadata: [
                "vamp.kv.key": "\(key)", "vamp.gateway-agent.reason": "\(settings.notEmbeddedBecause ?? "")",
            ])
        }
        try await group.run()
        logger.info("stopped")
    }
}

extension ServerCommand {
    /// `--stop-gateway`: stops the HAProxy master the embedded agent left serving on its work directory.
    static func stopGateway(config: ConfigReader) async throws {
        let folder = config.string(forKey: "vamp.gateway-agent.work-directory", default: ".vamp/gateway-agent")
        let executable = config.string(forKey: "vamp.gateway-driver.haproxy.executable", default: "/usr/sbin/haproxy")
        let configuration = GatewayAgentConfiguration(
            key: "/vamp", workDirectory: URL(fileURLWithPath: folder).standardizedFileURL, haproxyExecutable: executable)
        if let pid = await GatewayAgent.stopHAProxyLeftRunning(configuration: configuration) {
            print("stopped HAProxy (pid \(pid)) of \(configuration.workDirectory.path)")
        } else {
            print("no HAProxy of \(configuration.workDirectory.path) runs")
        }
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

/// `haproxy -c` of the base sections plus the generated text: what an agent with default settings would load.
struct HAProxyTextCheck: Sendable {
    let executable: String
    let base: String
    let logger: Logger

    func check(_ generated: String) async -> String? {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-check-\(UUID().uuidString).cfg")
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            try Data((base + "\n" + generated).utf8).write(to: file)
            return try await HAProxyControl.check(file, executable: executable)
        } catch {
            // Not checked is not refused: the generator has checked the text already. But the operator turned the
            // check on (or has HAProxy installed) and must know it did not run.
            logger.warning("haproxy -c could not run; the gateway change was checked by the generator alone", metadata: [
                "vamp.haproxy.executable": "\(executable)", "vamp.error": "\(error)",
            ])
            return nil
        }
    }
}
