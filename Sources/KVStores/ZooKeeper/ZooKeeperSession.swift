import Logging
import NIOCore
import Synchronization

/// One logical ZooKeeper session that outlives its TCP connections: it connects lazily,
/// resumes the session (id, password, last zxid) after a connection drops, and builds a new
/// session when the server says the old one expired.
actor ZooKeeperSession {
    let configuration: ZooKeeperKeyValueStore.Configuration
    let logger: Logger
    private var connection: ZooKeeperConnection?
    private var connecting: [CheckedContinuation<ZooKeeperConnection, any Error>]? = nil
    private var sessionId: Int64 = 0
    private var password: [UInt8] = []
    private var lastZxid: Int64 = 0
    private var nextServer = 0
    private var isShutDown = false
    /// Handshakes the server ended without an answer, in a row.
    private var silentRejections = 0

    /// Watchers to wake when their path fires or the connection drops; touched from the event
    /// loop, hence a lock rather than actor state.
    nonisolated let watchers = Mutex<[String: [ObjectIdentifier: AsyncStream<Void>.Continuation]]>([:])

    init(configuration: ZooKeeperKeyValueStore.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        connection?.channel.close(promise: nil)
    }

    var server: String { configuration.servers.joined(separator: ",") }

    /// An open connection, connecting (or reconnecting) first when needed.
    func current() async throws -> ZooKeeperConnection {
        if let connection, connection.isOpen { return connection }
        if isShutDown {
            throw KeyValueStoreError(.unavailable, "the store was shut down", server: server)
        }
        if connecting != nil {
            return try await withCheckedThrowingContinuation { connecting?.append($0) }
        }
        connecting = []
        do {
            let opened = try await connect()
            connection = opened
            for waiter in connecting ?? [] { waiter.resume(returning: opened) }
            connecting = nil
            return opened
        } catch {
            for waiter in connecting ?? [] { waiter.resume(throwing: error) }
            connecting = nil
            throw error
        }
    }

    private func connect() async throws -> ZooKeeperConnection {
        if let previous = connection { lastZxid = max(lastZxid, previous.lastZxid) }
        var failures: [String] = []
        var tlsFailed = false
        for _ in configuration.servers.indices {
            let address = configuration.servers[nextServer % configuration.servers.count]
            nextServer += 1
            do {
                // `host:port`, `[v6]:port` or a bare host; a malformed address fails this server.
                let endpoint = try Endpoint(parsing: address, defaultPort: 2181)
                let (host, port) = (endpoint.host, endpoint.port)
                var opened = try await open(host: host, port: port)
                if opened.response.timeout <= 0 {
                    // The server no longer knows the session: its watches are gone too. Start a
                    // new session; the watch loops re-read and re-arm when woken.
                    logger.info(
                        "ZooKeeper session expired, starting a new one",
                        metadata: ["vamp.kv.server": "\(address)", "vamp.kv.session": "\(sessionId)"])
                    try? await opened.channel.close()
                    sessionId = 0
                    password = []
                    opened = try await open(host: host, port: port)
                    guard opened.response.timeout > 0 else {
                        try? await opened.channel.close()
                        throw KeyValueStoreError(
                            .sessionExpired, "the server refused a new session", server: address)
                    }
                    wakeAllWatchers()
                }
                if sessionId != opened.response.sessionId {
                    logger.debug(
                        "ZooKeeper session established",
                        metadata: ["vamp.kv.server": "\(address)", "vamp.kv.session": "\(opened.response.sessionId)"])
                }
                sessionId = opened.response.sessionId
                password = opened.response.password
                silentRejections = 0
                return opened
            } catch is ZKConnectionLost {
                // The server closed the socket without answering the ConnectRequest: it does that
                // when our last zxid is ahead of its own (its data was reset). Twice in a row,
                // forget the old session and history and start afresh.
                silentRejections += 1
                failures.append(
                    "\(address): closed the connection during the handshake"
                        + (configuration.tls == nil ? " (a port that wants TLS does so too: see vamp.key-value-store.tls.ca-file)" : ""))
                if silentRejections >= 2 {
                    logger.info(
                        "ZooKeeper rejected the session handshake; starting a new session",
                        metadata: ["vamp.kv.server": "\(address)"])
                    sessionId = 0
                    password = []
                    lastZxid = 0
                    connection = nil
                    silentRejections = 0
                    wakeAllWatchers()
                }
            } catch {
                failures.append("\(address): \(error)")
                if error is ZKTLSFailure { tlsFailed = true }
            }
        }
        let hint = tlsFailed
            ? "check vamp.key-value-store.tls.* against the servers' certificates, and whether they want a client certificate"
            : "is the server running?"
        throw KeyValueStoreError(
            .unavailable, "cannot connect to ZooKeeper (\(failures.joined(separator: "; "))); \(hint)", server: server)
    }

    private func open(host: String, port: Int) async throws -> ZooKeeperConnection {
        return try await ZooKeeperConnection.open(
            host: host, port: port, tls: configuration.tls, connectTimeout: configuration.connectTimeout,
            sessionTimeout: Int32(configuration.sessionTimeout.nanoseconds / 1_000_000),
            sessionId: sessionId, password: password, lastZxid: lastZxid,
            onWatchEvent: { [weak self] event in self?.wakeWatchers(of: event.path) },
            onClose: { [weak self] in
                // Watches do not survive a connection: wake every watcher so it re-reads and
                // re-arms once a new connection is up.
                self?.wakeAllWatchers()
            })
    }

    private nonisolated func wakeWatchers(of path: String) {
        let targets = watchers.withLock { Array(($0[path] ?? [:]).values) }
        for target in targets { target.yield() }
    }

    private nonisolated func wakeAllWatchers() {
        let targets = watchers.withLock { $0.values.flatMap { $0.values } }
        for target in targets { target.yield() }
    }

    /// Sends one request on the current connection; connection loss becomes `.unavailable`.
    func request(_ op: ZKOp, key: String, _ record: @Sendable (inout ByteBuffer) -> Void) async throws -> ZKReply {
        let connection = try await current()
        let reply: ZKReply
        do {
            reply = try await connection.request(op, record)
        } catch {
            throw KeyValueStoreError(
                .unavailable, "the connection broke during the request: \(error)", server: server, key: key)
        }
        if reply.error == ZKErr.sessionExpired {
            connection.channel.close(promise: nil)
            sessionId = 0
            password = []
            throw KeyValueStoreError(.sessionExpired, "the session expired; retry", server: server, key: key)
        }
        return reply
    }

    /// Ends the session and closes the connection.
    func shutdown() async {
        isShutDown = true
        if let connection, connection.isOpen { await connection.close() }
        connection = nil
    }
}
