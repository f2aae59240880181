public import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
import NIOCore
import NIOHTTP1

/// A key-value store on Consul's KV HTTP API (`/v1/kv/...`).
///
/// Keys map to Consul keys without the leading `/` (`/vamp/acme/gateways` → `vamp/acme/gateways`).
/// A watch is a loop of blocking queries (`?index=<X-Consul-Index>&wait=`); it resets to index 0
/// when the index goes backwards (snapshot restore), waits a little after a query that returned
/// with no change (so a misbehaving server degrades to polling, not a busy loop) and backs off
/// after errors.
///
/// Debian ships no Consul, so this store is tested against a fake that follows Consul's
/// documented KV API, not against a real Consul.
public struct ConsulKeyValueStore: KeyValueStore {
    /// Where and how to reach the Consul agent.
    public struct Configuration: Sendable {
        /// The agent's HTTP address, for example `http://127.0.0.1:8500`.
        public var address: String
        /// The ACL token sent as `X-Consul-Token`; nil uses the agent's default token.
        public var token: String?
        /// The datacenter (`?dc=`); nil uses the agent's own.
        public var datacenter: String?
        /// How long one blocking query of a watch may wait on the server (`?wait=`).
        public var watchWait: Duration
        /// How long a get, set, delete or list may take.
        public var requestTimeout: Duration
        /// Backoff limit between attempts of a watch after errors.
        public var maximumReconnectDelay: Duration

        /// Creates a configuration.
        public init(
            address: String = "http://127.0.0.1:8500",
            token: String? = nil,
            datacenter: String? = nil,
            watchWait: Duration = .seconds(5),
            requestTimeout: Duration = .seconds(10),
            maximumReconnectDelay: Duration = .seconds(1)
        ) {
            self.address = address
            self.token = token
            self.datacenter = datacenter
            self.watchWait = watchWait
            self.requestTimeout = requestTimeout
            self.maximumReconnectDelay = maximumReconnectDelay
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
        self.logger = logger ?? Logger(label: "vamp.kv.consul", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    private var server: String { configuration.address }

    /// `/v1/kv/<key without the leading slash>`, each part percent-encoded, plus the query.
    private func url(_ key: String, directory: Bool = false, query: [String] = []) -> String {
        // RFC 3986 path characters (unreserved, sub-delims, ':' and '@'), without '/': each part is one segment.
        let parts = key.split(separator: "/").map { part in
            PercentEncoding.encode(part) { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
                default: "-._~!$&'()*+,;=:@".utf8.contains(byte)
                }
            }
        }
        var path = "/v1/kv/" + parts.joined(separator: "/")
        if directory && !parts.isEmpty { path += "/" }
        var query = query
        if let datacenter = configuration.datacenter {
            query.append("dc=" + PercentEncoding.encode(datacenter) { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            })
        }
        return configuration.address + path + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    private struct Answer {
        var status: HTTPResponseStatus
        var index: UInt64?
        var body: [UInt8]
    }

    private func send(
        _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, timeout: Duration, key: String
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token = configuration.token { request.headers.add(name: "X-Consul-Token", value: token) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let bytes = try await response.body.bytes()
            let index = response.headers.first(name: "X-Consul-Index").flatMap(UInt64.init)
            return Answer(status: response.status, index: index, body: bytes)
        } catch {
            throw KeyValueStoreError(
                .unavailable, "\(method) \(url) failed: \(error); is the Consul agent running?",
                server: server, key: key)
        }
    }

    private func failure(_ answer: Answer, _ what: String, key: String) -> KeyValueStoreError {
        var message = "\(what) answered \(answer.status.code): " + String(decoding: answer.body.prefix(300), as: UTF8.self)
        if answer.status == .forbidden { message += "; check the ACL token's key rules" }
        return KeyValueStoreError(.serverError, message, server: server, key: key)
    }

    private struct ConsulEntry: Decodable {
        var Key: String
        var Value: String?
        var ModifyIndex: UInt64
    }

    private func decodeEntry(_ answer: Answer, key: String) throws -> KeyValueEntry? {
        guard answer.status == .ok else { return nil }
        do {
            let entries = try JSONDecoder().decode([ConsulEntry].self, from: Data(answer.body))
            guard let first = entries.first else { return nil }
            return KeyValueEntry(key: key, value: Base64.decode(first.Value), version: first.ModifyIndex)
        } catch {
            throw KeyValueStoreError(.protocolError, "cannot decode the KV entry: \(error)", server: server, key: key)
        }
    }

    public func get(_ key: String) async throws -> KeyValueEntry? {
        try KeyPath.validate(key, server: server)
        let answer = try await send(.GET, url(key), timeout: configuration.requestTimeout, key: key)
        guard answer.status == .ok || answer.status == .notFound else { throw failure(answer, "GET", key: key) }
        return try decodeEntry(answer, key: key)
    }

    public func set(_ key: String, value: [UInt8]) async throws {
        try KeyPath.validate(key, server: server)
        try ValueLimit.check(value, limit: ValueLimit.consul, store: "Consul", server: server, key: key)
        let answer = try await send(.PUT, url(key), body: value, timeout: configuration.requestTimeout, key: key)
        guard answer.status == .ok, String(decoding: answer.body, as: UTF8.self).hasPrefix("true") else {
            throw failure(answer, "PUT", key: key)
        }
    }

    /// Check-and-set on the `ModifyIndex` just read (`?cas=0` when the key is missing): Consul
    /// writes only if no other write came in between; otherwise read and try again.
    @discardableResult
    public func setIfChanged(_ key: String, value: [UInt8]) async throws -> Bool {
        try KeyPath.validate(key, server: server)
        try ValueLimit.check(value, limit: ValueLimit.consul, store: "Consul", server: server, key: key)
        while true {
            let current = try await get(key)
            if current?.value == value { return false }
            let answer = try await send(
                .PUT, url(key, query: ["cas=\(current?.version ?? 0)"]), body: value,
                timeout: configuration.requestTimeout, key: key)
            guard answer.status == .ok else { throw failure(answer, "PUT ?cas", key: key) }
            if String(decoding: answer.body, as: UTF8.self).hasPrefix("true") { return true }
            try Task.checkCancellation()
        }
    }

    /// Every entry at or below `prefix` (a `?recurse` read, filtered to whole path components).
    private func decodeEntries(_ answer: Answer, prefix: String) throws -> [KeyValueEntry] {
        guard answer.status == .ok else { return [] }
        do {
            return try JSONDecoder().decode([ConsulEntry].self, from: Data(answer.body)).map {
                KeyValueEntry(key: "/" + $0.Key, value: Base64.decode($0.Value), version: $0.ModifyIndex)
            }
        } catch {
            throw KeyValueStoreError(.protocolError, "cannot decode the KV entries: \(error)", server: server, key: prefix)
        }
    }

    /// A recursive blocking query on the prefix (`?recurse&index=&wait=`).
    public func watch(prefix: String) -> KeyValuePrefixWatch {
        let store = self
        return KeyValuePrefixWatch.running(prefix: prefix) { emitter in
            var index: UInt64 = 0
            var backoff = Backoff(maximum: store.configuration.maximumReconnectDelay)
            let waitMilliseconds = store.configuration.watchWait.nanoseconds / 1_000_000
            let timeout = store.configuration.watchWait * 1.1 + .seconds(5)
            while !Task.isCancelled {
                do {
                    var query = ["recurse"]
                    if index > 0 { query += ["index=\(index)", "wait=\(waitMilliseconds)ms"] }
                    let answer = try await store.send(
                        .GET, store.url(prefix == "/" ? "" : prefix, query: query), timeout: timeout, key: prefix)
                    guard answer.status == .ok || answer.status == .notFound else {
                        throw store.failure(answer, "blocking GET ?recurse", key: prefix)
                    }
                    emitter.emit(try store.decodeEntries(answer, prefix: prefix))
                    backoff.reset()
                    let newIndex = max(answer.index ?? 1, 1)
                    if newIndex < index {
                        index = 0
                    } else if newIndex == index {
                        try await Task.sleep(for: .milliseconds(50))
                    } else {
                        index = newIndex
                    }
                } catch {
                    if Task.isCancelled { return }
                    store.logger.debug(
                        "Consul prefix watch interrupted, retrying",
                        metadata: ["vamp.kv.key": "\(prefix)", "vamp.kv.error": "\(error)"])
                    index = 0
                    do { try await backoff.sleep() } catch { return }
                }
            }
        }
    }

    public func delete(_ key: String) async throws {
        try KeyPath.validate(key, server: server)
        let answer = try await send(.DELETE, url(key), timeout: configuration.requestTimeout, key: key)
        guard answer.status == .ok else { throw failure(answer, "DELETE", key: key) }
    }

    public func children(of key: String) async throws -> [String] {
        try KeyPath.validate(key, server: server, allowRoot: true)
        let answer = try await send(
            .GET, url(key, directory: true, query: ["keys", "separator=/"]),
            timeout: configuration.requestTimeout, key: key)
        if answer.status == .notFound { return [] }
        guard answer.status == .ok else { throw failure(answer, "GET ?keys", key: key) }
        let keys: [String]
        do {
            keys = try JSONDecoder().decode([String].self, from: Data(answer.body))
        } catch {
            throw KeyValueStoreError(.protocolError, "cannot decode the key list: \(error)", server: server, key: key)
        }
        // Consul folds deeper levels into "prefix/child/"; make full keys of them again.
        return KeyPath.childNames(of: key, in: keys.map { "/" + ($0.hasSuffix("/") ? String($0.dropLast()) : $0) })
    }

    public func watch(_ key: String) -> KeyValueWatch {
        let store = self
        return KeyValueWatch.running(key: key) { emitter in
            guard (try? KeyPath.validate(key, server: store.server)) != nil else { return }
            var index: UInt64 = 0
            var backoff = Backoff(maximum: store.configuration.maximumReconnectDelay)
            let waitMilliseconds = store.configuration.watchWait.nanoseconds / 1_000_000
            // The server may add up to wait/16 of jitter: allow for it and a margin.
            let timeout = store.configuration.watchWait * 1.1 + .seconds(5)
            while !Task.isCancelled {
                do {
                    let query = index > 0 ? ["index=\(index)", "wait=\(waitMilliseconds)ms"] : []
                    let answer = try await store.send(.GET, store.url(key, query: query), timeout: timeout, key: key)
                    guard answer.status == .ok || answer.status == .notFound else {
                        throw store.failure(answer, "blocking GET", key: key)
                    }
                    emitter.emit(try store.decodeEntry(answer, key: key))
                    backoff.reset()
                    let newIndex = max(answer.index ?? 1, 1)
                    if newIndex < index {
                        index = 0  // the index went backwards (snapshot restore): start over
                    } else if newIndex == index {
                        // Returned without a change (timeout or spurious wake-up): pause briefly so
                        // a server that never blocks cannot turn this into a busy loop.
                        try await Task.sleep(for: .milliseconds(50))
                    } else {
                        index = newIndex
                    }
                } catch {
                    if Task.isCancelled { return }
                    emitter.unreachable(error)
                    store.logger.debug(
                        "Consul watch interrupted, retrying",
                        metadata: ["vamp.kv.key": "\(key)", "vamp.kv.error": "\(error)"])
                    index = 0
                    do { try await backoff.sleep() } catch { return }
                }
            }
        }
    }
}
