/// A key-value store in process memory, for unit tests and single-process setups.
///
/// Watches see every change in order (no reconnects are needed).
public actor InMemoryKeyValueStore: KeyValueStore {
    private var entries: [String: KeyValueEntry] = [:]
    private var revision: UInt64 = 0
    private var watchers: [String: [ObjectIdentifier: WatchEmitter]] = [:]
    private var prefixWatchers: [ObjectIdentifier: PrefixWatchEmitter] = [:]
    private static let server = "memory"

    /// Creates an empty store.
    public init() {}

    public func get(_ key: String) throws -> KeyValueEntry? {
        try KeyPath.validate(key, server: Self.server)
        return entries[key]
    }

    public func set(_ key: String, value: [UInt8]) throws {
        try KeyPath.validate(key, server: Self.server)
        revision += 1
        let entry = KeyValueEntry(key: key, value: value, version: revision)
        entries[key] = entry
        for emitter in watchers[key, default: [:]].values { emitter.emit(entry) }
        notifyPrefixWatchers(of: key)
    }

    /// Atomic by the actor: nothing runs between the comparison and the write.
    @discardableResult
    public func setIfChanged(_ key: String, value: [UInt8]) throws -> Bool {
        try KeyPath.validate(key, server: Self.server)
        if entries[key]?.value == value { return false }
        try set(key, value: value)
        return true
    }

    public func delete(_ key: String) throws {
        try KeyPath.validate(key, server: Self.server)
        guard entries.removeValue(forKey: key) != nil else { return }
        revision += 1
        for emitter in watchers[key, default: [:]].values { emitter.emit(nil) }
        notifyPrefixWatchers(of: key)
    }

    public func children(of key: String) throws -> [String] {
        try KeyPath.validate(key, server: Self.server, allowRoot: true)
        return KeyPath.childNames(of: key, in: entries.keys)
    }

    public nonisolated func watch(_ key: String) -> KeyValueWatch {
        KeyValueWatch.running(key: key) { emitter in
            guard (try? KeyPath.validate(key, server: Self.server)) != nil else { return }
            await self.register(emitter)
            // Changes are pushed by set/delete; this task only keeps the registration alive.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
            }
            await self.unregister(emitter)
        }
    }

    public nonisolated func watch(prefix: String) -> KeyValuePrefixWatch {
        KeyValuePrefixWatch.running(prefix: prefix) { emitter in
            await self.register(emitter)
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
            }
            await self.unregister(emitter)
        }
    }

    private func snapshot(for emitter: PrefixWatchEmitter) -> [KeyValueEntry] {
        entries.values.filter { emitter.covers($0.key) }
    }

    private func notifyPrefixWatchers(of key: String) {
        for emitter in prefixWatchers.values where emitter.covers(key) { emitter.emit(snapshot(for: emitter)) }
    }

    private func register(_ emitter: PrefixWatchEmitter) {
        emitter.emit(snapshot(for: emitter))
        prefixWatchers[ObjectIdentifier(emitter)] = emitter
    }

    private func unregister(_ emitter: PrefixWatchEmitter) {
        prefixWatchers[ObjectIdentifier(emitter)] = nil
    }

    private func register(_ emitter: WatchEmitter) {
        emitter.emit(entries[emitter.key])
        watchers[emitter.key, default: [:]][ObjectIdentifier(emitter)] = emitter
    }

    private func unregister(_ emitter: WatchEmitter) {
        watchers[emitter.key]?[ObjectIdentifier(emitter)] = nil
    }
}
