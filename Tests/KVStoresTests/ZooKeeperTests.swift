import Foundation
import KVStores
import Logging
import Testing
import VampTesting

@Suite("ZooKeeper specifics (real server)")
struct ZooKeeperTests {
    @Test("parents are created as empty nodes, a node with children cannot be deleted, sessions resume")
    func nodesAndSessions() async throws {
        let server = try await ZooKeeperServer.start()
        let store = ZooKeeperKeyValueStore(configuration: .init(servers: [server.address]))
        do {
            let key = KeyPath.haproxyConfiguration(namespace: "zk", version: "2.6")
            try await store.set(key, string: "frontend x")
            #expect(try await store.get("/vamp/zk/gateways/haproxy")?.value == [], "parents are empty znodes")
            #expect(try await store.children(of: "/") == ["vamp"], "the server's /zookeeper node is hidden")
            let error = await #expect(throws: KeyValueStoreError.self) { try await store.delete("/vamp/zk") }
            #expect(error?.code == .conflict)
            #expect(error?.description.contains(server.address) == true)

            // A restart drops the connection; the next call reconnects by itself.
            await server.stop()
            try await server.start()
            try await waitUntil(timeout: .seconds(10), "the store to reconnect") {
                try await store.get(key)?.string == "frontend x"
            }
        } catch {
            await store.shutdown()
            await server.remove()
            throw error
        }
        await store.shutdown()
        await server.remove()
    }

    @Test("after the server lost the session and data, a watch starts a new session and reports the real state")
    func newSessionAfterDataLoss() async throws {
        let server = try await ZooKeeperServer.start()
        let handler = CountingLogHandler()
        let store = ZooKeeperKeyValueStore(
            configuration: .init(servers: [server.address]), logger: Logger(label: "test", factory: { _ in handler }))
        do {
            let key = KeyPath.haproxyConfiguration(namespace: "zk-loss", version: "2.6")
            try await store.set(key, string: "old")
            var changes = store.watch(key).makeAsyncIterator()
            #expect(try await next(&changes)?.string == "old")

            await server.stop()
            try FileManager.default.removeItem(at: server.directory.url.appendingPathComponent("data"))
            try await server.start()
            // The server knows neither the session nor the key any more.
            #expect(try await next(&changes, timeout: .seconds(10)) == .deleted(key: key))
            try await store.set(key, string: "new")
            #expect(try await next(&changes, timeout: .seconds(2))?.string == "new")
            #expect(handler.count(containing: "starting a new") >= 1, "a new session was built")
        } catch {
            await store.shutdown()
            await server.remove()
            throw error
        }
        await store.shutdown()
        await server.remove()
    }

    @Test("a stopped server gives .unavailable naming the address")
    func unavailable() async throws {
        let port = try FreePort.next()
        let store = ZooKeeperKeyValueStore(configuration: .init(servers: ["127.0.0.1:\(port)"]))
        let error = await #expect(throws: KeyValueStoreError.self) { try await store.get("/vamp/x") }
        #expect(error?.code == .unavailable)
        #expect(error?.description.contains("127.0.0.1:\(port)") == true)
        await store.shutdown()
    }
}
