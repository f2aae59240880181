public import Configuration

extension KeyValueStoreConfiguration {
    /// Reads the configuration through swift-configuration, with the key names of Vamp and its
    /// gateway agent. With `EnvironmentVariablesProvider` the keys are the agent's variables.
    ///
    /// ## Configuration keys
    /// - `vamp.key-value-store.type` (`VAMP_KEY_VALUE_STORE_TYPE`, required): `etcd`,
    ///   `zookeeper`, `consul`, `file` or `memory`.
    /// - `vamp.key-value-store.connection` (`VAMP_KEY_VALUE_STORE_CONNECTION`): comma-separated
    ///   servers or URLs (`[::1]:2379`, `http://etcd:2379`), or the file store's directory.
    /// - `vamp.key-value-store.path` (`VAMP_KEY_VALUE_STORE_PATH`): the key the host works under.
    /// - `vamp.key-value-store.token` (`VAMP_KEY_VALUE_STORE_TOKEN`, secret): the Consul ACL token.
    /// - `vamp.key-value-store.datacenter`: the Consul datacenter.
    /// - `vamp.key-value-store.tls.ca-file`, `.certificate-file`, `.key-file` (`VAMP_KEY_VALUE_STORE_TLS_CA_FILE`, ...):
    ///   for an `https://` connection to etcd or Consul, the CA that signs the server's certificate and the client's
    ///   certificate and key (etcd's `--client-cert-auth`). For ZooKeeper a CA file turns TLS on (ZooKeeper's
    ///   addresses have no scheme); the client's certificate and key are for `ssl.clientAuth=need`.
    /// - `vamp.key-value-store.timeout.request`, `.connect`, `.session`, `.watch-wait`,
    ///   `.reconnect-limit` (seconds, decimals allowed): see ``Timeouts``.
    ///
    /// - Throws: ``KeyValueStoreError`` (`invalidConfiguration`) naming the key that is missing
    ///   or malformed.
    public init(config: ConfigReader) throws(KeyValueStoreError) {
        let scope = config.scoped(to: "vamp.key-value-store")
        func fail(_ key: String, _ why: String) -> KeyValueStoreError {
            KeyValueStoreError(.invalidConfiguration, "vamp.key-value-store.\(key): \(why)", server: "configuration")
        }
        guard let typeName = scope.string(forKey: "type") else {
            throw fail("type", "missing; set it (or VAMP_KEY_VALUE_STORE_TYPE) to etcd, zookeeper, consul, file or memory")
        }
        guard let kind = Kind(rawValue: typeName.lowercased()) else {
            throw fail(
                "type", "'\(typeName)' is not a store type; use etcd, zookeeper, consul, file or memory")
        }
        let connection = scope.string(forKey: "connection") ?? scope.stringArray(forKey: "connection")?.joined(separator: ",")
        let defaults = Timeouts()
        func seconds(_ key: String, _ fallback: Duration) throws(KeyValueStoreError) -> Duration {
            let configKey = ConfigKey(["timeout", key])
            // A JSON or in-memory `5` is an integer, a `2.5` a double: take both.
            guard let value = scope.double(forKey: configKey) ?? scope.int(forKey: configKey).map(Double.init) else {
                return fallback
            }
            guard value.isFinite, value > 0, value < 86_400 else {
                throw fail("timeout.\(key)", "\(value) is not a number of seconds above zero")
            }
            return .milliseconds(Int64((value * 1000).rounded()))
        }
        let timeouts = Timeouts(
            request: try seconds("request", defaults.request), connect: try seconds("connect", defaults.connect),
            session: try seconds("session", defaults.session), watchWait: try seconds("watch-wait", defaults.watchWait),
            maximumReconnectDelay: try seconds("reconnect-limit", defaults.maximumReconnectDelay))
        try self.init(
            kind: kind, connection: connection, path: scope.string(forKey: "path"),
            token: scope.string(forKey: "token", isSecret: true), datacenter: scope.string(forKey: "datacenter"),
            timeouts: timeouts)
        tlsFiles = TLSFiles(
            caFile: scope.string(forKey: "tls.ca-file"), certificateFile: scope.string(forKey: "tls.certificate-file"),
            keyFile: scope.string(forKey: "tls.key-file"))
        try validate()
    }
}
