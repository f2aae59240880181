public import Logging
public import ServiceLifecycle

/// Delivers what other servers do in a shared PostgreSQL database to this server, as a `Service`: the events they
/// append to the store's event subscribers, and their artifact commits to its ``PostgresStore/changeNotices()``
/// (`LISTEN`/`NOTIFY`, ``PostgresStore/receiveNotificationsFromOtherServers()``).
///
/// Runs next to the `PostgresClient` in one `ServiceGroup`. When the listening connection is
/// lost it listens again after a bounded backoff, and signals a change notice once it listens again so
/// followers of the change log catch up (events appended meanwhile are not relayed; query for them).
/// Ends at graceful shutdown or cancellation.
public struct PostgresNotificationRelay: Service {
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
                    try await store.receiveNotificationsFromOtherServers()
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    logger.warning(
                        "PostgreSQL notification relay lost its connection; listening again",
                        metadata: ["vamp.persistence.error": "\(error)", "vamp.persistence.retry-in": "\(delay)"])
                }
                do { try await Task.sleep(for: delay) } catch { return }
                delay = min(delay * 2, limit)
            }
        }
    }
}
