import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A fake Consul agent for tests: the KV part of Consul's HTTP API as documented
/// (`/work/shared/reference/consul-kv-api.md`): one global Raft-like index advanced (with gaps)
/// by every write, per-key ModifyIndex and deletion tombstones, `X-Consul-Index` rules for single
/// keys and listings, 404 with an empty body for missing keys, base64 values (`null` when empty),
/// `?keys&separator=/` folding, blocking queries (`?index=&wait=`), `X-Consul-Token` checks and
/// `?dc=`. Test switches simulate a snapshot restore (the index goes backwards), a server that
/// answers blocking queries at once, and an outage (every request gets 500).
///
/// It is not Consul: nothing here was checked against a real agent.
final class FakeConsulServer: Sendable {
    struct Entry {
        var value: [UInt8]
        var createIndex: UInt64
        var modifyIndex: UInt64
    }

    struct State {
        var index: UInt64 = 40
        var entries: [String: Entry] = [:]
        var tombstones: [String: UInt64] = [:]
        var requiredToken: String? = nil
        var ignoreBlocking = false
        var failing = false
        var requestCount = 0
    }

    let state = FakeLock(State())
    let port: Int
    let datacenter = "dc1"
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let acceptLoop: Task<Void, Never>

    var address: String { "http://127.0.0.1:\(port)" }

    /// Starts listening on a free loopback port.
    static func start() async throws -> FakeConsulServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return FakeConsulServer(channel: channel)
    }

    private init(
        channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    ) {
        self.channel = channel
        self.port = channel.channel.localAddress?.port ?? 0
        let state = self.state
        let datacenter = self.datacenter
        // Test-only server: one task owns the accept loop and is cancelled by stop().
        acceptLoop = Task {
            try? await channel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask {
                            try? await Self.serve(connection, state: state, datacenter: datacenter)
                        }
                    }
                }
            }
        }
    }

    /// Stops listening and drops the open connections.
    func stop() async {
        try? await channel.channel.close()
        acceptLoop.cancel()
        _ = await acceptLoop.value
    }

    // MARK: Switches

    /// Requires this ACL token on every request (nil: ACLs off).
    func requireToken(_ token: String?) { state.withLock { $0.requiredToken = token } }
    /// Answers blocking queries at once with an unchanged index (spurious wake-ups).
    func ignoreBlocking(_ on: Bool) { state.withLock { $0.ignoreBlocking = on } }
    /// Answers every request with 500 while on.
    func fail(_ on: Bool) { state.withLock { $0.failing = on } }
    /// How many requests arrived so far.
    var requestCount: Int { state.withLock { $0.requestCount } }

    /// Simulates a snapshot restore: every index drops (the data stays).
    func restoreSnapshot() {
        state.withLock { state in
            state.index = 5
            for key in state.entries.keys.sorted() {
                state.index += 1
                state.entries[key]!.createIndex = state.index
                state.entries[key]!.modifyIndex = state.index
            }
            state.tombstones = [:]
        }
    }

    // MARK: HTTP

    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        state: FakeLock<State>, datacenter: String
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body = []
                case .body(let buffer):
                    body += buffer.readableBytesView
                case .end:
                    guard let request = head else { continue }
                    let (status, headers, payload) = await handle(request, body, state: state, datacenter: datacenter)
                    var responseHeaders = HTTPHeaders(headers)
                    responseHeaders.add(name: "Content-Length", value: "\(payload.count)")
                    try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: responseHeaders)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: payload))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    static func parseWait(_ text: String?) -> Duration? {
        guard let text else { return .seconds(300) }
        if text.hasSuffix("ms"), let value = Int(text.dropLast(2)) { return .milliseconds(value) }
        if text.hasSuffix("s"), let value = Int(text.dropLast()) { return .seconds(value) }
        if text.hasSuffix("m"), let value = Int(text.dropLast()) { return .seconds(value * 60) }
        return nil
    }

    private static func handle(
        _ request: HTTPRequestHead, _ body: [UInt8], state: FakeLock<State>, datacenter: String
    ) async -> (HTTPResponseStatus, [(String, String)], [UInt8]) {
        let text: (HTTPResponseStatus, String) -> (HTTPResponseStatus, [(String, String)], [UInt8]) = {
            ($0, [("Content-Type", "text/plain; charset=utf-8")], Array($1.utf8))
        }
        let (failing, requiredToken) = state.withLock { state in
            state.requestCount += 1
            return (state.failing, state.requiredToken)
        }
        if failing { return text(.internalServerError, "No cluster leader") }
        guard let components = URLComponents(string: request.uri), components.path.hasPrefix("/v1/kv/") else {
            return text(.notFound, "")
        }
        var query: [String: String?] = [:]
        for item in components.queryItems ?? [] { query.updateValue(item.value, forKey: item.name) }
        if let dc = query["dc"] ?? nil, dc != datacenter { return text(.internalServerError, "No path to datacenter") }
        if let requiredToken, request.headers.first(name: "X-Consul-Token") != requiredToken {
            return text(.forbidden, request.headers.contains(name: "X-Consul-Token") ? "ACL not found" : "Permission denied")
        }
        let key = String(components.path.dropFirst("/v1/kv/".count))

        switch request.method {
        case .PUT:
            guard !key.isEmpty else { return text(.badRequest, "Missing key name") }
            var cas: UInt64?
            if let raw = query["cas"] ?? nil {
                guard let value = UInt64(raw) else { return text(.badRequest, "Invalid cas index") }
                cas = value
            }
            let written = state.withLock { state -> Bool in
                // ?cas=0: only if absent; ?cas=N: only if ModifyIndex == N (failure: 200 false).
                if let cas {
                    let current = state.entries[key]?.modifyIndex ?? 0
                    if current != cas { return false }
                }
                state.index += UInt64.random(in: 1...3)  // other writes in the cluster leave gaps
                let created = state.entries[key]?.createIndex ?? state.index
                state.entries[key] = Entry(value: body, createIndex: created, modifyIndex: state.index)
                state.tombstones[key] = nil
                return true
            }
            return (.ok, [("Content-Type", "application/json")], Array((written ? "true" : "false").utf8))
        case .DELETE:
            state.withLock { state in
                if state.entries.removeValue(forKey: key) != nil {
                    state.index += 1
                    state.tombstones[key] = state.index
                }
            }
            return (.ok, [("Content-Type", "application/json")], Array("true".utf8))
        case .GET:
            let listing = query.keys.contains("keys") || query.keys.contains("recurse")
            var after: UInt64 = 0
            if let raw = query["index"] ?? nil {
                guard let value = UInt64(raw) else { return text(.badRequest, "Invalid index") }
                after = value
            }
            guard let wait = parseWait(query["wait"] ?? nil) else { return text(.badRequest, "Invalid wait time") }
            let deadline = ContinuousClock.now + min(wait, .seconds(600))
            while after > 0 {
                let (current, ignore) = state.withLock { (Self.index(of: key, listing: listing, in: $0), $0.ignoreBlocking) }
                if current > after || ignore || ContinuousClock.now >= deadline { break }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return state.withLock { state in
                let index = max(Self.index(of: key, listing: listing, in: state), 1)
                let indexHeader = ("X-Consul-Index", "\(index)")
                if query.keys.contains("recurse") && !query.keys.contains("keys") {
                    // ?recurse: every entry whose key starts with the prefix (a string prefix).
                    let matching = state.entries.filter { $0.key.hasPrefix(key) }.sorted { $0.key < $1.key }
                    if matching.isEmpty { return (.notFound, [indexHeader], []) }
                    let objects: [[String: Any]] = matching.map { name, entry in
                        [
                            "LockIndex": 0, "Key": name, "Flags": 0,
                            "Value": entry.value.isEmpty ? NSNull() : Data(entry.value).base64EncodedString(),
                            "CreateIndex": entry.createIndex, "ModifyIndex": entry.modifyIndex,
                        ]
                    }
                    let json = try! JSONSerialization.data(withJSONObject: objects)
                    return (.ok, [indexHeader, ("Content-Type", "application/json")], Array(json))
                }
                if listing {
                    let matching = state.entries.keys.filter { $0.hasPrefix(key) }.sorted()
                    if matching.isEmpty && !key.isEmpty { return (.notFound, [indexHeader], []) }
                    var names: [String] = []
                    let separator = query["separator"] ?? nil
                    for name in matching {
                        var folded = name
                        if let separator, let range = name.dropFirst(key.count).range(of: separator) {
                            folded = String(name[..<range.upperBound])
                        }
                        if names.last != folded { names.append(folded) }
                    }
                    let json = try! JSONSerialization.data(withJSONObject: names)
                    return (.ok, [indexHeader, ("Content-Type", "application/json")], Array(json))
                }
                guard let entry = state.entries[key] else { return (.notFound, [indexHeader], []) }
                let object: [String: Any] = [
                    "LockIndex": 0, "Key": key, "Flags": 0,
                    "Value": entry.value.isEmpty ? NSNull() : Data(entry.value).base64EncodedString(),
                    "CreateIndex": entry.createIndex, "ModifyIndex": entry.modifyIndex,
                ]
                let json = try! JSONSerialization.data(withJSONObject: [object])
                return (.ok, [indexHeader, ("Content-Type", "application/json")], Array(json))
            }
        default:
            return text(.methodNotAllowed, "method not allowed")
        }
    }

    /// The `X-Consul-Index` of a read (section 6 of the reference).
    private static func index(of key: String, listing: Bool, in state: State) -> UInt64 {
        if !listing {
            return state.entries[key]?.modifyIndex ?? state.index
        }
        let under =
            state.entries.filter { $0.key.hasPrefix(key) }.map(\.value.modifyIndex)
            + state.tombstones.filter { $0.key.hasPrefix(key) }.map(\.value)
        return key.isEmpty ? state.index : (under.max() ?? state.index)
    }
}

/// A lock-protected value for the fake server's state.
final class FakeLock<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
