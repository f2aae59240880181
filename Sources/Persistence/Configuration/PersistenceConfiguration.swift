import Foundation
public import Logging
import PostgresNIO
public import ServiceLifecycle

/// Which artifact and event stores to use and how to reach them: one value every host builds
/// its stores from, with ``makeStores(logger:)``.
public struct PersistenceConfiguration: Sendable {
    /// The store implementations.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// One SQLite file (the default of `vamp-server`).
        case sqlite
        /// A PostgreSQL database several servers can share.
        case postgres
        /// Elasticsearch (artifacts in `vamp-persistence`, events in `vamp-pulse-events` by default).
        case elasticsearch
        /// Process memory; lost on exit.
        case memory
    }

    /// How to reach PostgreSQL.
    public struct Postgres: Sendable {
        /// Server host name or IP address.
        public var host: String
        /// Server port.
        public var port: Int
        /// User name.
        public var username: String
        /// Password, if the server asks for one.
        public var password: String?
        /// Database name.
        public var database: String
        /// Prepended to every table name (one prefix per Vamp namespace).
        public var tablePrefix: String
        /// Whether and how the connection is encrypted (libpq's `sslmode`).
        public var tls: TLSMode = .disable
        /// The CA certificates (PEM) that sign the server's certificate, for ``TLSMode/verifyFull`` (libpq's
        /// `sslrootcert`); `nil`: the system's.
        public var caFile: String?

        /// How the connection to PostgreSQL is encrypted, by libpq's `sslmode` names.
        public enum TLSMode: String, Sendable, Hashable, CaseIterable {
            /// Plain TCP.
            case disable
            /// Encrypted, the server's certificate not checked (protects against listening, not against a server
            /// pretending to be yours).
            case require
            /// Encrypted, the server's certificate checked against the CA and its name against the host.
            case verifyFull = "verify-full"
        }

        /// Creates PostgreSQL settings.
        public init(
            host: String = "127.0.0.1", port: Int = 5432, username: String = "vamp", password: String? = nil,
            database: String = "vamp", tablePrefix: String = "vamp_"
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.tablePrefix = tablePrefix
        }

        /// Parses `postgres://user:password@host:port/database` (IPv6 hosts in brackets); parts
        /// the URL leaves out keep the values of `defaults`.
        public init(url: String, defaults: Postgres = Postgres()) throws(PersistenceError) {
            guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "")
            else {
                throw PersistenceError(
                    code: .invalidConfiguration,
                    message: "'\(url)' is not a PostgreSQL URL; write postgres://user:password@host:5432/database")
            }
            self = defaults
            if let host = components.host, !host.isEmpty {
                self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            }
            if let port = components.port { self.port = port }
            if let user = components.user, !user.isEmpty { username = user }
            if let password = components.password { self.password = password }
            let path = components.path.drop(while: { $0 == "/" })
            if !path.isEmpty { database = String(path) }
            for item in components.queryItems ?? [] {
                switch item.name {
                case "sslmode": tls = try Self.tlsMode(item.value ?? "", key: "sslmode")
                case "sslrootcert": caFile = item.value
                default:
                    throw PersistenceError(
                        code: .invalidConfiguration, message: "the PostgreSQL URL's parameter '\(item.name)' is not known; use sslmode or sslrootcert")
                }
            }
        }

        /// Reads an `sslmode` value.
        static func tlsMode(_ text: String, key: String) throws(PersistenceError) -> TLSMode {
            guard let mode = TLSMode(rawValue: text) else {
                throw PersistenceError(
                    code: .invalidConfiguration,
                    message: "\(key) '\(text)' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return mode
        }
    }

    /// The artifact store.
    public var artifacts: Kind
    /// The event store.
    public var events: Kind
    /// The SQLite settings (``Kind/sqlite``).
    public var sqlite: SQLiteStore.Configuration
    /// The PostgreSQL settings (``Kind/postgres``).
    public var postgres: Postgres
    /// The Elasticsearch settings for events (``Kind/elasticsearch``).
    public var elasticsearch: ElasticsearchEventStore.Configuration
    /// The Elasticsearch settings for artifacts (``Kind/elasticsearch``).
    public var elasticsearchArtifacts: ElasticsearchArtifactStore.Configuration
    /// Events older than this are deleted by the retention service; nil keeps them all.
    public var eventRetention: Duration?
    /// Time between two retention passes.
    public var retentionInterval: Duration

    /// Creates a configuration; by default artifacts and events go to one SQLite file.
    public init(
        artifacts: Kind = .sqlite, events: Kind? = nil, sqlite: SQLiteStore.Configuration = .init(),
        postgres: Postgres = Postgres(), elasticsearch: ElasticsearchEventStore.Configuration = .init(),
        elasticsearchArtifacts: ElasticsearchArtifactStore.Configuration = .init(),
        eventRetention: Duration? = nil, retentionInterval: Duration = .seconds(3600)
    ) {
        self.elasticsearchArtifacts = elasticsearchArtifacts
        self.artifacts = artifacts
        self.events = events ?? (artifacts == .elasticsearch ? .elasticsearch : artifacts)
        self.sqlite = sqlite
        self.postgres = postgres
        self.elasticsearch = elasticsearch
        self.eventRetention = eventRetention
        self.retentionInterval = retentionInterval
    }

    /// Builds the stores. Nothing talks to a server yet: run ``PersistenceStores`` (a `Service`)
    /// in the host's `ServiceGroup`, and wait for ``PersistenceStores/ready()`` before use.
    /// - Throws: ``PersistenceError`` (`invalidConfiguration`, or `storage` when SQLite cannot
    ///   open its file).
    public func makeStores(logger: Logger = Logger(label: "vamp.persistence")) throws(PersistenceError)
        -> PersistenceStores
    {
        if let eventRetention, eventRetention <= .zero {
            throw PersistenceError(code: .invalidConfiguration, message: "the event retention must be longer than zero")
        }
        var sqliteStore: SQLiteStore?
        var postgresStore: PostgresStore?
        var client: PostgresClient?
        func sqliteOne() throws(PersistenceError) -> SQLiteStore {
            if let sqliteStore { return sqliteStore }
            do {
                let store = try SQLiteStore(configuration: sqlite)
                sqliteStore = store
                return store
            } catch let error as PersistenceError {
                throw error
            } catch {
                throw PersistenceError.storage("opening SQLite", error)
            }
        }
        func postgresOne() throws(PersistenceError) -> PostgresStore {
            if let postgresStore { return postgresStore }
            let made = PostgresClient(
                configuration: .init(
                    host: postgres.host, port: postgres.port, username: postgres.username, password: postgres.password,
                    database: postgres.database, tls: try postgres.clientTLS()),
                backgroundLogger: PostgresConnectionLogHandler.logger(writingTo: logger))
            do {
                let store = try PostgresStore(
                    client: made, configuration: .init(tablePrefix: postgres.tablePrefix), logger: logger)
                client = made
                postgresStore = store
                return store
            } catch let error as PersistenceError {
                throw error
            } catch {
                throw PersistenceError.storage("configuring PostgreSQL", error)
            }
        }
        let memoryEvents = InMemoryEventStore()
        var elasticsearchArtifactStore: ElasticsearchArtifactStore?
        let artifactStore: any ArtifactStore
        switch artifacts {
        case .sqlite: artifactStore = try sqliteOne()
        case .postgres: artifactStore = try postgresOne()
        case .memory: artifactStore = InMemoryArtifactStore()
        case .elasticsearch:
            do {
                let store = try ElasticsearchArtifactStore(configuration: elasticsearchArtifacts)
                elasticsearchArtifactStore = store
                artifactStore = store
            } catch let error as PersistenceError {
                throw error
            } catch {
                throw PersistenceError.storage("configuring Elasticsearch", error)
            }
        }
        let eventStore: any EventStore
        var elasticsearchStore: ElasticsearchEventStore?
        switch events {
        case .sqlite: eventStore = try sqliteOne()
        case .postgres: eventStore = try postgresOne()
        case .memory: eventStore = memoryEvents
        case .elasticsearch:
            do {
                let store = try ElasticsearchEventStore(configuration: elasticsearch)
                elasticsearchStore = store
                eventStore = store
            } catch let error as PersistenceError {
                throw error
            } catch {
                throw PersistenceError.storage("configuring Elasticsearch", error)
            }
        }
        return PersistenceStores(
            artifacts: artifactStore, events: eventStore, postgresClient: client,
            postgres: postgresStore, elasticsearch: elasticsearchStore,
            elasticsearchArtifacts: elasticsearchArtifactStore,
            retention: eventRetention.map { ($0, retentionInterval) }, logger: logger)
    }
}

/// The stores a ``PersistenceConfiguration`` made, and the long-running work they need.
///
/// Run it in the host's `ServiceGroup`: it runs the PostgreSQL client (postgres-nio's
/// `PostgresClient.run()`), creates missing tables and indexes, relays the events other servers
/// append and the artifact changes they commit to a shared PostgreSQL database
/// (``PostgresNotificationRelay``), and applies the event retention on its schedule.
/// Stores that need none of these are ready at once.
public final class PersistenceStores: Service, Sendable {
    /// The artifact store.
    public let artifacts: any ArtifactStore
    /// The event store.
    public let events: any EventStore
    private let postgresClient: PostgresClient?
    private let postgres: PostgresStore?
    private let elasticsearch: ElasticsearchEventStore?
    private let elasticsearchArtifacts: ElasticsearchArtifactStore?
    private let retention: (maximumAge: Duration, interval: Duration)?
    private let logger: Logger
    private let readiness: Readiness

    init(
        artifacts: any ArtifactStore, events: any EventStore, postgresClient: PostgresClient?, postgres: PostgresStore?,
        elasticsearch: ElasticsearchEventStore?, elasticsearchArtifacts: ElasticsearchArtifactStore?,
        retention: (Duration, Duration)?, logger: Logger
    ) {
        self.elasticsearchArtifacts = elasticsearchArtifacts
        self.artifacts = artifacts
        self.events = events
        self.postgresClient = postgresClient
        self.postgres = postgres
        self.elasticsearch = elasticsearch
        self.retention = retention
        self.logger = logger
        self.readiness = Readiness()
    }

    /// Waits until the schema is in place (PostgreSQL tables, the Elasticsearch indices); throws
    /// what preparing it threw, or `CancellationError`.
    public func ready() async throws {
        try await readiness.wait()
    }

    /// Runs the client, prepares the schema, then relays and prunes until shutdown.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let postgresClient {
                // The client's own run() ends on cancellation: the group cancels it at the end.
                group.addTask { await postgresClient.run() }
            }
            do {
                try await postgres?.migrate()
                try await elasticsearch?.prepareIndex()
                try await elasticsearchArtifacts?.prepareIndices()
                await readiness.open(with: nil)
            } catch {
                await readiness.open(with: error)
                group.cancelAll()
                throw error
            }
            var services: [any Service] = []
            if let postgres { services.append(PostgresNotificationRelay(store: postgres, logger: logger)) }
            if let retention {
                services.append(
                    EventRetentionService(
                        store: events, maximumAge: retention.maximumAge, interval: retention.interval, logger: logger))
            }
            let work = services
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { inner in
                    for service in work { inner.addTask { try await service.run() } }
                    try await inner.waitForAll()
                }
            }
            // Until graceful shutdown (or cancellation): then stop the client and the rest.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// A one-shot gate: open once, waited on by any number of callers.
    private actor Readiness {
        private var result: Result<Void, any Error>?
        private var waiters: [CheckedContinuation<Void, any Error>] = []

        func open(with error: (any Error)?) {
            guard result == nil else { return }
            let outcome: Result<Void, any Error> = error.map { .failure($0) } ?? .success(())
            result = outcome
            for waiter in waiters { waiter.resume(with: outcome) }
            waiters = []
        }

        func wait() async throws {
            if let result { return try result.get() }
            try await withCheckedThrowingContinuation { waiters.append($0) }
        }
    }
}
