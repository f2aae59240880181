public import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A key-value store on etcd v3, through etcd's HTTP/JSON gateway (`/v3/kv/...`, `/v3/watch`).
///
/// Keys are stored as they are (`/vamp/acme/gateways`), values as raw bytes. A watch is one
/// streaming `POST /v3/watch`; after the stream breaks it reconnects with backoff, resumes from
/// the last seen revision (`start_revision`) and reads the key afresh, so the final value of an
/// outage is always delivered, also when the missed history was compacted.
public struct EtcdKeyValueStore: KeyValueStore {
    /// Where and how to reach etcd.
    public struct Configuration: Sendable {
        /// The client URL, for example `http://127.0.0.1:2379`.
        public var endpoint: String
        /// The gateway's path prefix: `/v3` (etcd 3.4 and later; 3.3 used `/v3beta`).
        public var apiPrefix: String
        /// How long a get, set, delete or list may take.
        public var requestTimeout: Duration
        /// Backoff limit between reconnect attempts of a watch.
        public var maximumReconnectDelay: Duration
        /// How often an open watch checks that etcd still answers (a read of the key with a
        /// 2 s timeout). A watch stream alone cannot tell a quiet key from a frozen server.
        public var livenessCheckInterval: Duration

        /// Creates a configuration.
        public init(
            endpoint: String = "http://127.0.0.1:2379",
            apiPrefix: String = "/v3",
            requestTimeout: Duration = .seconds(10),
            maximumReconnectDelay: Duration = .seconds(1),
            livenessCheckInterval: Duration = .seconds(5)
        ) {
            self.endpoint = endpoint
            self.apiPrefix = apiPrefix
            self.requestTimeout = requestTimeout
            self.maximumReconnectDelay = maximumReconnectDelay
            self.livenessCheckInterval = livenessCheckInterval
        }
    }

    /// The configuration.
    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger

    /// Creates a store. `httpClient` defaults to one shared by all stores of this module.
    public init(configuration: Configuration = .init(), httpClient: HTTPClient? = nil, logger: Logger? = nil) {
        self.configuration = configuration
        self.client = httpClient ?? SharedHTTPClient.client
        self.logger = logger ?? Logger(label: "vamp.kv.etcd", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    private var server: String { configuration.endpoint }

    // MARK: Operations

    public func get(_ key: String) async throws -> KeyValueEntry? {
        try KeyPath.validate(key, server: server)
        return try await range(key).entry
    }

    public func set(_ key: String, value: [UInt8]) async throws {
        try KeyPath.validate(key, server: server)
        try ValueLimit.check(value, limit: ValueLimit.etcd(key: key), store: "etcd", server: server, key: key)
        let _: EtcdHeaderResponse = try await call(
            "/kv/put", ["key": Base64.encode(key), "value": Base64.encode(value)], key: key)
    }

    public func delete(_ key: String) async throws {
        try KeyPath.validate(key, server: server)
        let _: EtcdHeaderResponse = try await call("/kv/deleterange", ["key": Base64.encode(key)], key: key)
    }

    public func children(of key: String) async throws -> [String] {
        try KeyPath.validate(key, server: server, allowRoot: true)
        let prefix = key == "/" ? "/" : key + "/"
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1  // "/" + 1 = "0": the end of the prefix range
        let response: EtcdRangeResponse = try await call(
            "/kv/range",
            ["key": Base64.encode(prefix), "range_end": Base64.encode(end), "keys_only": true],
            key: key)
        let keys = (response.kvs ?? []).map { String(decoding: Base64.decode($0.key), as: UTF8.self) }
        return KeyPath.childNames(of: key, in: keys)
    }

    /// Compares the key's mod revision with the one just read, in one etcd transaction: the
    /// put happens only if no other write came in between; otherwise read and try again.
    @discardableResult
    public func setIfChanged(_ key: String, value: [UInt8]) async throws -> Bool {
        try KeyPath.validate(key, server: server)
        try ValueLimit.check(value, limit: ValueLimit.etcd(key: key), store: "etcd", server: server, key: key)
        while true {
            let current = try await range(key).entry
            if current?.value == value { return false }
            // A missing key compares as mod revision 0.
            let compare: [String: Any] = [
                "key": Base64.encode(key), "target": "MOD", "result": "EQUAL",
                "mod_revision": Int64(current?.version ?? 0),
            ]
            let put: [String: Any] = ["request_put": ["key": Base64.encode(key), "value": Base64.encode(value)]]
            let response: EtcdTxnResponse = try await call(
                "/kv/txn", ["compare": [compare], "success": [put]], key: key)
            if response.succeeded == true { return true }
            try Task.checkCancellation()
        }
    }

    /// The end of the range holding `prefix` and everything below it: `prefix` + `0`, the byte
    /// after `/`. Keys such as `prefix-x` fall in the range too and are filtered out.
    private static func rangeEnd(_ prefix: String) -> [UInt8] {
        prefix == "/" ? Array("0".utf8) : Array((prefix + "0").utf8)
    }

    /// Every entry at or below `prefix` and the store revision they were read at.
    private func list(prefix: String, timeout: Duration? = nil) async throws -> (entries: [KeyValueEntry], revision: Int64) {
        let response: EtcdRangeResponse = try await call(
            "/kv/range", ["key": Base64.encode(prefix), "range_end": Base64.encode(Self.rangeEnd(prefix))],
            key: prefix, timeout: timeout)
        let entries = (response.kvs ?? []).map { kv in
            KeyValueEntry(
                key: String(decoding: Base64.decode(kv.key), as: UTF8.self), value: Base64.decode(kv.value),
                version: UInt64(kv.mod_revision?.value ?? 0))
        }
        return (entries, response.header?.revision?.value ?? 0)
    }

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

    private func range(_ key: String, timeout: Duration? = nil) async throws -> (entry: KeyValueEntry?, revision: Int64) {
        let response: EtcdRangeResponse = try await call(
            "/kv/range", ["key": Base64.encode(key)], key: key, timeout: timeout)
        let revision = response.header?.revision?.value ?? 0
        guard let kv = response.kvs?.first else { return (nil, revision) }
        let entry = KeyValueEntry(
            key: key, value: Base64.decode(kv.value), version: UInt64(kv.mod_revision?.value ?? 0))
        return (entry, revision)
    }

    private func request(_ path: String, _ body: [String: Any]) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: configuration.endpoint + configuration.apiPrefix + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try EtcdJSON.encode(body, server: configuration.endpoint)))
        return request
    }

    private func call<Response: Decodable>(
        _ path: String, _ body: [String: Any], key: String, timeout: Duration? = nil
    ) async throws -> Response {
        let response: HTTPClientResponse
        let bytes: [UInt8]
        do {
            response = try await client.execute(
                try request(path, body), timeout: .nanoseconds((timeout ?? configuration.requestTimeout).nanoseconds))
            bytes = try await response.body.bytes()
        } catch {
            throw KeyValueStoreError(
                .unavailable, "POST \(configuration.apiPrefix)\(path) failed: \(error); is etcd running there?",
                server: server, key: key)
        }
        guard response.status == .ok else {
            throw KeyValueStoreError(
                .serverError,
                "POST \(configuration.apiPrefix)\(path) answered \(response.status.code): "
                    + String(decoding: bytes.prefix(500), as: UTF8.self),
                server: server, key: key)
        }
        do {
            return try JSONDecoder().decode(Response.self, from: Data(bytes))
        } catch {
            throw KeyValueStoreError(
                .protocolError, "cannot decode the answer of \(path): \(error)", server: server, key: key)
        }
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

// MARK: - JSON shapes of etcd's gateway (field names as etcd sends them)

struct EtcdHeader: Decodable {
    var revision: FlexibleInt64?
}

struct EtcdHeaderResponse: Decodable {
    var header: EtcdHeader?
}

struct EtcdKV: Decodable {
    var key: String?
    var value: String?
    var mod_revision: FlexibleInt64?
}

struct EtcdTxnResponse: Decodable {
    var header: EtcdHeader?
    var succeeded: Bool?
}

struct EtcdRangeResponse: Decodable {
    var header: EtcdHeader?
    var kvs: [EtcdKV]?
}

struct EtcdWatchMessage: Decodable {
    struct Result: Decodable {
        var header: EtcdHeader?
        var created: Bool?
        var canceled: Bool?
        var cancel_reason: String?
        var compact_revision: FlexibleInt64?
        var events: [Event]?
    }
    struct Event: Decodable {
        var type: String?
        var kv: EtcdKV?
    }
    struct Failure: Decodable {
        var message: String?
    }
    var result: Result?
    var error: Failure?
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
