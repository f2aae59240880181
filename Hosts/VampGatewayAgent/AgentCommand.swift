import ArgumentParser
import Configuration
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GatewayAgent
import HAProxyConfigGen
import KVStores
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `vamp-gateway-agent`: keeps HAProxy on the configuration Vamp writes to a KV store.
/// Flags override the original agent's environment variables, which override the defaults.
@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vamp-gateway-agent",
        abstract: "Watch Vamp's HAProxy configuration in etcd, ZooKeeper, Consul or a folder, and reload HAProxy seamlessly on every change.",
        discussion: """
        The store is read through the SDK's shared configuration, in this order: flags, environment variables \
        (as the original agent: VAMP_KEY_VALUE_STORE_TYPE, VAMP_KEY_VALUE_STORE_CONNECTION, VAMP_KEY_VALUE_STORE_PATH, \
        VAMP_KEY_VALUE_STORE_TOKEN), the YAML file given with --config (vamp.key-value-store.*), then the defaults \
        (a file store in .vamp/kv). Also VAMP_LOGSTASH (host:port) and VAMP_RETRY_TIMEOUT (seconds).

        HAProxy logs to a unix datagram socket in the work directory (--log-socket, --log-port to change it). Pulse, \
        on by default (--pulse off to stop it), counts every log line per gateway, route and instance in one-second \
        buckets, beside HAProxy's own request counters, and sends them to vamp-server (--vamp-url, VAMP_URL) with an \
        agent token (--vamp-token-file, VAMP_TOKEN_FILE, --vamp-token, VAMP_TOKEN). Figures in /metrics and /health.
        """)

    @Option(help: "A YAML configuration file (keys vamp.key-value-store.type, .connection, .path, .token, .timeout.*).") var config: String?
    @Option(help: "etcd, zookeeper, consul or file (env VAMP_KEY_VALUE_STORE_TYPE).") var storeType: String?
    @Option(help: "etcd/Consul URL, ZooKeeper host:port[,host:port], or the folder of the file store (env VAMP_KEY_VALUE_STORE_CONNECTION).") var storeConnection: String?
    @Option(help: "The key with the configuration (env VAMP_KEY_VALUE_STORE_PATH).") var storePath: String?
    @Option(help: "Logstash host:port for HAProxy's log lines, over UDP (env VAMP_LOGSTASH).") var logstash: String?
    @Option(help: "Seconds to wait after a Logstash error (env VAMP_RETRY_TIMEOUT).") var retryTimeout: Double?
    @Option(help: "Folder for haproxy.cfg, the master socket and the gateways' sockets.") var workDirectory = ".vamp/gateway-agent"
    @Option(help: "The HAProxy binary.") var haproxy = "/usr/sbin/haproxy"
    @Option(help: "Folder of the gateways' unix sockets (default: <work-directory>/run, where the generator's relative default 'run' resolves); leave it unless vamp-server is told the same.")
    var socketDirectory: String?
    @Option(help: "A folder of your own HAProxy fragments (*.cfg), added to every configuration.") var fragments: String?
    @Option(help: "A UDP port on 127.0.0.1 that HAProxy logs to instead of the log socket (0: HAProxy logs nowhere, no Pulse, no Logstash).")
    var logPort: Int?
    @Option(help: "The unix datagram socket the agent creates for HAProxy's logs (log PATH local0); default <work-directory>/log.sock (UDP port 15514 when that path is over 107 bytes).")
    var logSocket: String?
    @Option(help: "Pulse: count HAProxy's log lines per second for vamp-server's metrics (on, off).") var pulse: PulseSwitch = .on
    @Option(help: "Pulse: this agent's name in its figures (default: the host name).") var pulseName: String?
    @Option(help: "Pulse: vamp-server's URL the figures go to, POST <url>/api/v1/pulse (env VAMP_URL; none: figures only in /metrics).")
    var vampURL: String?
    @Option(help: "Pulse: a file with a vamp-server token of the agent role (env VAMP_TOKEN_FILE).") var vampTokenFile: String?
    @Option(help: "Pulse: a vamp-server token of the agent role (env VAMP_TOKEN); prefer --vamp-token-file, as a flag shows in ps.")
    var vampToken: String?
    @Option(name: .customLong("vamp-ca-file"), help: "Pulse: the CA certificate (PEM) that signed vamp-server's HTTPS certificate, the only one trusted (env VAMP_CA_FILE; default: the system's CAs).")
    var vampCAFile: String?
    @Option(help: "host:port of /health and /metrics (empty: none).") var status = "127.0.0.1:19080"
    @Option(help: "KV key to write the agent's status to (empty: none).") var statusKey = ""
    @Option(help: "Seconds an old HAProxy worker may finish its connections (websockets, streams) after a reload (0: no limit).") var hardStopAfter = 30
    @Flag(help: "Leave HAProxy serving when the agent stops; the next agent on this work directory takes it over (as vamp-server's embedded agent does).")
    var keepHAProxy = false

    func run() async throws {
        // Everything the agent and HAProxy create (configuration, pid file, sockets, logs) is its user's alone.
        umask(0o077)
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "vamp.gateway-agent")
        logger.logLevel = .info
        let storeConfiguration = try await Self.storeConfiguration(
            flags: [("type", storeType), ("connection", storeConnection), ("path", storePath)], file: config)
        let key = storeConfiguration.path ?? KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")
        do {
            try KeyPath.validate(key)
        } catch {
            throw ValidationError("vamp.key-value-store.path (--store-path, VAMP_KEY_VALUE_STORE_PATH) '\(key)': \(error.message)")
        }
        let store = try storeConfiguration.makeStore(logger: logger)
        let retry = retryTimeout ?? environment["VAMP_RETRY_TIMEOUT"].flatMap(Double.init) ?? 5
        let logstashAddress = try (logstash ?? environment["VAMP_LOGSTASH"]).map { try Self.hostPort($0, what: "--logstash") }
        let statusAddress = status.isEmpty ? nil : try Self.hostPort(status, what: "--status")
        let work = URL(fileURLWithPath: workDirectory).standardizedFileURL
        let receiver = GatewayAgentConfiguration.logReceiver(
            socket: logSocket.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, port: logPort,
            needed: pulse == .on || logstashAddress != nil, workDirectory: work, fallbackPort: 15514)
        if let note = receiver.note { logger.warning("\(note)") }
        let pulseServer = try Self.pulseServer(
            url: vampURL ?? environment["VAMP_URL"], token: vampToken ?? environment["VAMP_TOKEN"],
            tokenFile: vampTokenFile ?? environment["VAMP_TOKEN_FILE"], caFile: vampCAFile ?? environment["VAMP_CA_FILE"])

        var configuration = GatewayAgentConfiguration(
            key: key,
            workDirectory: work,
            haproxyExecutable: haproxy,
            fragmentsDirectory: fragments.map { URL(fileURLWithPath: $0) },
            logPort: receiver.port,
            logSocket: receiver.socket,
            logstash: logstashAddress,
            retryTimeout: .milliseconds(Int(retry * 1000)),
            statusAddress: statusAddress,
            statusKey: statusKey.isEmpty ? nil : statusKey,
            hardStopAfter: hardStopAfter <= 0 ? nil : .seconds(hardStopAfter),
            socketDirectory: socketDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL })
        configuration.leavesHAProxyRunning = keepHAProxy
        configuration.pulse = .init(enabled: pulse == .on, name: pulseName, server: pulseServer)
        logger.info(
            "watching the configuration key",
            metadata: ["vamp.kv.key": "\(key)", "vamp.kv.store": "\(storeConfiguration.kind.rawValue)",
                       "vamp.haproxy.sockets": "\(configuration.socketDirectory.path)"])
        let agent = GatewayAgent(configuration: configuration, store: store, logger: logger)
        // SIGTERM and SIGINT shut the group down gracefully: the agent's own services stop in reverse order (the log
        // forwarder and status server first, HAProxy last: stopped, unless --keep-haproxy), then the store closes
        // its session.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: KeyValueStoreService(store: store)), .init(service: agent)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}
