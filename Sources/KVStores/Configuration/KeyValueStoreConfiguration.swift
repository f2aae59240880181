#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging

/// Which key-value store to use and how to reach it: one value every host builds its store from.
///
/// ```swift
/// let configuration = try KeyValueStoreConfiguration(config: ConfigReader(provider: EnvironmentVariablesProvider()))
/// let store = try configuration.makeStore(logger: logger)
/// ```
public struct KeyValueStoreConfiguration: Sendable, Hashable {
    /// The store implementations.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// etcd v3 through its JSON gateway.
        case etcd
        /// A ZooKeeper ensemble.
        case zookeeper
        /// A Consul agent's KV API.
        case consul
        /// A directory tree on local disk.
        case file
        /// Process memory (tests, single-process setups).
        case memory

        /// The port a server of this kind listens on by default.
        public var defaultPort: Int {
            switch self {
            case .etcd: 2379
            case .zookeeper: 2181
            case .consul: 8500
            case .file, .memory: 0
            }
        }
    }

    /// Timeouts and backoff limits; each store uses the ones that apply to it.
    public struct Timeouts: Sendable, Hashable {
        /// How long a get, set, delete or list may take (etcd, Consul).
        public var request: Duration
        /// How long one TCP connect may take (ZooKeeper).
        public var connect: Duration
        /// The session timeout to ask for (ZooKeeper).
        public var session: Duration
        /// How long one blocking query of a Consul watch may wait on the server.
        public var watchWait: Duration
        /// The limit of the exponential backoff between reconnect attempts of a watch.
        public var maximumReconnectDelay: Duration

        /// Creates timeouts; the defaults are those of the stores' own configurations.
        public init(
            request: Duration = .seconds(10), connect: Duration = .seconds(2), session: Duration = .seconds(10),
            watchWait: Duration = .seconds(5), maximumReconnectDelay: Duration = .seconds(1)
        ) {
            self.request = request
            self.connect = connect
            self.session = session
            self.watchWait = watchWait
            self.maximumReconnectDelay = maximumReconnectDelay
        }
    }

    /// The store kind.
    public var kind: Kind
    /// The servers (etcd, ZooKeeper, Consul). etcd and Consul talk to the first one; ZooKeeper
    /// tries them in order.
    public var endpoints: [Endpoint]
    /// Whether etcd and Consul are reached over HTTPS (set when the connection was an `https://` URL). ZooKeeper
    /// talks TLS when ``tlsFiles`` has a CA file (see ``usesTLS``).
    public var tls: Bool
    /// The CA, client certificate and key files of a TLS connection: etcd and Consul over HTTPS, ZooKeeper.
    public var tlsFiles = TLSFiles()
    /// The directory of the file store.
    public var directory: String
    /// The key or key prefix the host works under: the agent watches this key
    /// (`VAMP_KEY_VALUE_STORE_PATH`), the server writes below it. Nil when not configured.
    public var path: String?
    /// The Consul ACL token, if any.
    public var token: String?
    /// The Consul datacenter, if not the agent's own.
    public var datacenter: String?
    /// Timeouts and backoff limits.
    public var timeouts: Timeouts

    /// Creates a configuration. Without endpoints, a networked kind uses `127.0.0.1` at its
    /// default port.
    public init(
        kind: Kind, endpoints: [Endpoint] = [], tls: Bool = false, directory: String = ".vamp/kv",
        path: String? = nil, token: String? = nil, datacenter: String? = nil, timeouts: Timeouts = Timeouts()
    ) {
        self.kind = kind
        self.endpoints = endpoints
        self.tls = tls
        self.directory = directory
        self.path = path
        self.token = token
        self.datacenter = datacenter
        self.timeouts = timeouts
    }

    /// Creates a configuration from the `connection` text operators give Vamp
    /// (`VAMP_KEY_VALUE_STORE_CONNECTION`): comma-separated servers or URLs for etcd,
    /// ZooKeeper and Consul, a directory for the file store, ignored for memory.
    /// - Throws: ``KeyValueStoreError`` (`invalidConfiguration`) for a malformed address.
    public init(
        kind: Kind, connection: String?, path: String? = nil, token: String? = nil, datacenter: String? = nil,
        timeouts: Timeouts = Timeouts()
    ) throws(KeyValueStoreError) {
        self.init(kind: kind, path: path, token: token, datacenter: datacenter, timeouts: timeouts)
        guard let connection, !connection.trimmingWhitespace.isEmpty else { return }
        switch kind {
        case .etcd, .zookeeper, .consul:
            endpoints = try Endpoint.list(parsing: connection, defaultPort: kind.defaultPort)
            tls = connection.trimmingWhitespace.lowercased().hasPrefix("https://")
        case .file:
            directory = connection
        case .memory:
            break
        }
    }

    /// The endpoints a networked store uses: the configured ones or `127.0.0.1` at the default port.
    public var effectiveEndpoints: [Endpoint] {
        endpoints.isEmpty ? [Endpoint(host: "127.0.0.1", port: kind.defaultPort)] : endpoints
    }

    /// Checks the values a store needs. `makeStore` calls it.
    public func validate() throws(KeyValueStoreError) {
        func fail(_ why: String) -> KeyValueStoreError {
            KeyValueStoreError(.invalidConfiguration, why, server: kind.rawValue)
        }
        if let path { try KeyPath.validate(path, server: kind.rawValue, allowRoot: true) }
        for endpoint in endpoints where !(1...65535).contains(endpoint.port) {
            throw fail("the port of \(endpoint.host) must be from 1 to 65535, not \(endpoint.port)")
        }
        if kind == .file, directory.isEmpty { throw fail("the file store needs a directory") }
        if !tlsFiles.isEmpty || (kind == .zookeeper && tls) {
            switch kind {
            case .etcd, .consul:
                guard tls else { throw fail("TLS files (vamp.key-value-store.tls.*) need an https:// connection") }
            case .zookeeper:
                // ZooKeeper's addresses are host:port: the CA file is what turns TLS on, never a scheme alone.
                guard tlsFiles.caFile != nil else {
                    throw fail(
                        "ZooKeeper over TLS needs vamp.key-value-store.tls.ca-file, the CA that signs the servers' certificates "
                            + "(ZooKeeper talks TLS when it is set, whatever the connection's scheme)")
                }
            case .file, .memory:
                throw fail("TLS files (vamp.key-value-store.tls.*) are for etcd, ZooKeeper and Consul; \(kind.rawValue) over TLS is not supported")
            }
            if (tlsFiles.certificateFile == nil) != (tlsFiles.keyFile == nil) {
                throw fail("a client certificate needs both vamp.key-value-store.tls.certificate-file and .key-file")
            }
        }
        let all = [timeouts.request, timeouts.connect, timeouts.session, timeouts.watchWait, timeouts.maximumReconnectDelay]
        if all.contains(where: { $0 <= .zero }) { throw fail("every timeout must be longer than zero") }
    }

    /// Builds the store. A ZooKeeper store holds a session: run it in a ``KeyValueStoreService`` (or call
    /// `shutdown()`) to close it when the host stops.
    /// - Throws: ``KeyValueStoreError`` (`invalidConfiguration`, or `io` when the file store's
    ///   directory cannot be created).
    public func makeStore(logger: Logger? = nil) throws(KeyValueStoreError) -> any KeyValueStore {
        try validate()
        let first = effectiveEndpoints[0]
        switch kind {
        case .etcd:
            return EtcdKeyValueStore(
                configuration: .init(
                    endpoint: first.url(tls: tls), requestTimeout: timeouts.request,
                    maximumReconnectDelay: timeouts.maximumReconnectDelay),
                httpClient: try tlsHTTPClient(), logger: logger)
        case .zookeeper:
            return ZooKeeperKeyValueStore(
                configuration: .init(
                    servers: effectiveEndpoints.map(\.description), sessionTimeout: timeouts.session,
                    connectTimeout: timeouts.connect, maximumReconnectDelay: timeouts.maximumReconnectDelay,
                    tls: try zooKeeperTLSContext()),
                logger: logger)
        case .consul:
            return ConsulKeyValueStore(
                configuration: .init(
                    address: first.url(tls: tls), token: token, datacenter: datacenter, watchWait: timeouts.watchWait,
                    requestTimeout: timeouts.request, maximumReconnectDelay: timeouts.maximumReconnectDelay),
                httpClient: try tlsHTTPClient(), logger: logger)
        case .file:
            return try FileKeyValueStore(root: URL(fileURLWithPath: directory))
        case .memory:
            return InMemoryKeyValueStore()
        }
    }
}

extension KeyValueStoreConfiguration {
    /// The largest value the store takes under `key` with its server's default settings (etcd 1.5 MiB, ZooKeeper
    /// 1 MiB, less room for the key and framing; Consul 512 KiB), or `nil` when it has no limit (file, memory).
    public func valueLimit(key: String) -> Int? {
        switch kind {
        case .etcd: ValueLimit.etcd(key: key)
        case .zookeeper: ValueLimit.zooKeeper(key: key)
        case .consul: ValueLimit.consul
        case .file, .memory: nil
        }
    }
}
