public import Logging
public import ServiceLifecycle

/// Delivers events that other servers append to a shared PostgreSQL database to this server's
/// subscribers (LISTEN/NOTIFY), as a `Service`.
///
/// Runs next to the `PostgresClient` in one `ServiceGroup`. When the listening connection is
/// lost it listens again after a bounded backoff (events appended meanwhile are not relayed;
/// query for them). Ends at graceful shutdown or cancellation.
public struct PostgresEventRelay: Service {
    private let store: PostgresStore
    private let logger: Logger
    private let maximumRetryDelay: Duration

    /// Creates the relay for `store`.
    public init(
        store: PostgresStore, maximumRetryDelay: Duration = .seconds(5),
        logger: Logger = Logger(label: "vamp.persistence.postgres")
    ) {
        self.store = store
        self.logger = logger
        self.maximumRetryDelay = maximumRetryDelay
    }

    /// Listens until graceful shutdown or cancellation.
    public func run() async throws {
        let (store, logger, limit) = (store, logger, maximumRetryDelay)
        await cancelWhenGracefulShutdown {
            var delay = Duration.milliseconds(100)
            while !Task.isCancelled {
                do {
                    try await store.receiveEventsFromOtherServers()
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    logger.warning(
                        "PostgreSQL event relay lost its connection; listening again",
                        metadata: ["vamp.persistence.error": "\(error)", "vamp.persistence.retry-in": "\(delay)"])
                }
                do { try await Task.sleep(for: delay) } catch { return }
                delay = min(delay * 2, limit)
            }
        }
    }
}
