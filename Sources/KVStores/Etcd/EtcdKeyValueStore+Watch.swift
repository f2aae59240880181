import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Key and prefix watches: a long-lived watch stream of etcd's JSON gateway, resumed from the last revision seen
/// after an outage, with backoff.
extension EtcdKeyValueStore {
    /// A range watch over the prefix: each batch of events re-reads the range, so the set
    /// yielded is always one consistent read.
    public func watch(prefix: String) -> KeyValuePrefixWatch {
        let store = self
        return KeyValuePrefixWatch.running(prefix: prefix) { emitter in
            var backoff = Backoff(maximum: store.configuration.maximumReconnectDelay)
            let progress = WatchProgress()
            while !Task.isCancelled {
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await store.readPrefixStream(prefix, progress: progress, emitter: emitter) }
                        group.addTask {
                            while true {
                                try await Task.sleep(for: store.configuration.livenessCheckInterval)
                                _ = try await store.list(prefix: prefix, timeout: .seconds(2))
                            }
                        }
                        defer { group.cancelAll() }
                        try await group.next()
                    }
                } catch {
                    if Task.isCancelled { return }
                    store.logger.debug(
                        "etcd prefix watch interrupted, reconnecting",
                        metadata: ["vamp.kv.key": "\(prefix)", "vamp.kv.error": "\(error)"])
                }
                if progress.takeConnected() { backoff.reset() }
                do { try await backoff.sleep() } catch { return }
            }
        }
    }

    private func readPrefixStream(_ prefix: String, progress: WatchProgress, emitter: PrefixWatchEmitter) async throws {
        var create: [String: Any] = ["key": Base64.encode(prefix), "range_end": Base64.encode(Self.rangeEnd(prefix))]
        if let revision = progress.revision { create["start_revision"] = revision + 1 }
        let response = try await client.execute(
            try request("/watch", ["create_request": create]), deadline: .now() + .seconds(2))
        guard response.status == .ok else {
            throw KeyValueStoreError(
                .serverError, "POST \(configuration.apiPrefix)/watch answered \(response.status.code)",
                server: server, key: prefix)
        }
        var pending: [UInt8] = []
        let decoder = JSONDecoder()
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
                let message = try decoder.decode(EtcdWatchMessage.self, from: line)
                if let error = message.error {
                    throw KeyValueStoreError(
                        .serverError, "watch stream error: \(error.message ?? "unknown")", server: server, key: prefix)
                }
                guard let result = message.result else { continue }
                if result.canceled == true {
                    if (result.compact_revision?.value ?? 0) > 0 { progress.revision = nil }
                    throw KeyValueStoreError(
                        .serverError, "watch cancelled by etcd: \(result.cancel_reason ?? "compacted history")",
                        server: server, key: prefix)
                }
                let changed = (result.events ?? []).contains { ($0.kv?.mod_revision?.value ?? 0) > (progress.revision ?? 0) }
                guard result.created == true || changed else { continue }
                // On open: read afresh (changes made while away); on events: read the new state.
                let (entries, revision) = try await list(prefix: prefix)
                emitter.emit(entries)
                progress.revision = max(revision, progress.revision ?? 0)
                if result.created == true { progress.markConnected() }
            }
        }
        throw KeyValueStoreError(.unavailable, "the watch stream ended", server: server, key: prefix)
    }

    // MARK: Watch

    public func watch(_ key: String) -> KeyValueWatch {
        let store = self
        return KeyValueWatch.running(key: key) { emitter in
            guard (try? KeyPath.validate(key, server: store.server)) != nil else { return }
            var backoff = Backoff(maximum: store.configuration.maximumReconnectDelay)
            let progress = WatchProgress()
            while !Task.isCancelled {
                do {
                    try await store.followStream(key, progress: progress, emitter: emitter)
                } catch {
                    if Task.isCancelled { return }
                    emitter.unreachable(error)
                    store.logger.debug(
                        "etcd watch interrupted, reconnecting",
                        metadata: ["vamp.kv.key": "\(key)", "vamp.kv.error": "\(error)"])
                }
                if progress.takeConnected() { backoff.reset() }
                do { try await backoff.sleep() } catch { return }
            }
        }
    }

    /// How far a watch got, shared by its successive streams.
    final class WatchProgress: Sendable {
        private let state: Mutex<(revision: Int64?, connected: Bool)>

        init(revision: Int64? = nil) { state = Mutex((revision, false)) }

        /// The store revision up to which the emitter is in sync; nil before the first sync or
        /// after a compaction.
        var revision: Int64? {
            get { state.withLock { $0.revision } }
            set { state.withLock { $0.revision = newValue } }
        }

        /// Notes that a stream got as far as its first sync.
        func markConnected() { state.withLock { $0.connected = true } }

        /// True once after a stream got as far as its first sync (to reset the backoff).
        func takeConnected() -> Bool {
            state.withLock { state in
                defer { state.connected = false }
                return state.connected
            }
        }
    }

    /// Follows one watch stream, next to a liveness check, until either fails.
    func followStream(_ key: String, progress: WatchProgress, emitter: WatchEmitter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.readStream(key, progress: progress, emitter: emitter) }
            group.addTask { try await self.checkLiveness(key) }
            // Whichever ends first (both end only by throwing) ends the other.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Reads the key every `livenessCheckInterval`; throws when etcd does not answer in 2 s.
    private func checkLiveness(_ key: String) async throws {
        while true {
            try await Task.sleep(for: configuration.livenessCheckInterval)
            _ = try await range(key, timeout: .seconds(2))
        }
    }

    /// Opens one watch stream and follows it until it breaks (throws) or ends.
    private func readStream(_ key: String, progress: WatchProgress, emitter: WatchEmitter) async throws {
        var create: [String: Any] = ["key": Base64.encode(key)]
        if let revision = progress.revision { create["start_revision"] = revision + 1 }
        // The deadline covers only the response head: once the stream is open it runs until it
        // breaks. Kept short so that while etcd is down this loop, not the HTTP client's
        // connection pool, paces the retries.
        let response = try await client.execute(
            try request("/watch", ["create_request": create]), deadline: .now() + .seconds(2))
        guard response.status == .ok else {
            throw KeyValueStoreError(
                .serverError, "POST \(configuration.apiPrefix)/watch answered \(response.status.code)",
                server: server, key: key)
        }
        var pending: [UInt8] = []
        var synced = false
        let decoder = JSONDecoder()
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
                let message = try decoder.decode(EtcdWatchMessage.self, from: line)
                if let error = message.error {
                    throw KeyValueStoreError(
                        .serverError, "watch stream error: \(error.message ?? "unknown")", server: server, key: key)
                }
                guard let result = message.result else { continue }
                if result.canceled == true {
                    if (result.compact_revision?.value ?? 0) > 0 { progress.revision = nil }
                    throw KeyValueStoreError(
                        .serverError,
                        "watch cancelled by etcd: \(result.cancel_reason ?? "compacted history")",
                        server: server, key: key)
                }
                if !synced {
                    guard result.created == true else { continue }
                    // The stream is open: read the key afresh so a change made while we were
                    // away is delivered even if its history was compacted.
                    let (entry, revision) = try await range(key)
                    emitter.emit(entry)
                    progress.revision = revision
                    progress.markConnected()
                    synced = true
                    continue
                }
                for event in result.events ?? [] {
                    guard let kv = event.kv, let modified = kv.mod_revision?.value,
                        modified > (progress.revision ?? 0)
                    else { continue }
                    if event.type == "DELETE" {
                        emitter.emit(nil)
                    } else {
                        emitter.emit(KeyValueEntry(key: key, value: Base64.decode(kv.value), version: UInt64(modified)))
                    }
                    progress.revision = modified
                }
            }
        }
        throw KeyValueStoreError(.unavailable, "the watch stream ended", server: server, key: key)
    }
}
