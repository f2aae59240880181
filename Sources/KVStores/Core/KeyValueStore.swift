import Synchronization

/// One stored value and the store's version of it.
public struct KeyValueEntry: Sendable, Hashable {
    /// The full key, for example `/vamp/acme/gateways/haproxy/2.6/configuration`.
    public var key: String
    /// The stored bytes.
    public var value: [UInt8]
    /// The store's version of this value: etcd's `mod_revision`, ZooKeeper's `mzxid`, Consul's
    /// `ModifyIndex`, a counter in the memory store: these only grow while the key exists.
    /// The file store gives the file's modification time, which is neither monotonic nor
    /// unique (see ``FileKeyValueStore``). Compare versions of the same store only.
    public var version: UInt64

    /// Creates an entry.
    public init(key: String, value: [UInt8], version: UInt64) {
        self.key = key
        self.value = value
        self.version = version
    }

    /// The value decoded as UTF-8 (invalid sequences are replaced).
    public var string: String { String(decoding: value, as: UTF8.self) }
}

/// What a watch reports: the key's current value, or that it does not exist.
public enum KeyValueChange: Sendable, Hashable {
    /// The key holds this value.
    case value(KeyValueEntry)
    /// The key does not exist (it was deleted or was never written).
    case deleted(key: String)

    /// The value's bytes, or nil when the key does not exist.
    public var bytes: [UInt8]? {
        if case .value(let entry) = self { return entry.value }
        return nil
    }

    /// The value as UTF-8 text, or nil when the key does not exist.
    public var string: String? {
        if case .value(let entry) = self { return entry.string }
        return nil
    }
}

/// A key-value store that Vamp writes gateway configurations into and gateway agents watch.
///
/// Keys are absolute, `/`-separated paths (see ``KeyPath``). A key may hold a value and have
/// children at the same time (as in ZooKeeper). Every implementation passes the same conformance
/// suite; the etcd and ZooKeeper ones are also tested against real servers during outages.
public protocol KeyValueStore: Sendable {
    /// Reads a key; nil when it does not exist.
    func get(_ key: String) async throws -> KeyValueEntry?

    /// Writes `value` to `key`, creating the key (and, where the store needs them, its parents).
    func set(_ key: String, value: [UInt8]) async throws

    /// Deletes `key`. Deleting a key that does not exist is not an error.
    func delete(_ key: String) async throws

    /// The names (last path component, not full keys) of the direct children of `key`, sorted.
    /// A child is listed when it or anything below it exists. Empty when there are none.
    func children(of key: String) async throws -> [String]

    /// Watches one key.
    ///
    /// The sequence first yields the key's current state, then every change (a value or a
    /// deletion). Consecutive identical states are reported once. When the server goes away the
    /// watch reconnects by itself with bounded exponential backoff and, once reconnected, yields
    /// the key's state as it is then, so the last value written during an outage is never lost
    /// (intermediate values may be). It ends only when the consuming task is cancelled.
    func watch(_ key: String) -> KeyValueWatch

    /// Writes `value` to `key` unless the key already holds exactly these bytes, as one atomic
    /// step: of two writers racing on one key, neither write is lost between the other's
    /// comparison and write (etcd: a transaction on the key's mod revision; ZooKeeper: setData
    /// at the read version; Consul: `?cas=`; file: under an exclusive `flock`; memory: the actor).
    /// - Returns: true when it wrote, false when the stored bytes were already equal.
    @discardableResult
    func setIfChanged(_ key: String, value: [UInt8]) async throws -> Bool

    /// Watches every key at or below `prefix` (`/vamp/acme/gateways` covers that key and
    /// `/vamp/acme/gateways/...`, not `/vamp/acme/gatewaysX`).
    ///
    /// The sequence yields the whole set of entries under the prefix, sorted by key: first as it
    /// is, then after every change (consecutive identical sets are reported once). Like
    /// ``watch(_:)`` it reconnects by itself and then yields the set as it is, so the last state
    /// written during an outage is never lost; it ends when the consuming task is cancelled.
    func watch(prefix: String) -> KeyValuePrefixWatch
}

extension KeyValueStore {
    /// Compares and writes in two steps: not atomic. Stores of this module replace it with an
    /// atomic one; it remains for other conformers.
    @discardableResult
    public func setIfChanged(_ key: String, value: [UInt8]) async throws -> Bool {
        if let current = try await get(key), current.value == value { return false }
        try await set(key, value: value)
        return true
    }

    /// Polls the subtree every second (children and values): the fallback for conformers
    /// outside this module. The stores of this module watch natively.
    public func watch(prefix: String) -> KeyValuePrefixWatch {
        let store = self
        return KeyValuePrefixWatch.running(prefix: prefix) { emitter in
            while !Task.isCancelled {
                if let entries = try? await store.entries(under: prefix) { emitter.emit(entries) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Every entry at or below `prefix`, sorted by key, read key by key through `children(of:)`.
    func entries(under prefix: String) async throws -> [KeyValueEntry] {
        var result: [KeyValueEntry] = []
        var pending = [prefix]
        while let key = pending.popLast() {
            if key != "/", let entry = try await get(key) { result.append(entry) }
            for name in try await children(of: key) { pending.append(key == "/" ? "/" + name : key + "/" + name) }
        }
        return result.sorted { $0.key < $1.key }
    }

    /// Writes UTF-8 text to `key`.
    public func set(_ key: String, string: String) async throws {
        try await set(key, value: Array(string.utf8))
    }

    /// Writes UTF-8 text to `key` unless the key already holds exactly that text.
    @discardableResult
    public func setIfChanged(_ key: String, string: String) async throws -> Bool {
        try await setIfChanged(key, value: Array(string.utf8))
    }
}

/// What a watch reports when asked for ``KeyValueWatch/events()``: the key's changes and
/// whether the store answers.
public enum KeyValueWatchEvent: Sendable, Hashable {
    /// The key's state after a change (what iterating the watch itself yields).
    case change(KeyValueChange)
    /// The store answered again (also reported once at the first successful read). Comes before
    /// the key's state as it is then.
    case reachable
    /// The store did not answer or the watch broke; the watch retries by itself with bounded
    /// backoff, so this comes at most once per attempt.
    case unreachable(error: String)
}

/// The changes of one watched key, as an `AsyncSequence` that never throws.
public struct KeyValueWatch: AsyncSequence, Sendable {
    /// Each element is the key's state after a change.
    public typealias Element = KeyValueChange

    let stream: AsyncStream<KeyValueWatchEvent>

    init(_ stream: AsyncStream<KeyValueWatchEvent>) { self.stream = stream }

    /// The changes together with the store's reachability (connected, or each failed attempt), for a
    /// consumer that shows outages (the gateway agent's `/health`). Iterate either the watch or
    /// its events, not both.
    public func events() -> AsyncStream<KeyValueWatchEvent> { stream }

    /// Builds a watch whose changes come from `produce`, run in a task that is cancelled when the
    /// consumer stops iterating. `produce` reports states through the ``WatchEmitter``, which drops
    /// consecutive duplicates.
    static func running(
        key: String,
        _ produce: @escaping @Sendable (WatchEmitter) async -> Void
    ) -> KeyValueWatch {
        let (stream, continuation) = AsyncStream<KeyValueWatchEvent>.makeStream(bufferingPolicy: .unbounded)
        let emitter = WatchEmitter(key: key, continuation: continuation)
        // The watch owns this task: it lives exactly as long as the consumer iterates.
        let task = Task {
            await produce(emitter)
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return KeyValueWatch(stream)
    }

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<KeyValueWatchEvent>.AsyncIterator

        /// The next change, or nil when the watch has ended (the task was cancelled).
        public mutating func next() async -> KeyValueChange? {
            while let event = await base.next() {
                if case .change(let change) = event { return change }
            }
            return nil
        }
    }

    /// Makes the iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }
}

/// Passes watch states to the consumer, dropping a state equal to the last one passed.
final class WatchEmitter: Sendable {
    let key: String
    private let continuation: AsyncStream<KeyValueWatchEvent>.Continuation
    private let last = Mutex<(bytes: [UInt8]??, reachable: Bool)>((nil, false))

    init(key: String, continuation: AsyncStream<KeyValueWatchEvent>.Continuation) {
        self.key = key
        self.continuation = continuation
    }

    /// Reports the key's state: its value, or nil when it does not exist. The store answered, so
    /// it is reachable.
    func emit(_ entry: KeyValueEntry?) {
        let bytes: [UInt8]? = entry?.value
        let (isNew, wasUnreachable) = last.withLock { last -> (Bool, Bool) in
            let wasUnreachable = !last.reachable
            last.reachable = true
            if let previous = last.bytes, previous == bytes { return (false, wasUnreachable) }
            last.bytes = .some(bytes)
            return (true, wasUnreachable)
        }
        if wasUnreachable { continuation.yield(.reachable) }
        guard isNew else { return }
        if let entry { continuation.yield(.change(.value(entry))) } else { continuation.yield(.change(.deleted(key: key))) }
    }

    /// Reports a failed attempt to reach the store (the caller then backs off and retries).
    func unreachable(_ error: any Error) {
        last.withLock { $0.reachable = false }
        continuation.yield(.unreachable(error: "\(error)"))
    }
}

/// The changes below one prefix, as an `AsyncSequence` that never throws: each element is every
/// entry at or below the prefix, sorted by key.
public struct KeyValuePrefixWatch: AsyncSequence, Sendable {
    /// The entries under the prefix after a change.
    public typealias Element = [KeyValueEntry]

    let stream: AsyncStream<[KeyValueEntry]>

    /// Builds a watch whose states come from `produce`, run in a task that is cancelled when the
    /// consumer stops iterating. An invalid prefix ends the watch at once.
    static func running(
        prefix: String, _ produce: @escaping @Sendable (PrefixWatchEmitter) async -> Void
    ) -> KeyValuePrefixWatch {
        let (stream, continuation) = AsyncStream<[KeyValueEntry]>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let emitter = PrefixWatchEmitter(prefix: prefix, continuation: continuation)
        // The watch owns this task: it lives exactly as long as the consumer iterates.
        let task = Task {
            if (try? KeyPath.validate(prefix, server: "watch", allowRoot: true)) != nil { await produce(emitter) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return KeyValuePrefixWatch(stream: stream)
    }

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<[KeyValueEntry]>.AsyncIterator

        /// The next set of entries, or nil when the watch has ended.
        public mutating func next() async -> [KeyValueEntry]? { await base.next() }
    }

    /// Makes the iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }
}

/// Passes prefix states to the consumer (keeping only the newest undelivered one), dropping a
/// state whose keys and values equal the last one passed.
final class PrefixWatchEmitter: Sendable {
    let prefix: String
    private let continuation: AsyncStream<[KeyValueEntry]>.Continuation
    private let last = Mutex<[String: [UInt8]]?>(nil)

    init(prefix: String, continuation: AsyncStream<[KeyValueEntry]>.Continuation) {
        self.prefix = prefix
        self.continuation = continuation
    }

    /// Whether `key` is at or below the prefix.
    func covers(_ key: String) -> Bool {
        prefix == "/" || key == prefix || key.hasPrefix(prefix + "/")
    }

    /// Reports the entries under the prefix (entries outside it are dropped).
    func emit(_ entries: [KeyValueEntry]) {
        let inside = entries.filter { covers($0.key) }.sorted { $0.key < $1.key }
        let state = Dictionary(inside.map { ($0.key, $0.value) }, uniquingKeysWith: { _, new in new })
        let isNew = last.withLock { last -> Bool in
            if last == state { return false }
            last = state
            return true
        }
        if isNew { continuation.yield(inside) }
    }
}
