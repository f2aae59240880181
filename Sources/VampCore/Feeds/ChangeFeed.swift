public import Persistence
import VampConcurrency
public import VampModel

/// Every change of the stored artifacts, for any number of subscribers: the reconciler, the gateway
/// synchroniser, and whatever else must wake when something changes.
///
/// Fed by the store's change log, not by this process's writes: a second server on the same PostgreSQL sees
/// a change as soon as the store tells it (`LISTEN`/`NOTIFY`), and a subscriber that was away resumes from the
/// last position it saw. Each subscriber reads the log on its own, so a slow one never holds up the writer or
/// another subscriber. A store that fails is read again after a pause (doubling up to the poll interval), so a
/// database outage delays the subscribers and never ends their subscription.
public struct ChangeFeed: Sendable {
    let store: any ArtifactStore
    /// How often a subscriber reads the log when no notice came (a safety net).
    let pollInterval: Duration
    let clock: any VampClock

    /// The position of the newest change now: subscribe after it to get only what happens from now on.
    public func position() async throws(OperationError) -> Int64 {
        try await ArtifactRepository.timed("artifacts") { try await store.lastChangeSequence() }
    }

    /// The changes after `position` (`nil`: from the moment of the first read on) of the given kinds (`nil`:
    /// all), oldest first. The sequence ends by throwing `CancellationError` when its task is cancelled.
    public func changes(after position: Int64? = nil, of kinds: Set<ArtifactKind>? = nil) -> Changes {
        Changes(feed: self, start: position, kinds: kinds.map { Set($0.map(\.plural)) })
    }

    /// The changes of one subscriber (``ChangeFeed/changes(after:of:)``).
    public struct Changes: AsyncSequence, Sendable {
        public typealias Element = ArtifactChange
        let feed: ChangeFeed
        let start: Int64?
        let kinds: Set<String>?

        public func makeAsyncIterator() -> Iterator {
            Iterator(feed: feed, position: start, kinds: kinds)
        }

        /// Reads the store's change log from the last position seen; throws only `CancellationError`.
        public struct Iterator: AsyncIteratorProtocol {
            let feed: ChangeFeed
            var position: Int64?
            let kinds: Set<String>?
            var inner: ArtifactChangeFeed.AsyncIterator?
            var retryDelay = Duration.milliseconds(100)

            public mutating func next() async throws -> ArtifactChange? {
                while true {
                    try Task.checkCancellation()
                    do {
                        if position == nil { position = try await feed.store.lastChangeSequence() }
                        if inner == nil { inner = feed.store.followChanges(after: position!, pollInterval: feed.pollInterval).makeAsyncIterator() }
                        guard let change = try await inner!.next() else { return nil }
                        position = change.sequence
                        retryDelay = .milliseconds(100)
                        if kinds?.contains(change.kind) ?? true { return change }
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        // The store failed: read again from the last position after a pause.
                        inner = nil
                        try await feed.clock.sleep(for: retryDelay)
                        retryDelay = Swift.min(retryDelay * 2, feed.pollInterval)
                    }
                }
            }
        }
    }
}
