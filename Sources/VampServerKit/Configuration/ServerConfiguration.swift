import Configuration
import ContainerDrivers
import Foundation
import GatewayAgent
import HAProxyConfigGen
import KVStores
import Logging
import Persistence
import VampAPI
import VampCore
import VampModel
import VampWebUI

/// The keys of `vamp-server`'s own settings, each written once. The stores, the KV store and the container
/// driver read their own keys (`PersistenceConfiguration`, `KeyValueStoreConfiguration`,
/// `ContainerDriverConfiguration`).
enum ServerKeys {
    static let interface = Setting<String>.text("vamp.http-api.interface", flag: "--interface", default: "127.0.0.1")
    static let port = Setting<Int>.number("vamp.http-api.port", flag: "--port", default: "8080", in: 0...65535, expected: "a port number (0 to 65535)")
    static let maximumBodySize = Setting<Int>.number(
        "vamp.http-api.max-body-size", default: String(16 << 20), in: 1...Int.max, expected: "a number of bytes above 0")
    static let logLevel = Setting<Logger.Level>.logLevel("vamp.log-level", flag: "--log-level")
    static let namespace = Setting<String>("vamp.namespace", default: "vamp", expected: "a name of letters, digits, '-' and '_'") { text in
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") } ? text : nil
    }
    static let portRange = Setting<ClosedRange<Int>>.portRange("vamp.operation.gateway.port-range", default: "61000-64999")
    static let haproxyVersion = Setting<String>.text("vamp.gateway-driver.haproxy.version", default: "2.6")
    static let haproxyExecutable = Setting<String>.text("vamp.gateway-driver.haproxy.executable", default: "/usr/sbin/haproxy")
    static let haproxyCheck = Setting<Bool?>.automatic("vamp.gateway-driver.haproxy.check")
    static let resyncInterval = Setting<Duration>.seconds("vamp.gateway-driver.resync-interval", default: "5")
    static let maximumNamespaces = Setting<Int>.number(
        "vamp.namespaces.maximum", default: "16", in: 0...Int.max, expected: "a number of namespaces (0 or more)")
    static let embedded = Setting<Bool?>.automatic("vamp.gateway-agent.embedded")
    static let reconcilePeriod = Setting<Duration>.seconds("vamp.operation.synchronization.period", default: "5")
    static let slaPeriod = Setting<Duration>.seconds("vamp.operation.sla.period", default: "5")
    static let releasePeriod = Setting<Duration>.seconds("vamp.operation.release.period", default: "1")
    static let workflowTimeout = Setting<Int>.number(
        "vamp.workflows.timeout", default: "120", in: 1...86_400, expected: "seconds (1 to 86400) a workflow run may take")
    static let readyForDeployment = Setting<Duration>.seconds(
        "vamp.operation.synchronization.timeout.ready-for-deployment", default: "600", zeroAllowed: true)
    static let readyForUndeployment = Setting<Duration>.seconds(
        "vamp.operation.synchronization.timeout.ready-for-undeployment", default: "600", zeroAllowed: true)
    static let gatewayHost = Setting<String>.text("vamp.gateway-driver.host", default: "127.0.0.1")
    static let virtualHosts = Setting<Bool>.flag("vamp.operation.gateway.virtual-hosts.enabled", default: "true")
    /// Port 80 needs root; anyone else gets 8000, so that a quick start as a user does not stop HAProxy at bind.
    static let virtualHostsPort = Setting<Int>.number(
        "vamp.gateway-driver.virtual-hosts.port", default: geteuid() == 0 ? "80" : "8000", in: 1...65535,
        expected: "a port number (1 to 65535)")
    static let agentWorkDirectory = Setting<String>.text("vamp.gateway-agent.work-directory", default: ".vamp/gateway-agent")
    static let agentStatus = Setting<(host: String, port: Int)?>.address("vamp.gateway-agent.status")
    static let agentLogstash = Setting<(host: String, port: Int)?>.address("vamp.gateway-agent.logstash")
    static let agentLogPort = Setting<Int>.number("vamp.gateway-agent.log-port", default: "0", in: 0...65535, expected: "a port number (0 for none)")
    static let agentLogSocket = Setting<String>.text("vamp.gateway-agent.log-socket", default: "")
    static let agentPulse = Setting<Bool>.flag("vamp.gateway-agent.pulse", default: "on")
}

/// Every setting of `vamp-server`, read once at start. A value that does not read stops the server with a message
/// naming the key, its flag and its variable.
struct ServerConfiguration: Sendable {
    var interface: String
    var port: Int
    /// Who may use the API (`vamp.http-api.auth`, the configured tokens).
    var access: AccessSettings
    var maximumBodySize: Int
    /// Origins, host names, timeouts and connections per client (HTTPProtectionSettings.swift).
    var http: HTTPProtectionSettings
    /// HTTPS: the certificate's and key's files (TLS/TLSSettings.swift); `nil`: plain HTTP.
    var tls: TLSSettings?
    /// The web UI at `/` (WebUISettings.swift); `nil`: none.
    var webUI: WebUIAssets?
    var logLevel: Logger.Level
    var namespace: String
    var gatewayPortRange: ClosedRange<Int>
    var haproxyVersion: String
    var haproxyExecutable: String
    /// The `haproxy` binary gateway changes are checked with, or `nil` for the generator's checks alone.
    var haproxyCheck: String?
    var haproxyBase: String
    var resyncInterval: Duration
    /// How many namespaces besides the default one may be opened.
    var maximumNamespaces: Int
    var persistence: PersistenceConfiguration
    var keyValueStore: KeyValueStoreConfiguration
    var drivers: ContainerDriverConfiguration
    var reconcileInterval: Duration
    /// Time between two passes of the SLA monitor (`vamp.operation.sla.period`).
    var slaPeriod: Duration
    /// Time between two looks of the release driver (`vamp.operation.release.period`).
    var releasePeriod: Duration
    /// The timeout of a workflow run whose workflow sets no `VAMP_WORKFLOW_EXECUTION_TIMEOUT` (`vamp.workflows.timeout`).
    var workflowTimeout: Int
    var planner: ReconcilePlanner.Options
    var gatewayHost: String
    /// Where internal and external gateways listen (`vamp.gateway-driver.bind.*`).
    var gatewayBinding: GatewayBinding
    var virtualHosts: Bool
    var virtualHostsPort: Int
    /// The gateway agent run inside the server, or `nil` when a separate `vamp-gateway-agent` watches the key.
    var embeddedAgent: EmbeddedAgentSettings?
    /// Why the agent is not embedded (for the start-up log), when it is not.
    var notEmbeddedBecause: String?
    /// What `GET /config` shows.
    var shown: [String: String]
    /// Pulse: event period, windows, health floor, retention.
    var pulse: PulseSettings

    init(config: ConfigReader) throws(SettingError) {
        var reader = SettingsReader(config: config)
        interface = try reader.read(ServerKeys.interface)
        port = try reader.read(ServerKeys.port)
        access = try AccessSettings(&reader, interface: interface)
        maximumBodySize = try reader.read(ServerKeys.maximumBodySize)
        http = try HTTPProtectionSettings(&reader, interface: interface)
        tls = try TLSSettings.read(&reader)
        webUI = try WebUISettings.read(&reader)
        logLevel = try reader.read(ServerKeys.logLevel)
        namespace = try reader.read(ServerKeys.namespace)
        gatewayPortRange = try reader.read(ServerKeys.portRange)
        haproxyVersion = try reader.read(ServerKeys.haproxyVersion)
        haproxyExecutable = try reader.read(ServerKeys.haproxyExecutable)
        let installed = FileManager.default.isExecutableFile(atPath: haproxyExecutable)
        switch try reader.read(ServerKeys.haproxyCheck) {
        case nil: haproxyCheck = installed ? haproxyExecutable : nil
        case true?:
            guard installed else {
                throw SettingError(description: "\(ServerKeys.haproxyCheck.described): HAProxy is not at \(haproxyExecutable); install it (apt-get install haproxy), set vamp.gateway-driver.haproxy.executable, or set the check to false")
            }
            haproxyCheck = haproxyExecutable
        case false?: haproxyCheck = nil
        }
        haproxyBase = (try? HAProxyBaseConfiguration().render()) ?? ""
        resyncInterval = try reader.read(ServerKeys.resyncInterval)
        maximumNamespaces = try reader.read(ServerKeys.maximumNamespaces)
        reconcileInterval = try reader.read(ServerKeys.reconcilePeriod)
        slaPeriod = try reader.read(ServerKeys.slaPeriod)
        releasePeriod = try reader.read(ServerKeys.releasePeriod)
        workflowTimeout = try reader.read(ServerKeys.workflowTimeout)
        let deploying = try reader.read(ServerKeys.readyForDeployment), undeploying = try reader.read(ServerKeys.readyForUndeployment)
        planner = ReconcilePlanner.Options(deploymentTimeout: deploying == .zero ? nil : deploying, undeploymentTimeout: undeploying == .zero ? nil : undeploying)
        gatewayHost = try reader.read(ServerKeys.gatewayHost)
        gatewayBinding = try GatewayBinding(&reader, gatewayHost: gatewayHost)
        virtualHosts = try reader.read(ServerKeys.virtualHosts)
        virtualHostsPort = try reader.read(ServerKeys.virtualHostsPort)
        pulse = try PulseSettings(&reader)

        switch try reader.read(ServerKeys.embedded) {
        case nil:
            embeddedAgent = installed ? try EmbeddedAgentSettings(&reader) : nil
            if !installed {
                notEmbeddedBecause = "HAProxy is not at \(haproxyExecutable) (vamp.gateway-driver.haproxy.executable); install it (apt-get install haproxy) and start the server again, or run a vamp-gateway-agent where HAProxy is"
            }
        case true?:
            guard installed else {
                throw SettingError(description: "\(ServerKeys.embedded.described): true, but HAProxy is not at \(haproxyExecutable); install it (apt-get install haproxy), set vamp.gateway-driver.haproxy.executable, or set vamp.gateway-agent.embedded to false and run a vamp-gateway-agent")
            }
            embeddedAgent = try EmbeddedAgentSettings(&reader)
        case false?:
            embeddedAgent = nil
            notEmbeddedBecause = "vamp.gateway-agent.embedded is false; a separate vamp-gateway-agent must watch the key"
        }
        do {
            persistence = try PersistenceConfiguration(config: config)
            keyValueStore = try KeyValueStoreConfiguration(config: config)
            drivers = try ContainerDriverConfiguration(config: config)
        } catch let error as PersistenceError {
            throw SettingError(description: error.message)
        } catch let error as KeyValueStoreError {
            throw SettingError(description: error.message)
        } catch let error as ContainerDriverError {
            throw SettingError(description: error.message)
        } catch {
            throw SettingError(description: "\(error)")
        }
        reader.show([
            "vamp.persistence.database.type": persistence.artifacts.rawValue,
            "vamp.persistence.events.type": persistence.events.rawValue,
            "vamp.key-value-store.type": keyValueStore.kind.rawValue,
            "vamp.gateway-driver.haproxy.check": haproxyCheck == nil ? "false" : "true",
            "vamp.gateway-agent.embedded": embeddedAgent == nil ? "false" : "true",
        ])
        if persistence.artifacts == .sqlite || persistence.events == .sqlite {
            reader.show(["vamp.persistence.database.sqlite.path": persistence.sqlite.path])
        }
        reader.show(drivers.shown)
        shown = reader.shown
    }

    /// Reads from memory: only where this server is the store's one writer (SQLite, memory).
    var cacheReads: Bool { [.sqlite, .memory].contains(persistence.artifacts) }

    /// How gateways are resolved: the host of `$cluster.host` and gateway-to-gateway hops, default virtual hosts.
    var resolution: GatewayResolution.Options { GatewayResolution.Options(defaultVirtualHosts: virtualHosts, gatewayHost: gatewayHost) }

    /// The generator, with the gateways' bind addresses and the virtual hosts' port.
    var generator: HAProxyConfigurationGenerator {
        HAProxyConfigurationGenerator(options: .init(
            bindAddress: gatewayBinding.externalAddress, internalBindAddress: gatewayBinding.internalAddress, virtualHostsPort: virtualHostsPort))
    }

    /// `GET /info`'s sections that do not change while the server runs.
    var information: ServerInformation {
        var kv: [String: JSONValue] = ["type": .string(keyValueStore.kind.rawValue)]
        if keyValueStore.kind == .file { kv["directory"] = .string(keyValueStore.directory) }
        return ServerInformation(sections: [
            "persistence": .object(["database": .object(["type": .string(persistence.artifacts.rawValue)])]),
            "key_value": .object(kv),
            "pulse": .object(["type": .string(persistence.events.rawValue)]),
            "gateway_driver": .object(["marshallers": .array([.object(["type": .string("haproxy"), "name": .string(haproxyVersion)])])]),
            "gateway_agent": .object(embeddedAgent.map { agent in
                ["embedded": .bool(true), "work_directory": .string(agent.workDirectory.path), "haproxy": .string(haproxyExecutable)]
            } ?? ["embedded": .bool(false), "reason": .string(notEmbeddedBecause ?? "")]),
            "container_driver": drivers.information,
            "workflow_driver": .object(["type": .string("none")]),
        ])
    }
}

/// The settings of the gateway agent `vamp-server` runs in-process (`vamp.gateway-agent.*`); the HAProxy binary
/// is `vamp.gateway-driver.haproxy.executable`, the key the one the synchroniser writes.
struct EmbeddedAgentSettings: Sendable {
    /// `haproxy.cfg`, the master socket, the pid file and HAProxy's output.
    var workDirectory: URL
    /// `/health` and `/metrics` of the agent (host:port; default none).
    var status: (host: String, port: Int)?
    /// The UDP port on 127.0.0.1 HAProxy logs to (default none).
    var logPort: Int?
    /// The unix datagram socket HAProxy logs to, which the agent creates; used instead of `log-port` when both
    /// are set. By default `<work directory>/log.sock` while Pulse is on or a Logstash is set.
    var logSocket: String?
    /// Where the log lines go (host:port; default none).
    var logstash: (host: String, port: Int)?
    /// Whether the agent counts HAProxy's log lines for the server's metrics (`vamp.gateway-agent.pulse`, default on).
    var pulse: Bool
    /// Why HAProxy has no log socket although it should (its default path too long), for the start-up log.
    var logNote: String?

    init(_ reader: inout SettingsReader) throws(SettingError) {
        workDirectory = URL(fileURLWithPath: try reader.read(ServerKeys.agentWorkDirectory)).standardizedFileURL
        status = try reader.read(ServerKeys.agentStatus)
        logstash = try reader.read(ServerKeys.agentLogstash)
        pulse = try reader.read(ServerKeys.agentPulse)
        let port = try reader.read(ServerKeys.agentLogPort)
        let socket = try reader.read(ServerKeys.agentLogSocket)
        // Pulse on (the default) or a Logstash: HAProxy logs to <work directory>/log.sock unless told otherwise.
        let receiver = GatewayAgentConfiguration.logReceiver(
            socket: socket.isEmpty ? nil : URL(fileURLWithPath: socket).standardizedFileURL.path, port: port == 0 ? nil : port,
            needed: pulse || logstash != nil, workDirectory: workDirectory, fallbackPort: nil)
        logSocket = receiver.socket
        logPort = receiver.port
        logNote = receiver.note.map { "\($0) (\(ServerKeys.agentLogSocket.key), \(ServerKeys.agentLogPort.key))" }
    }
}
