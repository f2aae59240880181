public import Foundation
public import Logging
public import ServiceLifecycle

/// Deletes events older than a maximum age, on a schedule, until the service group shuts down.
///
/// Put it in the host's `ServiceGroup`; it runs a first pass at once and then one every
/// `interval`. A failed pass is logged and retried at the next interval, never fatal.
public struct EventRetentionService: Service {
    private let store: any EventStore
    private let maximumAge: Duration
    private let interval: Duration
    private let logger: Logger
    private let now: @Sendable () -> Date

    /// Creates the service.
    /// - Parameters:
    ///   - store: The store to prune.
    ///   - maximumAge: Events older than this are deleted.
    ///   - interval: Time between two passes.
    ///   - logger: Where each pass's count and failures are logged.
    ///   - now: The clock (tests inject one).
    public init(
        store: any EventStore, maximumAge: Duration, interval: Duration = .seconds(3600),
        logger: Logger = Logger(label: "vamp.persistence.retention"), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.maximumAge = maximumAge
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    /// Runs passes until graceful shutdown or cancellation.
    public func run() async throws {
        let (store, maximumAge, interval, logger, now) = (store, maximumAge, interval, logger, now)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let deleted = try await store.applyRetention(maximumAge: maximumAge, now: now())
                    logger.debug(
                        "event retention pass done",
                        metadata: ["vamp.persistence.deleted": "\(deleted)", "vamp.persistence.maximum-age": "\(maximumAge)"])
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("event retention pass failed", metadata: ["vamp.persistence.error": "\(error)"])
                }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}
