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
        ]
        if persistence.artifacts == .sqlite || persistence.events == .sqlite {
            shown["vamp.persistence.database.sqlite.path"] = persistence.sqlite.path
        }
    }
}
