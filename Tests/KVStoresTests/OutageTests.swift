import Foundation
import KVStores
import Logging
import Testing
import VampTesting

/// A store on a real server that the test can stop and start again (same port, same data).
struct RestartableStore: Sendable {
    let store: any KeyValueStore
    let stop: @Sendable () async -> Void
    let start: @Sendable () async throws -> Void
    let pause: @Sendable () -> Void
    let resume: @Sendable () -> Void
    let remove: @Sendable () async -> Void
}

/// How to start one real server and make a store on it, with a logger the store reports to.
struct ServerFactory: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable (Logger) async throws -> RestartableStore
    var testDescription: String { name }

    static let etcd = ServerFactory(name: "etcd") { logger in
        let server = try await EtcdServer.start()
        let store = EtcdKeyValueStore(
            configuration: .init(endpoint: server.endpoint, livenessCheckInterval: .milliseconds(500)), logger: logger)
        return RestartableStore(
            store: store, stop: { await server.stop() }, start: { try await server.start() },
            pause: { server.pause() }, resume: { server.resume() }, remove: { await server.remove() })
    }

    static let zooKeeper = ServerFactory(name: "ZooKeeper") { logger in
        let server = try await ZooKeeperServer.start()
        // The shortest session the server allows (2 ticks): a frozen server is noticed in 2T/3.
        let store = ZooKeeperKeyValueStore(
            configuration: .init(servers: [server.address], sessionTimeout: .seconds(4)), logger: logger)
        return RestartableStore(
            store: store, stop: { await server.stop() }, start: { try await server.start() },
            pause: { server.pause() }, resume: { server.resume() },
            remove: {
                await store.shutdown()
                await server.remove()
            })
    }

    static let all: [ServerFactory] = [.etcd, .zooKeeper]
}

/// Counts the log messages a store emits, to bound its reconnect attempts.
final class CountingLogHandler: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.withLock { messages.append(event.message.description) }
    }

    func count(containing text: String) -> Int {
        lock.withLock { messages.filter { $0.contains(text) }.count }
    }
}

@Suite("Watches survive server outages (real servers)")
struct OutageTests {
    @Test("a watch reconnects after a restart and sees the next change within 2 s", arguments: ServerFactory.all)
    func reconnectsAfterRestart(_ factory: ServerFactory) async throws {
        let handler = CountingLogHandler()
        let subject = try await factory.make(Logger(label: "test", factory: { _ in handler }))
        do {
            try await reconnectsAfterRestart(subject, handler: handler)
        } catch {
            await subject.remove()
            throw error
        }
        await subject.remove()
    }

    func reconnectsAfterRestart(_ subject: RestartableStore, handler: CountingLogHandler) async throws {
        let key = KeyPath.haproxyConfiguration(namespace: "outage-\(UUID().uuidString.prefix(6))", version: "2.6")
        try await subject.store.set(key, string: "before")
        var changes = subject.store.watch(key).makeAsyncIterator()
        #expect(try await next(&changes)?.string == "before")

        await subject.stop()
        try await waitUntil(timeout: .seconds(5), "the watch to notice the outage") {
            handler.count(containing: "reconnecting") > 0
        }
        // While the server is down the watch retries with backoff, not in a busy loop.
        let attemptsBefore = handler.count(containing: "reconnecting")
        try await Task.sleep(for: .milliseconds(1500))
        let attemptsDuringOutage = handler.count(containing: "reconnecting") - attemptsBefore
        #expect(attemptsDuringOutage <= 15, "\(attemptsDuringOutage) reconnect attempts in 1.5 s")
        try await subject.start()

        try await writeEventually(subject.store, key, "after")
        let seen = try await next(&changes, timeout: .seconds(2))
        #expect(seen?.string == "after")
    }

    @Test("changes made while the watcher was cut off end in the final value", arguments: ServerFactory.all)
    func finalValueAfterOutage(_ factory: ServerFactory) async throws {
        let subject = try await factory.make(Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        do {
            try await finalValueAfterOutage(subject)
        } catch {
            await subject.remove()
            throw error
        }
        await subject.remove()
    }

    func finalValueAfterOutage(_ subject: RestartableStore) async throws {
        let key = KeyPath.haproxyConfiguration(namespace: "outage-\(UUID().uuidString.prefix(6))", version: "2.6")
        try await subject.store.set(key, string: "v0")
        var changes = subject.store.watch(key).makeAsyncIterator()
        #expect(try await next(&changes)?.string == "v0")

        await subject.stop()
        try await subject.start()
        // Write at once, most likely before the watcher's backoff lets it reconnect.
        try await writeEventually(subject.store, key, "v1")
        try await subject.store.set(key, string: "v2")
        try await subject.store.set(key, string: "final")

        var last: String? = nil
        while last != "final" {
            let change = try await next(&changes, timeout: .seconds(5))
            last = change?.string
            #expect(change != nil)
        }
        #expect(try await subject.store.get(key)?.string == "final")
    }

    @Test("a frozen server (SIGSTOP) is noticed, and the watch recovers once it runs again", arguments: ServerFactory.all)
    func frozenServer(_ factory: ServerFactory) async throws {
        let handler = CountingLogHandler()
        let subject = try await factory.make(Logger(label: "test", factory: { _ in handler }))
        do {
            let key = KeyPath.haproxyConfiguration(namespace: "frozen-\(UUID().uuidString.prefix(6))", version: "2.6")
            try await subject.store.set(key, string: "before")
            var changes = subject.store.watch(key).makeAsyncIterator()
            #expect(try await next(&changes)?.string == "before")

            subject.pause()
            do {
                // The socket stays open, so only pings (ZooKeeper) or liveness reads (etcd) tell.
                try await waitUntil(timeout: .seconds(8), "the watch to notice the frozen server") {
                    handler.count(containing: "reconnecting") > 0
                }
            } catch {
                subject.resume()
                throw error
            }
            subject.resume()
            try await writeEventually(subject.store, key, "after")
            var last: String? = nil
            while last != "after" {
                last = try await next(&changes, timeout: .seconds(5))?.string
            }
        } catch {
            await subject.remove()
            throw error
        }
        await subject.remove()
    }

    /// Writes once the restarted server accepts writes (within 10 s).
    func writeEventually(_ store: any KeyValueStore, _ key: String, _ value: String) async throws {
        try await waitUntil(timeout: .seconds(10), "the restarted server to accept a write") {
            try await store.set(key, string: value)
            return true
        }
    }
}
