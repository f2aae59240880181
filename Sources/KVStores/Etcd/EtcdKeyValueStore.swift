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
    let client: HTTPClient
    let logger: Logger

    /// Creates a store. `httpClient` defaults to one shared by all stores of this module.
    public init(configuration: Configuration = .init(), httpClient: HTTPClient? = nil, logger: Logger? = nil) {
        self.configuration = configuration
        self.client = httpClient ?? SharedHTTPClient.client
        self.logger = logger ?? Logger(label: "vamp.kv.etcd", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    var server: String { configuration.endpoint }

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
    static func rangeEnd(_ prefix: String) -> [UInt8] {
        prefix == "/" ? Array("0".utf8) : Array((prefix + "0").utf8)
    }

    /// Every entry at or below `prefix` and the store revision they were read at.
    func list(prefix: String, timeout: Duration? = nil) async throws -> (entries: [KeyValueEntry], revision: Int64) {
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

    func range(_ key: String, timeout: Duration? = nil) async throws -> (entry: KeyValueEntry?, revision: Int64) {
        let response: EtcdRangeResponse = try await call(
            "/kv/range", ["key": Base64.encode(key)], key: key, timeout: timeout)
        let revision = response.header?.revision?.value ?? 0
        guard let kv = response.kvs?.first else { return (nil, revision) }
        let entry = KeyValueEntry(
            key: key, value: Base64.decode(kv.value), version: UInt64(kv.mod_revision?.value ?? 0))
        return (entry, revision)
    }

    func request(_ path: String, _ body: [String: Any]) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: configuration.endpoint + configuration.apiPrefix + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try EtcdJSON.encode(body, server: configuration.endpoint)))
        return request
    }

    func call<Response: Decodable>(
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
}
