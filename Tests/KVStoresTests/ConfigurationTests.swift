import Configuration
import Foundation
import KVStores
import Logging
import ServiceLifecycle
import Testing
import VampTesting

@Suite("Endpoint parsing")
struct EndpointTests {
    @Test(
        "host:port, IPv6 literals and URLs",
        arguments: [
            ("etcd:2379", "etcd", 2379), ("10.0.0.5", "10.0.0.5", 1), ("[::1]:2379", "::1", 2379),
            ("[::1]", "::1", 1), ("::1", "::1", 1), ("fd00::5", "fd00::5", 1),
            ("http://[fd00::5]:8500/v1", "fd00::5", 8500), ("https://etcd.example:2379", "etcd.example", 2379),
            (" zk1:2181 ", "zk1", 2181),
        ])
    func parses(_ text: String, _ host: String, _ port: Int) throws {
        let endpoint = try Endpoint(parsing: text, defaultPort: 1)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
    }

    @Test("IPv6 hosts are bracketed when printed")
    func printsIPv6() {
        #expect(Endpoint(host: "::1", port: 2379).description == "[::1]:2379")
        #expect(Endpoint(host: "::1", port: 2379).url() == "http://[::1]:2379")
        #expect(Endpoint(host: "zk", port: 2181).description == "zk:2181")
    }

    @Test("malformed addresses are refused with a clear error", arguments: ["", "host:99999", "host:0", "host:abc", "[::1", "[::1]x", "[host]:1", ":2379", "a b:1", "::g"])
    func refuses(_ text: String) {
        #expect {
            try Endpoint(parsing: text, defaultPort: 2379)
        } throws: { error in
            (error as? KeyValueStoreError)?.code == .invalidConfiguration
                && (error as? KeyValueStoreError)?.message.contains("not a server address") == true
        }
    }

    @Test("a comma-separated list keeps its order")
    func list() throws {
        let endpoints = try Endpoint.list(parsing: "zk1:2181,[::1]:2182,zk3", defaultPort: 2181)
        #expect(endpoints == [.init(host: "zk1", port: 2181), .init(host: "::1", port: 2182), .init(host: "zk3", port: 2181)])
    }
}

@Suite("KeyValueStoreConfiguration")
struct KeyValueStoreConfigurationTests {
    @Test("reads the agent's keys from an in-memory provider")
    func inMemory() throws {
        let config = ConfigReader(
            provider: InMemoryProvider(values: [
                "vamp.key-value-store.type": "etcd",
                "vamp.key-value-store.connection": "http://[::1]:2379,127.0.0.1:2380",
                "vamp.key-value-store.path": "/vamp/vamp/gateways/haproxy/2.6/configuration",
                "vamp.key-value-store.timeout.request": 2.5,
            ]))
        let configuration = try KeyValueStoreConfiguration(config: config)
        #expect(configuration.kind == .etcd)
        #expect(configuration.endpoints == [.init(host: "::1", port: 2379), .init(host: "127.0.0.1", port: 2380)])
        #expect(configuration.path == "/vamp/vamp/gateways/haproxy/2.6/configuration")
        #expect(configuration.timeouts.request == .milliseconds(2500))
        #expect(configuration.timeouts.session == .seconds(10))
        let store = try configuration.makeStore()
        #expect((store as? EtcdKeyValueStore)?.configuration.endpoint == "http://[::1]:2379")
        #expect((store as? EtcdKeyValueStore)?.configuration.requestTimeout == .milliseconds(2500))
    }

    @Test("VAMP_KEY_VALUE_STORE_* environment variables")
    func environment() throws {
        let config = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: [
                "VAMP_KEY_VALUE_STORE_TYPE": "zookeeper",
                "VAMP_KEY_VALUE_STORE_CONNECTION": "zk1:2181,[fd00::7]",
                "VAMP_KEY_VALUE_STORE_PATH": "/vamp/gateways/haproxy/1.6",
            ]))
        let configuration = try KeyValueStoreConfiguration(config: config)
        #expect(configuration.kind == .zookeeper)
        #expect(configuration.endpoints == [.init(host: "zk1", port: 2181), .init(host: "fd00::7", port: 2181)])
        let store = try #require(try configuration.makeStore() as? ZooKeeperKeyValueStore)
        _ = store
    }

    @Test("a YAML file with the environment on top")
    func yamlAndEnvironment() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-config")
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("vamp.yaml")
        try """
        vamp:
          key-value-store:
            type: consul
            connection: http://127.0.0.1:8500
            token: from-the-file
            timeout:
              watch-wait: 3
        """.write(to: file, atomically: true, encoding: .utf8)
        let yaml = try await FileProvider<YAMLSnapshot>(
            config: ConfigReader(provider: InMemoryProvider(values: ["filePath": .init(stringLiteral: file.path)])))
        let environment = EnvironmentVariablesProvider(environmentVariables: [
            "VAMP_KEY_VALUE_STORE_CONNECTION": "[::1]:8501"
        ])
        let configuration = try KeyValueStoreConfiguration(config: ConfigReader(providers: [environment, yaml]))
        #expect(configuration.kind == .consul)
        #expect(configuration.endpoints == [.init(host: "::1", port: 8501)])
        #expect(configuration.token == "from-the-file")
        #expect(configuration.timeouts.watchWait == .seconds(3))
        let store = try #require(try configuration.makeStore() as? ConsulKeyValueStore)
        #expect(store.configuration.address == "http://[::1]:8501")
        #expect(store.configuration.token == "from-the-file")
    }

    @Test("a missing or unknown type, a bad address or timeout is refused and names the key")
    func refuses() {
        let cases: [([AbsoluteConfigKey: ConfigValue], String)] = [
            ([:], "vamp.key-value-store.type: missing"),
            (["vamp.key-value-store.type": "redis"], "'redis' is not a store type"),
            (["vamp.key-value-store.type": "etcd", "vamp.key-value-store.connection": "etcd:0"], "not a server address"),
            (["vamp.key-value-store.type": "etcd", "vamp.key-value-store.timeout.request": -1], "timeout.request"),
            (["vamp.key-value-store.type": "memory", "vamp.key-value-store.path": "vamp/x"], "must start with /"),
        ]
        for (values, message) in cases {
            #expect {
                try KeyValueStoreConfiguration(config: ConfigReader(provider: InMemoryProvider(values: values)))
            } throws: { error in
                guard let error = error as? KeyValueStoreError else { return false }
                return error.code == .invalidConfiguration || error.code == .invalidKey
                    ? error.message.contains(message) : false
            }
        }
    }

    @Test("the file and memory stores made from a configuration work")
    func localStores() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-config-file")
        defer { folder.remove() }
        let directory = folder.url.appendingPathComponent("kv").path
        for configuration in [
            try KeyValueStoreConfiguration(kind: .file, connection: directory),
            KeyValueStoreConfiguration(kind: .memory),
        ] {
            let store = try configuration.makeStore()
            try await store.set("/vamp/a", string: "one")
            #expect(try await store.get("/vamp/a")?.string == "one")
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!written.isEmpty)
    }

    @Test("the ZooKeeper session ends with the service group (real server)")
    func zooKeeperService() async throws {
        let server = try await ZooKeeperServer.start()
        let store = try KeyValueStoreConfiguration(kind: .zookeeper, connection: server.address).makeStore()
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: KeyValueStoreService(store: store))], logger: .init(label: "test")))
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await store.set("/vamp/service", string: "up")
                #expect(try await store.get("/vamp/service")?.string == "up")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            // The server is still up: only the closed session makes this fail.
            await #expect(throws: KeyValueStoreError.self) { try await store.get("/vamp/service") }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}
