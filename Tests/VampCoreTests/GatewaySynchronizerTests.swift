import Foundation
import KVStores
import Persistence
import Synchronization
import Testing
import VampCore
import VampConcurrency
import VampDSL
import VampModel
import VampTesting

/// The gateway synchroniser: stored gateways → HAProxy text → the KV key the agents watch, only when it changed.
@Suite("Gateway synchroniser", .serialized)
struct GatewaySynchronizerTests {
    static func gateway(_ name: String, port: Int, backend: Int) throws -> [DSLDocument] {
        try DSLReader.read("name: \(name)\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:\(backend)]\": {weight: 100%}\n", kind: .gateway)
    }

    static let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")

    /// Runs the synchroniser in the background while `body` runs.
    static func running(
        _ synchronizer: GatewaySynchronizer, _ body: () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await synchronizer.run() }
            do {
                try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    @Test("one write per change, none for an identical change; the marshaller event follows each write; a lost key is restored by the resync")
    func writesOnlyChanges() async throws {
        let store = InMemoryKeyValueStore()
        let events = InMemoryEventStore()
        // The resync waits on a test clock: the test moves it past the interval instead of sleeping through it.
        let clock = TestClock()
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), events: events, configuration: .init(clock: clock))
        let synchronizer = GatewaySynchronizer(vamp: vamp, store: store, configuration: .init(resyncInterval: .seconds(5)))

        #expect(await synchronizer.synchronise() == .written, "the first pass writes the (empty) configuration")
        #expect(await synchronizer.synchronise() == .unchanged)
        _ = try await vamp.apply(try Self.gateway("web", port: 9050, backend: 8081))
        #expect(await synchronizer.synchronise() == .written)
        let written = try #require(try await store.get(Self.key))
        #expect(written.string.contains("# gateway web (9050/http)"))
        #expect(written.string.contains("127.0.0.1:8081"))
        _ = try await vamp.apply(try Self.gateway("web", port: 9050, backend: 8081))
        #expect(await synchronizer.synchronise() == .unchanged, "the same gateway again: the agent must not reload")
        #expect(try await store.get(Self.key)?.version == written.version)

        let marshaller = try await events.events(matching: EventQuery(tags: ["marshaller:configuration", "type:haproxy", "name:2.6"]), page: PageRequest())
        #expect(marshaller.total == 2, "one event per write")

        try await Self.running(synchronizer) {
            #expect(await clock.waitForSleepers(1), "the synchroniser waits for its resync")
            try await store.delete(Self.key)
            await clock.advance(by: .seconds(5))
            try await waitUntil(timeout: .seconds(5), "the resync to restore the deleted key") {
                (try? await store.get(Self.key))?.string == written.string
            }
        }
    }

    @Test("a stored gateway the generator refuses is left out, with an event and its reason in the rendering (what /info shows); every other gateway is served and can still be changed")
    func oneBadGatewayBlocksNothing() async throws {
        let store = InMemoryKeyValueStore()
        let events = InMemoryEventStore()
        let artifacts = InMemoryArtifactStore()
        let vamp = Vamp(artifacts: artifacts, events: events)
        let synchronizer = GatewaySynchronizer(vamp: vamp, store: store)
        _ = try await vamp.apply(try Self.gateway("good", port: 9050, backend: 8081))
        // As a store written by an older version (or by hand) may hold it: weights of 120%, never accepted by the API.
        let bad = "name: bad\nport: 9051/http\nroutes:\n  \"[127.0.0.1:1]\": {weight: 60%}\n  \"[127.0.0.1:2]\": {weight: 60%}\n"
        let document = try #require(try DSLReader.read(bad, kind: .gateway).first)
        _ = try await artifacts.create(kind: "gateways", name: "bad", body: Data(DSLWriter.json(document.artifact, pretty: false).utf8))

        #expect(await synchronizer.synchronise() == .written)
        let text = try #require(try await store.get(Self.key)).string
        #expect(text.contains("# gateway good (9050/http)") && !text.contains("# gateway bad"), "\(text)")
        #expect(try await vamp.gatewayConfiguration().excluded.keys.sorted() == ["bad"])
        let excluded = try await events.events(matching: EventQuery(tags: ["gateways:bad", "excluded"]), page: PageRequest())
        #expect(excluded.total == 1, "one event naming the gateway left out")
        #expect("\(excluded.items.first?.value.map { "\($0)" } ?? "")".contains("120%"), "the reason is the event's value")

        // The others are still changed and served: the bad gateway blocks no write and no pass.
        _ = try await vamp.apply(try Self.gateway("good", port: 9050, backend: 8082))
        #expect(await synchronizer.synchronise() == .written)
        #expect(try #require(try await store.get(Self.key)).string.contains("127.0.0.1:8082"))
        #expect(try await events.events(matching: EventQuery(tags: ["gateways:bad", "excluded"]), page: PageRequest()).total == 1,
                "told once per gateway and reason, not at every pass")
        // A change that would newly leave a gateway out is still refused, naming it.
        await #expect(throws: OperationError.self) {
            _ = try await vamp.apply(try DSLReader.read(bad.replacingOccurrences(of: "name: bad", with: "name: worse").replacingOccurrences(of: "9051", with: "9052"), kind: .gateway))
        }
    }

    @Test("a change reaches a real etcd key at once (no tick) and exactly once; an invalid gateway writes nothing")
    func etcdExactlyOnce() async throws {
        let server = try await EtcdServer.start()
        do {
            let store = EtcdKeyValueStore(configuration: .init(endpoint: server.endpoint))
            let vamp = Vamp(artifacts: InMemoryArtifactStore())
            // A resync far away: what reaches the key within the test is the change's own wake.
            let synchronizer = GatewaySynchronizer(vamp: vamp, store: store, configuration: .init(resyncInterval: .seconds(600)))
            let seen = States()
            try await Self.running(synchronizer) {
                try await waitUntil(timeout: .seconds(10), "the first pass to write the key") {
                    (try? await store.get(Self.key)) != nil
                }
                let watch = store.watch(Self.key)
                let watcher = Task {
                    for await change in watch { seen.append(change.string) }
                }
                defer { watcher.cancel() }
                try await waitUntil(timeout: .seconds(5), "the watch's first state") { !seen.all.isEmpty }

                let start = ContinuousClock.now
                _ = try await vamp.apply(try Self.gateway("web", port: 9050, backend: 8081))
                try await waitUntil(timeout: .seconds(5), "the change to reach etcd") { seen.all.count == 2 }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed < .seconds(2), "the write follows the change, not a tick: \(elapsed)")

                _ = try await vamp.apply(try Self.gateway("web", port: 9050, backend: 8081))
                await #expect(throws: OperationError.self) {
                    // Two gateways on one port: refused before anything is stored or written.
                    _ = try await vamp.apply(try Self.gateway("other", port: 9050, backend: 8082))
                }
                try await Task.sleep(for: .seconds(1))
                let states = seen.all
                #expect(states.count == 2, "exactly one write for the change, none for the identical change or the refused one: \(states.count)")
                #expect(states.last??.contains("# gateway web (9050/http)") == true)
                #expect(states.last??.contains("other") == false)
            }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}

/// What a watch saw, shared between the watching task and the test.
final class States: Sendable {
    private let states = Mutex<[String?]>([])
    func append(_ state: String?) { states.withLock { $0.append(state) } }
    var all: [String?] { states.withLock { $0 } }
}
