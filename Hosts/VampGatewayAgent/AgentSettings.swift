import ArgumentParser
import Configuration
import Foundation
import GatewayAgent
import KVStores

extension AgentCommand {
    /// The store from flags (first), the environment, the YAML file and the defaults, through the shared
    /// `KeyValueStoreConfiguration` every host uses.
    static func storeConfiguration(flags: [(String, String?)], file: String?) async throws -> KeyValueStoreConfiguration {
        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for case (let name, let value?) in flags { flagValues[AbsoluteConfigKey(["vamp", "key-value-store", name])] = .init(stringLiteral: value) }
        var providers: [any ConfigProvider] = [InMemoryProvider(name: "flags", values: flagValues), EnvironmentVariablesProvider()]
        if let file {
            let location = ConfigReader(provider: InMemoryProvider(values: ["filePath": .init(stringLiteral: file)]))
            providers.append(try await FileProvider<YAMLSnapshot>(config: location))
        }
        providers.append(InMemoryProvider(name: "defaults", values: [
            "vamp.key-value-store.type": "file", "vamp.key-value-store.connection": ".vamp/kv",
        ]))
        do {
            return try KeyValueStoreConfiguration(config: ConfigReader(providers: providers))
        } catch {
            // Name the setting and the value, not only the rule.
            if error.code == .invalidKey, let key = error.key {
                throw ValidationError("vamp.key-value-store.path (--store-path, VAMP_KEY_VALUE_STORE_PATH) '\(key)': \(error.message)")
            }
            throw ValidationError(error.message)
        }
    }

    static func hostPort(_ text: String, what: String) throws -> (host: String, port: Int) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
            throw ValidationError("\(what) must be host:port, not '\(text)'")
        }
        return (String(parts[0]), port)
    }

    /// Pulse's destination from `--vamp-url`, its token and the CA file of an HTTPS server: nil without a URL; a URL
    /// that is not http(s), or a CA file that does not read, is an error.
    static func pulseServer(url: String?, token: String?, tokenFile: String?, caFile: String? = nil) throws -> GatewayAgentConfiguration.PulseServer? {
        guard let url = url.flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        guard (url.hasPrefix("http://") && url.count > 7) || (url.hasPrefix("https://") && url.count > 8) else {
            throw ValidationError("--vamp-url (VAMP_URL) must be vamp-server's http:// or https:// URL, not '\(url)'")
        }
        let caFile = caFile.flatMap { $0.isEmpty ? nil : $0 }
        if let caFile {
            guard let text = try? String(contentsOfFile: caFile, encoding: .utf8) else {
                throw ValidationError("--vamp-ca-file (VAMP_CA_FILE) \(caFile): cannot be read; check that it exists and is readable")
            }
            guard text.contains("-----BEGIN CERTIFICATE-----") else {
                throw ValidationError("--vamp-ca-file (VAMP_CA_FILE) \(caFile): holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
        }
        return .init(url: url, token: token.flatMap { $0.isEmpty ? nil : $0 }, tokenFile: tokenFile.flatMap { $0.isEmpty ? nil : $0 }, caFile: caFile)
    }
}

/// `--pulse on|off`.
enum PulseSwitch: String, ExpressibleByArgument, CaseIterable {
    case on, off
}
