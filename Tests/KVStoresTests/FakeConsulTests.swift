import Foundation
import KVStores
import Testing
import VampTesting

/// Consul-specific behaviour, against ``FakeConsulServer`` (Debian ships no Consul).
@Suite("Consul store against a fake Consul")
struct FakeConsulTests {
    func withFake(
        wait: Duration = .seconds(2),
        token: String? = nil,
        datacenter: String? = nil,
        _ body: (FakeConsulServer, ConsulKeyValueStore) async throws -> Void
    ) async throws {
        let fake = try await FakeConsulServer.start()
        let store = ConsulKeyValueStore(
            configuration: .init(
                address: fake.address, token: token, datacenter: datacenter, watchWait: wait,
                maximumReconnectDelay: .milliseconds(200)))
        do {
            try await body(fake, store)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test("fake Consul: a wrong token gives a 403 error naming the address, key and the ACL hint")
    func forbidden() async throws {
        try await withFake(token: "wrong") { fake, store in
            fake.requireToken("secret")
            let error = await #expect(throws: KeyValueStoreError.self) { try await store.get("/vamp/a") }
            #expect(error?.code == .serverError)
            #expect(error?.message.contains("403") == true)
            #expect(error?.message.contains("ACL") == true)
            #expect(error?.description.contains(fake.address) == true)
            #expect(error?.key == "/vamp/a")
        }
    }

    @Test("fake Consul: an unknown datacenter is an error")
    func unknownDatacenter() async throws {
        try await withFake(datacenter: "elsewhere") { _, store in
            let error = await #expect(throws: KeyValueStoreError.self) { try await store.set("/vamp/a", string: "x") }
            #expect(error?.message.contains("No path to datacenter") == true)
        }
    }

    @Test("fake Consul: a watch follows 404 → 200 → 404 and survives an index that goes backwards")
    func watchAcrossRestore() async throws {
        try await withFake { fake, store in
            let key = "/vamp/acme/gateways/haproxy/2.6/configuration"
            var changes = store.watch(key).makeAsyncIterator()
            #expect(try await next(&changes) == .deleted(key: key))
            try await store.set(key, string: "one")
            #expect(try await next(&changes)?.string == "one")
            try await store.set("/vamp/other", string: "noise")  // raises the global index
            try await store.set(key, string: "two")
            #expect(try await next(&changes)?.string == "two")

            fake.restoreSnapshot()  // every index drops below what the watcher holds
            try await store.set(key, string: "after restore")
            #expect(try await next(&changes)?.string == "after restore")
            try await store.delete(key)
            #expect(try await next(&changes) == .deleted(key: key))
        }
    }

    @Test("fake Consul: a server that never blocks costs polling, not a busy loop")
    func noBusyLoop() async throws {
        try await withFake { fake, store in
            let key = "/vamp/quiet"
            try await store.set(key, string: "x")
            fake.ignoreBlocking(true)
            var changes = store.watch(key).makeAsyncIterator()
            #expect(try await next(&changes)?.string == "x")
            let before = fake.requestCount
            try await Task.sleep(for: .seconds(1))
            let requests = fake.requestCount - before
            #expect(requests <= 30, "\(requests) requests in 1 s while nothing changed")
            // It keeps asking (a bounded wait: a loaded machine may be slow, never stuck).
            let asked = fake.requestCount
            try await waitUntil(timeout: .seconds(5), "the watch to keep polling") { fake.requestCount >= asked + 2 }
        }
    }

    @Test("fake Consul: after an outage (500s) the watch ends with the value written during it")
    func outage() async throws {
        try await withFake { fake, store in
            let key = "/vamp/outage"
            try await store.set(key, string: "before")
            var changes = store.watch(key).makeAsyncIterator()
            #expect(try await next(&changes)?.string == "before")
            fake.fail(true)
            try await Task.sleep(for: .milliseconds(300))
            fake.fail(false)
            try await store.set(key, string: "during")
            try await store.set(key, string: "final")
            var last: String? = nil
            while last != "final" {
                last = try await next(&changes, timeout: .seconds(5))?.string
            }
        }
    }
}
