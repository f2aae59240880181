import Foundation
import Testing
import VampTesting

@testable import KVStores

@Suite("etcd specifics (real server)")
struct EtcdTests {
    /// Compacts etcd's history up to its current revision through the JSON gateway.
    func compact(_ server: EtcdServer) async throws {
        let status = try await post(server, "/v3/kv/range", ["key": Data("/".utf8).base64EncodedString()])
        let header = status["header"] as? [String: Any]
        let revision = Int((header?["revision"] as? String) ?? "") ?? 0
        _ = try await post(server, "/v3/kv/compaction", ["revision": revision, "physical": true])
    }

    func post(_ server: EtcdServer, _ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let request =
            "POST \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\n\r\n\(json)"
        let answer = try #require(LoopbackProbe.exchange(port: server.clientPort, request: request))
        let bodyText = try #require(answer.components(separatedBy: "\r\n\r\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(bodyText.utf8)) as? [String: Any])
    }

    @Test("a watch resuming from a compacted revision drops the resume point and reads the key afresh")
    func resumeAfterCompaction() async throws {
        let server = try await EtcdServer.start()
        do {
            let store = EtcdKeyValueStore(configuration: .init(endpoint: server.endpoint))
            let key = KeyPath.haproxyConfiguration(namespace: "compacted", version: "2.6")
            for value in ["one", "two", "three"] { try await store.set(key, string: value) }
            try await compact(server)

            let (stream, continuation) = AsyncStream<KeyValueWatchEvent>.makeStream()
            let emitter = WatchEmitter(key: key, continuation: continuation)
            // Pretend the watcher last saw revision 1, long compacted away.
            let progress = EtcdKeyValueStore.WatchProgress(revision: 1)
            await #expect(throws: KeyValueStoreError.self) {
                try await store.followStream(key, progress: progress, emitter: emitter)
            }
            #expect(progress.revision == nil, "the resume point is dropped after a compaction")

            // The next attempt starts without start_revision and delivers the current value.
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.followStream(key, progress: progress, emitter: emitter)
                }
                var changes = KeyValueWatch(stream).makeAsyncIterator()
                #expect(await changes.next()?.string == "three")
                group.cancelAll()
            }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}
