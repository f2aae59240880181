import ArgumentParser
import Configuration
import Foundation
import HAProxyConfigGen
import KVStores
import Logging
import Persistence
import VampAPI
import VampModel

/// Every setting of `vamp-server`, read once at start through swift-configuration. A malformed value stops the
/// server with a message naming the key.
struct ServerSettings: Sendable {
    var interface: String
    var port: Int
    var maximumBodySize: Int
    var logLevel: Logger.Level
    var namespace: String
    var gatewayPortRange: ClosedRange<Int>
    var haproxyVersion: String
    /// The `haproxy` binary gateway changes are checked with, or `nil` for the generator's checks alone.
    var haproxyCheck: String?
    var haproxyBase: String
    var resyncInterval: Duration
    /// How many namespaces besides the default one may be opened (`vamp.namespaces.maximum`).
    var maximumNamespaces: Int
    var persistence: PersistenceConfiguration
    /// Reads from memory: only where this server is the store's one writer (SQLite, memory).
    var cacheReads: Bool { [.sqlite, .memory].contains(persistence.artifacts) }
    var keyValueStore: KeyValueStoreConfiguration
    /// The HAProxy binary (`vamp.gateway-driver.haproxy.executable`): the check's and the embedded agent's.
    var haproxyExecutable: String
    /// The gateway agent run inside the server, or nil when a separate `vamp-gateway-agent` watches the key.
    var embeddedAgent: EmbeddedAgentSettings?
    /// Why the agent is not embedded (for the start-up log), when it is not.
    var notEmbeddedBecause: String?
    var information: ServerInformation
    /// What `GET /config` shows.
    var shown: [String: String]

    init(config: ConfigReader) throws {
        func fail(_ key: String, _ why: String) -> ValidationError { ValidationError("\(key): \(why)") }
        interface = config.string(forKey: "vamp.http-api.interface", default: "127.0.0.1")
        guard let port = Int(config.string(forKey: "vamp.http-api.port") ?? "8080"), (0...65535).contains(port) else {
            throw fail("vamp.http-api.port (--port, VAMP_HTTP_API_PORT)", "'\(config.string(forKey: "vamp.http-api.port") ?? "")' is not a port number (0 to 65535)")
        }
        self.port = port
        let bodyText = config.string(forKey: "vamp.http-api.max-body-size") ?? String(16 << 20)
        guard let body = Int(bodyText), body > 0 else {
            throw fail("vamp.http-api.max-body-size (VAMP_HTTP_API_MAX_BODY_SIZE)", "'\(bodyText)' is not a number of bytes above 0")
        }
        maximumBodySize = body
        let level = config.string(forKey: "vamp.log-level", default: "info")
        guard let logLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw fail("vamp.log-level (--log-level, VAMP_LOG_LEVEL)", "'\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        self.logLevel = logLevel
        namespace = config.string(forKey: "vamp.namespace", default: "vamp")
        guard !namespace.isEmpty, namespace.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw fail("vamp.namespace (VAMP_NAMESPACE)", "'\(namespace)' may hold only letters, digits, '-' and '_'")
        }
        let rangeText = config.string(forKey: "vamp.operation.gateway.port-range", default: "40000-45000")
        let bounds = rangeText.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard bounds.count == 2, bounds[0] >= 1, bounds[0] <= bounds[1], bounds[1] <= 65535 else {
            throw fail("vamp.operation.gateway.port-range (VAMP_OPERATION_GATEWAY_PORT_RANGE)", "'\(rangeText)' is not a range such as 40000-45000")
        }
        gatewayPortRange = bounds[0]...bounds[1]
        haproxyVersion = config.string(forKey: "vamp.gateway-driver.haproxy.version", default: "2.6")
        let executable = config.string(forKey: "vamp.gateway-driver.haproxy.executable", default: "/usr/sbin/haproxy")
        let checkText = config.string(forKey: "vamp.gateway-driver.haproxy.check", default: "auto").lowercased()
        switch checkText {
        case "auto": haproxyCheck = FileManager.default.isExecutableFile(atPath: executable) ? executable : nil
        case "true", "on", "yes": haproxyCheck = executable
        case "false", "off", "no": haproxyCheck = nil
        default:
            throw fail("vamp.gateway-driver.haproxy.check (VAMP_GATEWAY_DRIVER_HAPROXY_CHECK)", "'\(checkText)' is not auto, true or false")
        }
        if let haproxyCheck, !FileManager.default.isExecutableFile(atPath: haproxyCheck) {
            throw fail("vamp.gateway-driver.haproxy.check", "HAProxy is not at \(haproxyCheck); install it (apt-get install haproxy), set vamp.gateway-driver.haproxy.executable, or set the check to false")
        }
        haproxyExecutable = executable
        let embeddedText = config.string(forKey: "vamp.gateway-agent.embedded", default: "auto").lowercased()
        let haproxyInstalled = FileManager.default.isExecutableFile(atPath: executable)
        let embedded: Bool
        switch embeddedText {
        case "auto":
            embedded = haproxyInstalled
            if !haproxyInstalled {
                notEmbeddedBecause = "HAProxy is not at \(executable) (vamp.gateway-driver.haproxy.executable); install it (apt-get install haproxy) and start the server again, or run a vamp-gateway-agent where HAProxy is"
            }
        case "true", "on", "yes":
            guard haproxyInstalled else {
                throw fail("vamp.gateway-agent.embedded (VAMP_GATEWAY_AGENT_EMBEDDED)", "true, but HAProxy is not at \(executable); install it (apt-get install haproxy), set vamp.gateway-driver.haproxy.executable, or set vamp.gateway-agent.embedded to false and run a vamp-gateway-agent")
            }
            embedded = true
        case "false", "off", "no":
            embedded = false
            notEmbeddedBecause = "vamp.gateway-agent.embedded is false; a separate vamp-gateway-agent must watch the key"
        default:
            throw fail("vamp.gateway-agent.embedded (VAMP_GATEWAY_AGENT_EMBEDDED)", "'\(embeddedText)' is not auto, true or false")
        }
        embeddedAgent = embedded ? try EmbeddedAgentSettings(config: config) : nil
        haproxyBase = (try? HAProxyBaseConfiguration().render()) ?? ""
        let resyncText = config.string(forKey: "vamp.gateway-driver.resync-interval") ?? "5"
        guard let resync = Double(resyncText), resync > 0 else {
            throw fail("vamp.gateway-driver.resync-interval (VAMP_GATEWAY_DRIVER_RESYNC_INTERVAL)", "'\(resyncText)' is not a number of seconds above 0")
        }
        resyncInterval = .milliseconds(Int(resync * 1000))
        let maximumText = config.string(forKey: "vamp.namespaces.maximum") ?? "16"
        guard let maximum = Int(maximumText), maximum >= 0 else {
            throw fail("vamp.namespaces.maximum (VAMP_NAMESPACES_MAXIMUM)", "'\(maximumText)' is not a number of namespaces (0 or more)")
        }
        maximumNamespaces = maximum
        do {
            persistence = try PersistenceConfiguration(config: config)
        } catch {
            throw ValidationError(error.message)
        }
        do {
            keyValueStore = try KeyValueStoreConfiguration(config: config)
        } catch {
            throw ValidationError(error.message)
        }

        var kv: [String: JSONValue] = ["type": .string(keyValueStore.kind.rawValue)]
        if keyValueStore.kind == .file { kv["directory"] = .string(keyValueStore.directory) }
        information = ServerInformation(sections: [
            "persistence": .object(["database": .object(["type": .string(persistence.artifacts.rawValue)])]),
            "key_value": .object(kv),
            "pulse": .object(["type": .string(persistence.events.rawValue)]),
            "gateway_driver": .object(["marshallers": .array([.object(["type": .string("haproxy"), "name": .string(haproxyVersion)])])]),
            "gateway_agent": .object(embeddedAgent.map { agent in
                ["embedded": .bool(true), "work_directory": .string(agent.workDirectory.path), "haproxy": .string(executable)]
            } ?? ["embedded": .bool(false), "reason": .string(notEmbeddedBecause ?? "")]),
            "container_driver": .object(["type": .string("none")]),
            "workflow_driver": .object(["type": .string("none")]),
        ])
        shown = [
            "vamp.http-api.interface": interface, "vamp.http-api.port": String(port),
            "vamp.http-api.max-body-size": String(maximumBodySize), "vamp.namespace": namespace,
            "vamp.operation.gateway.port-range": "\(gatewayPortRange.lowerBound)-\(gatewayPortRange.upperBound)",
            "vamp.gateway-driver.haproxy.version": haproxyVersion,
            "vamp.gateway-driver.haproxy.check": haproxyCheck == nil ? "false" : "true",
            "vamp.gateway-driver.resync-interval": resyncText,
            "vamp.namespaces.maximum": String(maximumNamespaces),
            "vamp.persistence.database.type": persistence.artifacts.rawValue,
            "vamp.persistence.events.type": persistence.events.rawValue,
            "vamp.key-value-store.type": keyValueStore.kind.rawValue,
            "vamp.gateway-driver.haproxy.executable": executable,
            "vamp.gateway-agent.embedded": embeddedAgent == nil ? "false" : "true",
        ]
        if let embeddedAgent {
            shown["vamp.gateway-agent.work-directory"] = embeddedAgent.workDirectory.path
            shown["vamp.gateway-agent.status"] = embeddedAgent.status.map { "\($0.host):\($0.port)" } ?? ""
            shown["vamp.gateway-agent.log-port"] = String(embeddedAgent.logPort ?? 0)
            shown["vamp.gateway-agent.log-socket"] = embeddedAgent.logSocket ?? ""
            shown["vamp.gateway-agent.logstash"] = embeddedAgent.logstash.map { "\($0.host):\($0.port)" } ?? ""
        }
        if persistence.artifacts == .sqlite || persistence.events == .sqlite {
            shown["vamp.persistence.database.sqlite.path"] = persistence.sqlite.path
        }
    }
}

/// The settings of the gateway agent `vamp-server` runs in-process (`vamp.gateway-agent.*`); the HAProxy binary
/// is `vamp.gateway-driver.haproxy.executable`, the key the one the synchroniser writes.
struct EmbeddedAgentSettings: Sendable {
    /// `haproxy.cfg`, the master socket, the pid file and HAProxy's output (`vamp.gateway-agent.work-directory`).
    var workDirectory: URL
    /// `/health` and `/metrics` of the agent (`vamp.gateway-agent.status`, host:port; default none).
    var status: (host: String, port: Int)?
    /// The UDP port on 127.0.0.1 HAProxy logs to (`vamp.gateway-agent.log-port`; default 0, none).
    var logPort: Int?
    /// The unix datagram socket HAProxy logs to, which the agent creates (`vamp.gateway-agent.log-socket`, a
    /// path; default none). Used instead of `log-port` when both are set.
    var logSocket: String?
    /// Where the log lines go (`vamp.gateway-agent.logstash`, host:port; default none).
    var logstash: (host: String, port: Int)?

    init(config: ConfigReader) throws {
        func fail(_ key: String, _ why: String) -> ValidationError {
            ValidationError("vamp.gateway-agent.\(key) (VAMP_GATEWAY_AGENT_\(key.uppercased().replacingOccurrences(of: "-", with: "_"))): \(why)")
        }
        func address(_ key: String) throws -> (host: String, port: Int)? {
            let text = config.string(forKey: ConfigKey(["vamp", "gateway-agent", key]), default: "")
            guard !text.isEmpty else { return nil }
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
                  colon > text.startIndex
            else { throw fail(key, "'\(text)' is not host:port") }
            return (String(text[..<colon]), port)
        }
        let folder = config.string(forKey: "vamp.gateway-agent.work-directory", default: ".vamp/gateway-agent")
        workDirectory = URL(fileURLWithPath: folder).standardizedFileURL
        status = try address("status")
        logstash = try address("logstash")
        let logPortText = config.string(forKey: "vamp.gateway-agent.log-port", default: "0")
        guard let logPort = Int(logPortText), (0...65535).contains(logPort) else {
            throw fail("log-port", "'\(logPortText)' is not a port number (0 for none)")
        }
        let socketText = config.string(forKey: "vamp.gateway-agent.log-socket", default: "")
        logSocket = socketText.isEmpty ? nil : URL(fileURLWithPath: socketText).standardizedFileURL.path
        self.logPort = logPort == 0 || logSocket != nil ? nil : logPort
    }
}
