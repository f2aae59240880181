public import Configuration
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
import VampAccess
import ServiceLifecycle
import UnixSignals
import VampAPI
import VampCore
import VampModel

/// `vamp-server` as a library: the REST API, the stores, the gateway synchroniser, the reconciler with its
/// container driver, the embedded gateway agent and the namespaces opened later, in one `ServiceGroup` that stops
/// on SIGTERM or SIGINT (and, serving HTTPS, reads the API's certificate again on SIGHUP). A host parses its flags
/// into a `ConfigReader` and calls ``run(config:)``.
public enum VampServer {
    /// Why the server did not start: a setting that does not read, a store that cannot be opened.
    public struct StartError: Error, CustomStringConvertible {
        /// What is wrong, naming the setting.
        public let description: String
    }

    /// Reads every setting from `config`, builds the server and runs it until SIGTERM or SIGINT.
    public static func run(config: ConfigReader) async throws {
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(config: config)
        } catch {
            throw StartError(description: error.description)
        }
        let logger = {
            var logger = Logger(label: "vamp")
            logger.logLevel = configuration.logLevel
            return logger
        }()
        PrivateState.tighten(configuration, logger: logger)

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let keyValueStore: any KeyValueStore
        do {
            keyValueStore = try configuration.keyValueStore.makeStore(logger: logger.part("kv"))
        } catch {
            throw StartError(description: error.message)
        }
        let check = configuration.haproxyCheck.map { executable in
            HAProxyTextCheck(executable: executable, base: configuration.haproxyBase, logger: logger.part("haproxy-check")).check
        }
        let certificate: APICertificate?
        do {
            certificate = try configuration.tls.map { try APICertificate(certificateFile: $0.certificateFile, keyFile: $0.keyFile) }
        } catch {
            throw StartError(description: "the API's TLS: \(error)")
        }
        let workflows = WorkflowHost(
            interface: configuration.interface, port: configuration.port, tls: certificate != nil, caFile: configuration.tls?.caFile,
            logger: logger.part("workflows"))
        let stack: NamespaceStack
        do {
            stack = try await NamespaceStack.make(
                namespace: configuration.namespace, isDefault: true, configuration: configuration, keyValueStore: keyValueStore,
                check: check, workflows: workflows, logger: logger)
        } catch let error as SettingError {
            throw StartError(description: error.description)
        }
        let vamp = stack.vamp
        let key = KeyPath.haproxyConfiguration(namespace: configuration.namespace, version: configuration.haproxyVersion)
        let agent = configuration.embeddedAgent.map { settings in
            // Its figures go straight into the default namespace's Pulse, whose gateways it serves.
            EmbeddedGatewayAgent(
                settings: settings, executable: configuration.haproxyExecutable, key: key, store: keyValueStore, logger: logger.part("gateway-agent"),
                pulseSink: { [pulse = vamp.pulse] buckets in await pulse.receive(buckets) })
        }

        var information = configuration.information
        if let agent { information.liveSections["gateway_agent"] = { await agent.information(gateways: vamp) } }
        let gatewayDriver = information.sections["gateway_driver"] ?? .object([:])
        information.liveSections["gateway_driver"] = { await Self.gatewayDriverSection(gatewayDriver, vamp: vamp) }
        var api = VampAPIConfiguration(
            maximumBodySize: configuration.maximumBodySize, information: information, settings: configuration.shown,
            haproxyTemplate: configuration.haproxyBase, haproxyVersions: [configuration.haproxyVersion])
        configuration.http.apply(to: &api)
        api.webUI = configuration.webUI
        api.tls = certificate
        for warning in configuration.http.warnings { logger.warning("\(warning)") }
        if let warning = EphemeralPorts.read()?.warning(gateways: configuration.gatewayPortRange, setting: ServerKeys.portRange.key) {
            logger.warning("\(warning)")
        }
        let directory = NamespaceDirectory(
            configuration: configuration, keyValueStore: keyValueStore, check: check, workflows: workflows, logger: logger)
        // Tokens live in the default namespace's artifact store, so that servers sharing a database share them.
        let tokens: TokenRegistry?
        switch configuration.access.mode {
        case .tokens:
            let firstStart = FirstStart(file: configuration.access.firstStartFile, logger: logger.part("access"))
            tokens = TokenRegistry(
                store: stack.stores.artifacts, configured: configuration.access.configured, logger: logger.part("access"),
                firstLoad: { try await firstStart.run($0) })
        case .none:
            tokens = nil
            logger.warning("authentication is off (vamp.http-api.auth: none): anyone who reaches \(configuration.interface):\(configuration.port) may change anything and run commands")
        }
        workflows.tokens.use(tokens)
        let router = VampHTTPAPI.router(
            vamp: vamp, namespaces: directory, defaultNamespace: configuration.namespace,
            access: tokens.map { APIAccess.tokens($0) } ?? .open, configuration: api)
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        var app = Application(
            router: router,
            // Read and idle timeouts, connections per client, and 413 as soon as a body's declared size is over the limit.
            server: VampHTTPAPI.server(configuration: api, router: router),
            configuration: .init(address: .hostname(configuration.interface, port: configuration.port), serverName: "vamp"),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { workflows.setAddress(host: configuration.interface, port: port) }
                let host = ["0.0.0.0", "::", ""].contains(configuration.interface) ? "localhost"
                    : configuration.interface.contains(":") ? "[\(configuration.interface)]" : configuration.interface
                let url = "\(certificate == nil ? "http" : "https")://\(host):\(channel.localAddress?.port.map(String.init) ?? "?")"
                var metadata: Logger.Metadata = ["vamp.http.address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "vamp.http.url": "\(url)"]
                if let certificate { metadata["vamp.tls.served"] = "\(certificate.summary)" }
                logger.notice("serving the API", metadata: metadata)
                if let certificate, certificate.isExpired {
                    logger.warning("the API's certificate has expired: clients refuse it (\(certificate.summary)); replace the files and send SIGHUP")
                }
                if configuration.webUI != nil {
                    let signIn = configuration.access.mode == .tokens
                        ? "sign in with a token; the first admin token is in \(configuration.access.firstStartFile.path)" : "authentication is off"
                    logger.notice("the web UI: \(url)/ (\(signIn))")
                }
            },
            logger: logger.part("http"))
        // The stores first: the other services wait for them to be ready. The embedded agent after the KV store (it
        // watches the store's key), so it also stops before it.
        app.addServices(stack.services[0], KeyValueStoreService(store: keyValueStore))
        if let tokens { app.addServices(StartAfter(stack.stores, tokens)) }
        if let agent { app.addServices(agent) }
        if let certificate { app.addServices(CertificateReloader(certificate: certificate, logger: logger.part("tls"))) }
        for service in stack.services.dropFirst() { app.addServices(service) }
        app.addServices(NamespaceServices(directory: directory))
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logStart(configuration, key: key, logger: logger)
        try await group.run()
        logger.info("stopped")
    }

    /// `/info`'s `gateway_driver`: the marshallers, and `excluded`, the gateways left out of the HAProxy text because
    /// the generator refuses them (name → why), so that a gateway that is not served says why at a glance.
    static func gatewayDriverSection(_ fixed: JSONValue, vamp: Vamp) async -> JSONValue {
        guard case .object(var object) = fixed else { return fixed }
        if let rendered = try? await vamp.gatewayConfiguration() {
            object["excluded"] = .object(rendered.excluded.mapValues(JSONValue.string))
        }
        return .object(object)
    }

    /// `--stop-gateway`: stops every HAProxy master the embedded agent left serving on its work directory, and says so.
    public static func stopGateway(config: ConfigReader) async -> String {
        let folder = config.string(forKey: ConfigKey(ServerKeys.agentWorkDirectory.key.split(separator: ".").map(String.init)), default: ServerKeys.agentWorkDirectory.defaultText())
        let executable = config.string(forKey: ConfigKey(ServerKeys.haproxyExecutable.key.split(separator: ".").map(String.init)), default: ServerKeys.haproxyExecutable.defaultText())
        let configuration = GatewayAgentConfiguration(
            key: "/vamp", workDirectory: URL(fileURLWithPath: folder).standardizedFileURL, haproxyExecutable: executable)
        let pids = await GatewayAgent.stopHAProxyMastersLeftRunning(configuration: configuration)
        if !pids.isEmpty {
            return "stopped HAProxy (\(pids.count == 1 ? "pid" : "pids") \(pids.map(String.init).joined(separator: ", "))) of \(configuration.workDirectory.path)"
        }
        return "no HAProxy of \(configuration.workDirectory.path) runs"
    }

    static func logStart(_ configuration: ServerConfiguration, key: String, logger: Logger) {
        logger.info("starting", metadata: [
            "vamp.persistence": "\(configuration.persistence.artifacts.rawValue)", "vamp.kv.store": "\(configuration.keyValueStore.kind.rawValue)",
            "vamp.kv.key": "\(key)", "vamp.haproxy.check": "\(configuration.haproxyCheck ?? "off")",
            "vamp.container-driver": "\(configuration.drivers.kind.rawValue)",
        ])
        if let agent = configuration.embeddedAgent {
            logger.info("running the gateway agent in-process; HAProxy keeps serving when the server stops (vamp-server --stop-gateway stops it)", metadata: [
                "vamp.gateway-agent.work-directory": "\(agent.workDirectory.path)", "vamp.haproxy.executable": "\(configuration.haproxyExecutable)",
            ])
        } else {
            logger.notice("the gateway agent is not embedded: a separate vamp-gateway-agent must watch the KV key for the gateways to serve", metadata: [
                "vamp.kv.key": "\(key)", "vamp.gateway-agent.reason": "\(configuration.notEmbeddedBecause ?? "")",
            ])
        }
    }
}

/// `haproxy -c` of the base sections plus the generated text: what an agent with default settings would load.
///
/// An HTTPS gateway's certificate is a file on the gateway agents' machines. When this machine holds it (readable by
/// the server: the embedded agent's case, or the same path on every machine), HAProxy loads it in the check, so a
/// garbage PEM or a key that does not match its certificate is refused; when it does not, the check leaves that
/// gateway's TLS options out (the path's form was checked by the generator) and the agents' own `haproxy -c` is
/// the one that loads the file.
struct HAProxyTextCheck: Sendable {
    let executable: String
    let base: String
    let logger: Logger

    func check(_ generated: String) async -> String? {
        // The certificates of stored secrets travel with the text (GatewayCertificates); HAProxy finds them relative to
        // the folder it runs in, as on the agents: a folder only this user may enter, removed after the check.
        let (text, certificates, _) = GatewayCertificates.unbundle(generated)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("haproxy.cfg")
        do {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent(GatewayCertificates.directory), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder.path)
            for (name, pem) in certificates {
                let path = folder.appendingPathComponent(name).path
                guard FileManager.default.createFile(atPath: path, contents: Data(pem.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw CocoaError(.fileWriteUnknown)
                }
            }
            let checkable = HAProxyConfigurationGenerator.withoutCertificates(in: text) { path in
                FileManager.default.isReadableFile(atPath: path.hasPrefix("/") ? path : folder.appendingPathComponent(path).path)
            }
            try Data((base + "\n" + checkable).utf8).write(to: file)
            return try await HAProxyControl.check(file, executable: executable, workingDirectory: folder.path)
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
