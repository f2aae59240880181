import Configuration
import Foundation
import Logging
import Persistence
import ServiceLifecycle
import Testing
import VampModel
import VampTesting

@Suite("PersistenceConfiguration")
struct PersistenceConfigurationTests {
    @Test("reads vamp.persistence.* keys from an in-memory provider")
    func inMemory() throws {
        let config = ConfigReader(
            provider: InMemoryProvider(values: [
                "vamp.persistence.database.type": "postgres",
                "vamp.persistence.database.postgres.url": "postgres://vamp:s3cret@[::1]:5433/artifacts",
                "vamp.persistence.database.postgres.table-prefix": "acme_",
                "vamp.persistence.events.type": "elasticsearch",
                "vamp.persistence.events.elasticsearch.url": "http://127.0.0.1:9201",
                "vamp.persistence.events.retention": 86_400,
            ]))
        let configuration = try PersistenceConfiguration(config: config)
        #expect(configuration.artifacts == .postgres)
        #expect(configuration.events == .elasticsearch)
        #expect(configuration.postgres.host == "::1")
        #expect(configuration.postgres.port == 5433)
        #expect(configuration.postgres.username == "vamp")
        #expect(configuration.postgres.password == "s3cret")
        #expect(configuration.postgres.database == "artifacts")
        #expect(configuration.postgres.tablePrefix == "acme_")
        #expect(configuration.elasticsearch.url == "http://127.0.0.1:9201")
        #expect(configuration.eventRetention == .seconds(86_400))
    }

    @Test("defaults: artifacts and events in one SQLite file, no retention")
    func defaults() throws {
        let configuration = try PersistenceConfiguration(config: ConfigReader(provider: InMemoryProvider(values: [:])))
        #expect(configuration.artifacts == .sqlite)
        #expect(configuration.events == .sqlite)
        #expect(configuration.sqlite.path == ".vamp/vamp.sqlite")
        #expect(configuration.eventRetention == nil)
    }

    @Test("malformed values are refused and name the key")
    func refuses() throws {
        let cases: [([AbsoluteConfigKey: ConfigValue], String)] = [
            (["vamp.persistence.database.type": "mysql"], "vamp.persistence.database.type: 'mysql'"),
            (["vamp.persistence.events.type": "nats"], "vamp.persistence.events.type"),
            (["vamp.persistence.database.postgres.url": "mysql://host/db"], "not a PostgreSQL URL"),
            (["vamp.persistence.database.postgres.port": 70000], "database.postgres.port"),
            (["vamp.persistence.events.retention": -5], "vamp.persistence.events.retention"),
        ]
        for (values, message) in cases {
            #expect {
                try PersistenceConfiguration(config: ConfigReader(provider: InMemoryProvider(values: values)))
            } throws: { error in
                (error as? PersistenceError)?.code == .invalidConfiguration
                    && (error as? PersistenceError)?.message.contains(message) == true
            }
        }
    }

    @Test("VAMP_PERSISTENCE_* variables build a SQLite store whose retention runs as a service")
    func sqliteWithRetention() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-persistence-config")
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("vamp.sqlite").path
        let config = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: [
                "VAMP_PERSISTENCE_DATABASE_TYPE": "sqlite",
                "VAMP_PERSISTENCE_DATABASE_SQLITE_PATH": path,
                "VAMP_PERSISTENCE_EVENTS_RETENTION": "3600",
                "VAMP_PERSISTENCE_EVENTS_RETENTION_INTERVAL": "0.05",
            ]))
        let stores = try PersistenceConfiguration(config: config).makeStores()
        try await stores.events.append(Event(tags: ["old"], timestamp: Date() - 7200))
        try await stores.events.append(Event(tags: ["new"]))
        _ = try await stores.artifacts.create(kind: "breeds", name: "sava", body: Data("{}".utf8))
        let group = ServiceGroup(configuration: .init(services: [.init(service: stores)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await stores.ready()
            let deadline = ContinuousClock.now + .seconds(10)
            while try await stores.events.latest(matching: EventQuery(tags: ["old"])) != nil,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(try await stores.events.latest(matching: EventQuery(tags: ["old"])) == nil)
        #expect(try await stores.events.latest(matching: EventQuery(tags: ["new"])) != nil)
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test("Elasticsearch for artifacts and events from the configuration (fake server)")
    func elasticsearch() async throws {
        let fake = try await FakeElasticsearch.start()
        do {
            let config = ConfigReader(
                provider: EnvironmentVariablesProvider(environmentVariables: [
                    "VAMP_PERSISTENCE_DATABASE_TYPE": "elasticsearch",
                    "VAMP_PERSISTENCE_DATABASE_ELASTICSEARCH_URL": fake.url,
                    "VAMP_PERSISTENCE_EVENTS_ELASTICSEARCH_URL": fake.url,
                ]))
            let configuration = try PersistenceConfiguration(config: config)
            #expect(configuration.artifacts == .elasticsearch)
            #expect(configuration.events == .elasticsearch)
            let stores = try configuration.makeStores()
            let group = ServiceGroup(configuration: .init(services: [.init(service: stores)], logger: Logger(label: "test")))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await stores.ready()
                let created = try await stores.artifacts.create(kind: "breeds", name: "sava", body: Data("{}".utf8))
                #expect(try await stores.artifacts.read(kind: "breeds", name: "sava") == created)
                try await stores.events.append(Event(tags: ["deployments:sava"], value: .object(["a": .object(["b": .number(4)])])))
                #expect(try await stores.events.latest(matching: EventQuery(tags: ["deployments"])) != nil)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(fake.state.searchableCount("vamp-persistence") == 1)
            #expect(fake.state.searchableCount("vamp-persistence-changes") == 1)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test("PostgreSQL from the configuration: the service migrates and relays events and change notices between servers")
    func postgresRelay() async throws {
        let server = try await SharedPostgres.shared.server()
        let database = "config_" + UUID().uuidString.prefix(8).lowercased()
        try server.createDatabase(database)
        let config = ConfigReader(
            provider: InMemoryProvider(values: [
                "vamp.persistence.database.type": "postgres",
                "vamp.persistence.database.postgres.url": .init(
                    stringLiteral: "postgres://\(server.username)@\(server.host):\(server.port)/\(database)"),
            ]))
        var logger = Logger(label: "vamp.persistence.tests")
        logger.logLevel = .error
        let first = try PersistenceConfiguration(config: config).makeStores(logger: logger)
        let second = try PersistenceConfiguration(config: config).makeStores(logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: first), .init(service: second)], logger: logger))
        let notices = second.artifacts.changeNotices()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await first.ready()
            try await second.ready()
            // The relay's notice when it starts listening, then the one of the other server's write.
            try await within(.seconds(10), "the relay's first notice") { try await nextElement(of: notices) }
            let created = try await first.artifacts.create(kind: "breeds", name: "sava", body: Data("{}".utf8))
            try await within(.seconds(5), "the notice of the other server's write") { try await nextElement(of: notices) }
            #expect(try await second.artifacts.read(kind: "breeds", name: "sava")?.version == created.version)
            let subscription = second.events.subscribe(EventFilter(tags: ["deployments:sava"]))
            // The relay starts listening shortly after ready(): append until one event arrives.
            let appender = Task {
                var step = 0
                while !Task.isCancelled {
                    step += 1
                    _ = try? await first.events.append(Event(tags: ["deployments:sava"], value: .number(Double(step))))
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let delivered = await firstEvent(of: subscription, within: .seconds(10))
            appender.cancel()
            #expect(delivered?.tags == ["deployments", "deployments:sava"])
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// The first event of `stream`, or nil when none arrives within `limit`.
private func firstEvent(of stream: AsyncStream<Event>, within limit: Duration) async -> Event? {
    await withTaskGroup(of: Event?.self) { group in
        group.addTask {
            for await event in stream { return event }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
