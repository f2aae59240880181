public import ServiceLifecycle

extension ZooKeeperKeyValueStore: Service {
    /// Keeps the session until graceful shutdown or cancellation, then closes it (connection and
    /// pings), so the ensemble drops the session's ephemeral state at once instead of after the
    /// session timeout. The store connects on first use, before or after `run()` starts.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}

/// The lifetime of any store a ``KeyValueStoreConfiguration`` made, as a `Service` a host puts
/// in its `ServiceGroup`: for ZooKeeper it owns the session (see ``ZooKeeperKeyValueStore/run()``),
/// for the others, which hold no session, it just waits for shutdown.
public struct KeyValueStoreService: Service {
    /// The store whose lifetime this is.
    public let store: any KeyValueStore

    /// Creates the service for `store`.
    public init(store: any KeyValueStore) {
        self.store = store
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async throws {
        if let zooKeeper = store as? ZooKeeperKeyValueStore {
            try await zooKeeper.run()
        } else {
            try? await gracefulShutdown()
        }
    }
}
