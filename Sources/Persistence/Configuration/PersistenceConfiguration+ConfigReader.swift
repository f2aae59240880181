public import Configuration

extension PersistenceConfiguration {
    /// Reads the configuration through swift-configuration, with Vamp's `vamp.persistence.*`
    /// key names; with `EnvironmentVariablesProvider` they are `VAMP_PERSISTENCE_*` variables.
    ///
    /// ## Configuration keys
    /// - `vamp.persistence.database.type` (`VAMP_PERSISTENCE_DATABASE_TYPE`): the artifact
    ///   store, `sqlite` (default), `postgres`, `elasticsearch` or `memory`.
    /// - `vamp.persistence.database.elasticsearch.url` and `.index` (default
    ///   `http://127.0.0.1:9200`, `vamp-persistence`, as in Vamp 0.9).
    /// - `vamp.persistence.events.type`: the event store, `sqlite`, `postgres`, `elasticsearch`
    ///   or `memory`; defaults to the artifact store's type.
    /// - `vamp.persistence.database.sqlite.path`: the SQLite file (default `.vamp/vamp.sqlite`).
    /// - `vamp.persistence.database.postgres.sslmode` (`disable`, `require`, `verify-full`) and
    ///   `.sslrootcert` (the CA file for `verify-full`), as libpq names them; also `?sslmode=...&sslrootcert=...` in
    ///   the URL.
    /// - `vamp.persistence.database.postgres.url`: `postgres://user:password@host:5432/database`;
    ///   `.host`, `.port`, `.username`, `.password` (secret), `.database` and `.table-prefix`
    ///   set or override single parts.
    /// - `vamp.persistence.events.elasticsearch.url` and `.index` (default
    ///   `http://127.0.0.1:9200`, `vamp-pulse-events`).
    /// - `vamp.persistence.events.retention` (seconds): delete older events; unset keeps all.
    /// - `vamp.persistence.events.retention-interval` (seconds, default 3600).
    ///
    /// - Throws: ``PersistenceError`` (`invalidConfiguration`) naming the key that is malformed.
    public init(config: ConfigReader) throws(PersistenceError) {
        let scope = config.scoped(to: "vamp.persistence")
        func fail(_ key: String, _ why: String) -> PersistenceError {
            PersistenceError(code: .invalidConfiguration, message: "vamp.persistence.\(key): \(why)")
        }
        func kind(_ key: ConfigKey, _ name: String, allowed: [Kind]) throws(PersistenceError) -> Kind? {
            guard let text = scope.string(forKey: key) else { return nil }
            guard let kind = Kind(rawValue: text.lowercased()), allowed.contains(kind) else {
                throw fail(name, "'\(text)' is not one of \(allowed.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
        func seconds(_ key: ConfigKey, _ name: String) throws(PersistenceError) -> Duration? {
            // A JSON or in-memory `5` is an integer, a `2.5` a double: take both.
            guard let value = scope.double(forKey: key) ?? scope.int(forKey: key).map(Double.init) else { return nil }
            guard value.isFinite, value > 0 else { throw fail(name, "\(value) is not a number of seconds above zero") }
            return .milliseconds(Int64((value * 1000).rounded()))
        }
        let artifacts = try kind("database.type", "database.type", allowed: Kind.allCases) ?? .sqlite
        let events = try kind("events.type", "events.type", allowed: Kind.allCases)

        var sqlite = SQLiteStore.Configuration()
        if let path = scope.string(forKey: "database.sqlite.path") {
            guard !path.isEmpty else { throw fail("database.sqlite.path", "the path is empty") }
            sqlite.path = path
        }

        var postgres = Postgres()
        if let url = scope.string(forKey: "database.postgres.url", isSecret: true) {
            postgres = try Postgres(url: url)
        }
        if let host = scope.string(forKey: "database.postgres.host") { postgres.host = host }
        if let port = scope.int(forKey: "database.postgres.port") {
            guard (1...65535).contains(port) else { throw fail("database.postgres.port", "\(port) is not a port") }
            postgres.port = port
        }
        if let username = scope.string(forKey: "database.postgres.username") { postgres.username = username }
        if let password = scope.string(forKey: "database.postgres.password", isSecret: true) {
            postgres.password = password
        }
        if let database = scope.string(forKey: "database.postgres.database") { postgres.database = database }
        if let prefix = scope.string(forKey: "database.postgres.table-prefix") { postgres.tablePrefix = prefix }
        if let mode = scope.string(forKey: "database.postgres.sslmode") {
            postgres.tls = try Postgres.tlsMode(mode, key: "vamp.persistence.database.postgres.sslmode")
        }
        if let caFile = scope.string(forKey: "database.postgres.sslrootcert") { postgres.caFile = caFile }

        var elasticsearchArtifacts = ElasticsearchArtifactStore.Configuration()
        if let url = scope.string(forKey: "database.elasticsearch.url") { elasticsearchArtifacts.url = url }
        if let index = scope.string(forKey: "database.elasticsearch.index") { elasticsearchArtifacts.index = index }

        var elasticsearch = ElasticsearchEventStore.Configuration()
        if let url = scope.string(forKey: "events.elasticsearch.url") { elasticsearch.url = url }
        if let index = scope.string(forKey: "events.elasticsearch.index") { elasticsearch.index = index }

        self.init(
            artifacts: artifacts, events: events, sqlite: sqlite, postgres: postgres, elasticsearch: elasticsearch,
            elasticsearchArtifacts: elasticsearchArtifacts,
            eventRetention: try seconds("events.retention", "events.retention"),
            retentionInterval: try seconds("events.retention-interval", "events.retention-interval") ?? .seconds(3600))
    }
}
