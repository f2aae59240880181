import ArgumentParser
import Configuration
import Foundation
import VampServerKit

#if canImport(Glibc)
import Glibc
#endif

/// `vamp-server`: Vamp's REST API, its stores, the gateway synchroniser, the reconciler and the embedded gateway
/// agent (`VampServerKit`). This entry point only parses the flags and runs it.
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
        // Everything the server creates (database, logs, records, KV files, HAProxy's files and sockets) is its
        // user's alone: 0600 files, 0700 folders (Documentation/security.md, "Files and sockets").
        umask(0o077)
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
            print(await VampServer.stopGateway(config: reader))
            return
        }
        do {
            try await VampServer.run(config: reader)
        } catch let error as VampServer.StartError {
            throw ValidationError(error.description)
        }
    }
}
