import ArgumentParser
import Foundation
import GatewayAgent
import KVStores
import Logging

/// `vamp-gateway-agent`: keeps HAProxy on the configuration Vamp writes to a KV store.
/// Flags override the original agent's environment variables, which override the defaults.
@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vamp-gateway-agent",
        abstract: "Watch Vamp's HAProxy configuration in etcd, ZooKeeper, Consul or a folder, and reload HAProxy seamlessly on every change.",
        discussion: """
        Environment variables (as the original agent): VAMP_KEY_VALUE_STORE_TYPE, VAMP_KEY_VALUE_STORE_CONNECTION, \
        VAMP_KEY_VALUE_STORE_PATH, VAMP_LOGSTASH (host:port), VAMP_RETRY_TIMEOUT (seconds).
        """)

    @Option(help: "etcd, zookeeper, consul or file (env VAMP_KEY_VALUE_STORE_TYPE).") var storeType: String?
    @Option(help: "etcd/Consul URL, ZooKeeper host:port[,host:port], or the folder of the file store (env VAMP_KEY_VALUE_STORE_CONNECTION).") var storeConnection: String?
    @Option(help: "The key with the configuration (env VAMP_KEY_VALUE_STORE_PATH).") var storePath: String?
    @Option(help: "Logstash host:port for HAProxy's log lines, over UDP (env VAMP_LOGSTASH).") var logstash: String?
    @Option(help: "Seconds to wait after a Logstash error (env VAMP_RETRY_TIMEOUT).") var retryTimeout: Double?
    @Option(help: "Folder for haproxy.cfg, the master socket and the gateways' sockets.") var workDirectory = ".vamp/gateway-agent"
    @Option(help: "The HAProxy binary.") var haproxy = "/usr/sbin/haproxy"
    @Option(help: "A folder of your own HAProxy fragments (*.cfg), added to every configuration.") var fragments: String?
    @Option(help: "UDP port on 127.0.0.1 that HAProxy logs to (0: no log forwarding).") var logPort = 15514
    @Option(help: "host:port of /health and /metrics (empty: none).") var status = "127.0.0.1:19080"
    @Option(help: "KV key to write the agent's status to (empty: none).") var statusKey = ""
    @Option(help: "Seconds an old HAProxy worker may finish its connections (websockets, streams) after a reload (0: no limit).") var hardStopAfter = 30

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let type = storeType ?? environment["VAMP_KEY_VALUE_STORE_TYPE"] ?? "file"
        let connection = storeConnection ?? environment["VAMP_KEY_VALUE_STORE_CONNECTION"]
        guard let key = storePath ?? environment["VAMP_KEY_VALUE_STORE_PATH"] ?? Optional(KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")) else {
            throw ValidationError("give the key with --store-path or VAMP_KEY_VALUE_STORE_PATH")
        }
        let retry = retryTimeout ?? environment["VAMP_RETRY_TIMEOUT"].flatMap(Double.init) ?? 5
        let logstashAddress = try (logstash ?? environment["VAMP_LOGSTASH"]).map { try Self.hostPort($0, what: "--logstash") }
        let statusAddress = status.isEmpty ? nil : try Self.hostPort(status, what: "--status")

        var logger = Logger(label: "vamp.gateway-agent")
        logger.logLevel = .info
        let store: any KeyValueStore
        switch type.lowercased() {
        case "etcd":
            store = EtcdKeyValueStore(configuration: .init(endpoint: connection ?? "http://127.0.0.1:2379"), logger: logger)
        case "zookeeper", "zk":
            store = ZooKeeperKeyValueStore(configuration: .init(servers: (connection ?? "127.0.0.1:2181").split(separator: ",").map(String.init)), logger: logger)
        case "consul":
            store = ConsulKeyValueStore(configuration: .init(address: connection ?? "http://127.0.0.1:8500"), logger: logger)
        case "file":
            store = try FileKeyValueStore(root: URL(fileURLWithPath: connection ?? ".vamp/kv"))
        default:
            throw ValidationError("unknown store type '\(type)'; use etcd, zookeeper, consul or file")
        }
        let configuration = GatewayAgentConfiguration(
            key: key,
            workDirectory: URL(fileURLWithPath: workDirectory).standardizedFileURL,
            haproxyExecutable: haproxy,
            fragmentsDirectory: fragments.map { URL(fileURLWithPath: $0) },
            logPort: logPort == 0 ? nil : logPort,
            logstash: logstashAddress,
            retryTimeout: .milliseconds(Int(retry * 1000)),
            statusAddress: statusAddress,
            statusKey: statusKey.isEmpty ? nil : statusKey,
            hardStopAfter: hardStopAfter <= 0 ? nil : .seconds(hardStopAfter))
        logger.info("watching \(type) key \(key); HAProxy sockets in \(configuration.socketDirectory.path)")
        let agent = GatewayAgent(configuration: configuration, store: store, logger: logger)
        // SIGTERM and SIGINT cancel the agent, which stops HAProxy before the process exits.
        let task = Task { try await agent.run() }
        let sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { task.cancel() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            try await task.value
        } catch is CancellationError {
            logger.info("stopped")
        }
    }

    static func hostPort(_ text: String, what: String) throws -> (host: String, port: Int) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
            throw ValidationError("\(what) must be host:port, not '\(text)'")
        }
        return (String(parts[0]), port)
    }
}
