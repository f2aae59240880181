public import Logging
import NIOCore
public import NIOSSL
import Synchronization

/// A key-value store on Apache ZooKeeper, speaking ZooKeeper's wire protocol over SwiftNIO.
///
/// Each key is a znode; `set` creates missing parents (with empty data). One session serves
/// all operations and watches; it pings every third of the session timeout, reconnects with
/// the same session after a dropped connection and starts a new session when the old one
/// expired. A watch uses one-shot ZooKeeper watches (`getData`/`exists` with `watch`) and re-reads
/// (and so re-arms) after every notification and every reconnect, which also delivers the
/// value written while the connection was down.
public struct ZooKeeperKeyValueStore: KeyValueStore {
    /// Where and how to reach ZooKeeper.
    public struct Configuration: Sendable {
        /// `host:port` of each server of the ensemble, tried in order.
        public var servers: [String]
        /// The session timeout to ask for (the server clamps it to 2–20 ticks).
        public var sessionTimeout: Duration
        /// How long one TCP connect may take, and then how long the handshake may (TLS with ``tls``, then the session's).
        public var connectTimeout: Duration
        /// Backoff limit between reconnect attempts of a watch.
        public var maximumReconnectDelay: Duration
        /// TLS to a server's `secureClientPort`: each connection verifies the server's certificate with this
        /// context and checks it names the server's host (an IP address against the certificate's IP addresses),
        /// and shows the context's client certificate, if any. `nil`: plain TCP.
        public var tls: NIOSSLContext?

        /// Creates a configuration.
        public init(
            servers: [String] = ["127.0.0.1:2181"],
            sessionTimeout: Duration = .seconds(10),
            connectTimeout: Duration = .seconds(2),
            maximumReconnectDelay: Duration = .seconds(1),
            tls: NIOSSLContext? = nil
        ) {
            self.servers = servers
            self.sessionTimeout = sessionTimeout
            self.connectTimeout = connectTimeout
            self.maximumReconnectDelay = maximumReconnectDelay
            self.tls = tls
        }
    }

    let session: ZooKeeperSession

    /// Creates a store; it connects on first use.
    public init(configuration: Configuration = .init(), logger: Logger? = nil) {
        session = ZooKeeperSession(
            configuration: configuration,
            logger: logger ?? Logger(label: "vamp.kv.zookeeper", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    private var server: String { session.configuration.servers.joined(separator: ",") }

    /// Closes the session (its connection and pings). Later calls fail with `.unavailable`.
    public func shutdown() async { await session.shutdown() }

    private func failure(_ reply: ZKReply, _ what: String, key: String) -> KeyValueStoreError {
        let code: KeyValueStoreError.Code = reply.error == ZKErr.notEmpty ? .conflict : .serverError
        var message = "\(what) failed with ZooKeeper error \(reply.error) (\(ZKErr.name(reply.error)))"
        if reply.error == ZKErr.notEmpty { message += "; delete the children first" }
        return KeyValueStoreError(code, message, server: server, key: key)
    }

    private func decoding<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            throw KeyValueStoreError(.protocolError, "\(error)", server: server, key: key)
        }
    }

    public func get(_ key: String) async throws -> KeyValueEntry? {
        try KeyPath.validate(key, server: server)
        return try await getData(key, watch: false)
    }

    private func getData(_ key: String, watch: Bool) async throws -> KeyValueEntry? {
        try await getDataAndVersion(key, watch: watch)?.entry
    }

    /// The entry and the node's data version (`stat.version`, what `setData` compares).
    private func getDataAndVersion(_ key: String, watch: Bool) async throws -> (entry: KeyValueEntry, version: Int32)? {
        var reply = try await session.request(.getData, key: key) { buffer in
            buffer.writeJuteString(key)
            buffer.writeJuteBool(watch)
        }
        if reply.error == ZKErr.noNode { return nil }
        guard reply.error == ZKErr.ok else { throw failure(reply, "getData", key: key) }
        return try decoding(key) {
            let data = try reply.body.readJuteBuffer() ?? []
            let stat = try reply.body.readStat()
            return (KeyValueEntry(key: key, value: data, version: UInt64(stat.mzxid)), stat.version)
        }
    }

    /// Arms an exists-watch; true when the node exists.
    private func exists(_ key: String, watch: Bool) async throws -> Bool {
        let reply = try await session.request(.exists, key: key) { buffer in
            buffer.writeJuteString(key)
            buffer.writeJuteBool(watch)
        }
        if reply.error == ZKErr.noNode { return false }
        guard reply.error == ZKErr.ok else { throw failure(reply, "exists", key: key) }
        return true
    }

    public func set(_ key: String, value: [UInt8]) async throws {
        try KeyPath.validate(key, server: server)
        try ValueLimit.check(value, limit: ValueLimit.zooKeeper(key: key), store: "ZooKeeper", server: server, key: key)
        if try await setData(key, value) { return }
        for parent in KeyPath.parents(of: key) {
            _ = try await create(parent, [])
        }
        if try await create(key, value) { return }
        // Someone created it between our setData and create.
        guard try await setData(key, value) else {
            throw KeyValueStoreError(.conflict, "the node vanished while being written; retry", server: server, key: key)
        }
    }

    /// setData at the node version just read: the server refuses it (`badVersion`) when another
    /// write came in between, and the loop reads again. A missing node is created (with its
    /// parents); `nodeExists` means someone else created it first, and the loop reads again.
    @discardableResult
    public func setIfChanged(_ key: String, value: [UInt8]) async throws -> Bool {
        try KeyPath.validate(key, server: server)
        try ValueLimit.check(value, limit: ValueLimit.zooKeeper(key: key), store: "ZooKeeper", server: server, key: key)
        while true {
            if let (entry, version) = try await getDataAndVersion(key, watch: false) {
                if entry.value == value { return false }
                if try await setData(key, value, version: version) { return true }
            } else {
                for parent in KeyPath.parents(of: key) { _ = try await create(parent, []) }
                if try await create(key, value) { return true }
            }
            try Task.checkCancellation()
        }
    }

    /// setData with any version (-1) or an expected one; false when the node does not exist or
    /// (with a version) holds another version.
    private func setData(_ key: String, _ value: [UInt8], version: Int32 = -1) async throws -> Bool {
        let reply = try await session.request(.setData, key: key) { buffer in
            buffer.writeJuteString(key)
            buffer.writeJuteBuffer(value)
            buffer.writeInteger(version)
        }
        if reply.error == ZKErr.noNode || reply.error == ZKErr.badVersion { return false }
        guard reply.error == ZKErr.ok else { throw failure(reply, "setData", key: key) }
        return true
    }

    /// Creates a persistent node; false when it already exists.
    private func create(_ key: String, _ value: [UInt8]) async throws -> Bool {
        let reply = try await session.request(.create, key: key) { buffer in
            buffer.writeJuteString(key)
            buffer.writeJuteBuffer(value)
            buffer.writeOpenACL()
            buffer.writeInteger(Int32(0))  // persistent
        }
        if reply.error == ZKErr.nodeExists { return false }
        guard reply.error == ZKErr.ok else { throw failure(reply, "create", key: key) }
        return true
    }

    public func delete(_ key: String) async throws {
        try KeyPath.validate(key, server: server)
        let reply = try await session.request(.delete, key: key) { buffer in
            buffer.writeJuteString(key)
            buffer.writeInteger(Int32(-1))
        }
        if reply.error == ZKErr.noNode || reply.error == ZKErr.ok { return }
        throw failure(reply, "delete", key: key)
    }

    public func children(of key: String) async throws -> [String] {
        try KeyPath.validate(key, server: server, allowRoot: true)
        return try await childNames(key, watch: false)
    }

    /// getChildren, optionally arming a child watch on the node.
    private func childNames(_ key: String, watch: Bool) async throws -> [String] {
        var reply = try await session.request(.getChildren, key: key) { buffer in
            buffer.writeJuteString(key)
            buffer.writeJuteBool(watch)
        }
        if reply.error == ZKErr.noNode { return [] }
        guard reply.error == ZKErr.ok else { throw failure(reply, "getChildren", key: key) }
        var names = try decoding(key) { () -> [String] in
            let count = try reply.body.readJuteInt()
            return try (0..<max(count, 0)).map { _ in try reply.body.readJuteString() ?? "" }
        }
        if key == "/" { names.removeAll { $0 == "zookeeper" } }  // the server's own node
        return names.sorted()
    }

    /// Child watches and data watches on every node of the subtree: any of them firing (or the
    /// connection dropping) makes the loop read the subtree again and re-arm them.
    public func watch(prefix: String) -> KeyValuePrefixWatch {
        let store = self
        let session = self.session
        return KeyValuePrefixWatch.running(prefix: prefix) { emitter in
            let (signals, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let id = ObjectIdentifier(emitter)
            var armed: Set<String> = []
            defer { session.watchers.withLock { for path in armed { $0[path]?[id] = nil } } }
            var wakeUps = signals.makeAsyncIterator()
            var backoff = Backoff(maximum: session.configuration.maximumReconnectDelay)
            while !Task.isCancelled {
                do {
                    var entries: [KeyValueEntry] = []
                    var paths: [String] = [prefix]
                    var seen: Set<String> = []
                    while let path = paths.popLast() {
                        seen.insert(path)
                        // Register before reading, so a change between read and arm still wakes us.
                        if !armed.contains(path) {
                            session.watchers.withLock { $0[path, default: [:]][id] = signal }
                            armed.insert(path)
                        }
                        var entry: KeyValueEntry?
                        if path != "/" {
                            entry = try await store.getData(path, watch: true)
                            if entry == nil, !(try await store.exists(path, watch: true)) {
                                continue  // missing: the exists watch fires when it is created
                            }
                        }
                        let names = try await store.childNames(path, watch: true)
                        // `set` creates missing parents as empty nodes; an empty node with
                        // children is such a path node, not a key (as in the other stores).
                        if let entry, !(entry.value.isEmpty && !names.isEmpty) { entries.append(entry) }
                        for name in names { paths.append(path == "/" ? "/" + name : path + "/" + name) }
                    }
                    for gone in armed.subtracting(seen) {
                        session.watchers.withLock { $0[gone]?[id] = nil }
                        armed.remove(gone)
                    }
                    emitter.emit(entries)
                    backoff.reset()
                    guard await wakeUps.next() != nil else { return }
                } catch {
                    if Task.isCancelled { return }
                    session.logger.debug(
                        "ZooKeeper prefix watch interrupted, reconnecting",
                        metadata: ["vamp.kv.key": "\(prefix)", "vamp.kv.error": "\(error)"])
                    do { try await backoff.sleep() } catch { return }
                }
            }
        }
    }

    public func watch(_ key: String) -> KeyValueWatch {
        let store = self
        let session = self.session
        return KeyValueWatch.running(key: key) { emitter in
            guard (try? KeyPath.validate(key, server: store.server)) != nil else { return }
            let (signals, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let id = ObjectIdentifier(emitter)
            session.watchers.withLock { $0[key, default: [:]][id] = signal }
            defer { session.watchers.withLock { $0[key]?[id] = nil } }
            var wakeUps = signals.makeAsyncIterator()
            var backoff = Backoff(maximum: session.configuration.maximumReconnectDelay)
            while !Task.isCancelled {
                do {
                    // getData arms a data watch on an existing node; exists arms one that
                    // fires when a missing node is created.
                    if let entry = try await store.getData(key, watch: true) {
                        emitter.emit(entry)
                    } else if try await store.exists(key, watch: true) {
                        continue  // created in between: read it
                    } else {
                        emitter.emit(nil)
                    }
                    backoff.reset()
                    guard await wakeUps.next() != nil else { return }
                } catch {
                    if Task.isCancelled { return }
                    emitter.unreachable(error)
                    session.logger.debug(
                        "ZooKeeper watch interrupted, reconnecting",
                        metadata: ["vamp.kv.key": "\(key)", "vamp.kv.error": "\(error)"])
                    do { try await backoff.sleep() } catch { return }
                }
            }
        }
    }
}
