import Foundation
import KVStores
import Testing
import VampTesting

/// A store under test plus what to do when the test is over (stop its server).
struct StoreUnderTest: Sendable {
    let store: any KeyValueStore
    let tearDown: @Sendable () async -> Void
}

/// How to make one kind of store for the conformance suite.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> StoreUnderTest
    var testDescription: String { name }

    static let memory = StoreFactory(name: "memory") {
        StoreUnderTest(store: InMemoryKeyValueStore(), tearDown: {})
    }

    static let file = StoreFactory(name: "file") {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        let store = try FileKeyValueStore(root: folder.url, pollInterval: .milliseconds(20))
        return StoreUnderTest(store: store, tearDown: { folder.remove() })
    }

    static let etcd = StoreFactory(name: "etcd (real server)") {
        let server = try await EtcdServer.start()
        // Built the way hosts build stores: from the configuration value.
        let store = try KeyValueStoreConfiguration(kind: .etcd, connection: server.endpoint).makeStore()
        return StoreUnderTest(store: store, tearDown: { await server.remove() })
    }

    static let zooKeeper = StoreFactory(name: "ZooKeeper (real server)") {
        let server = try await ZooKeeperServer.start()
        let store = try KeyValueStoreConfiguration(kind: .zookeeper, connection: server.address).makeStore()
        return StoreUnderTest(
            store: store,
            tearDown: {
                await (store as? ZooKeeperKeyValueStore)?.shutdown()
                await server.remove()
            })
    }

    static let fakeConsul = StoreFactory(name: "Consul (fake server)") {
        let fake = try await FakeConsulServer.start()
        fake.requireToken("secret")
        let store = try KeyValueStoreConfiguration(
            kind: .consul, connection: fake.address, token: "secret", datacenter: "dc1",
            timeouts: .init(watchWait: .seconds(2))
        ).makeStore()
        return StoreUnderTest(store: store, tearDown: { await fake.stop() })
    }

    static let all: [StoreFactory] = [.memory, .file, .etcd, .zooKeeper, .fakeConsul]
}

/// The same assertions for every ``KeyValueStore`` implementation.
@Suite("KeyValueStore conformance")
struct ConformanceTests {
    @Test("get, set, setIfChanged, delete, children and watch behave the same", arguments: StoreFactory.all)
    func conformance(_ factory: StoreFactory) async throws {
        let subject = try await factory.make()
        do {
            let base = "/vamp/conformance-\(UUID().uuidString.prefix(8))"
            try await Self.readWrite(subject.store, base: base)
            try await Self.setIfChanged(subject.store, base: base)
            try await Self.children(subject.store, base: base)
            try await Self.invalidKeys(subject.store)
            try await Self.watchOrdering(subject.store, base: base)
            try await Self.binaryValues(subject.store, base: base)
        } catch {
            await subject.tearDown()
            throw error
        }
        await subject.tearDown()
    }

    @Test("a value at the store's limit is stored; one byte more is refused with both sizes (etcd, ZooKeeper, Consul)",
          arguments: [(StoreFactory.etcd, 1_572_864), (StoreFactory.zooKeeper, 1_048_575), (StoreFactory.fakeConsul, 524_288)])
    func valueLimits(_ factory: StoreFactory, serverLimit: Int) async throws {
        let subject = try await factory.make()
        do {
            let key = "/vamp/limits-\(UUID().uuidString.prefix(8))/configuration"
            // The largest value the store takes under this key: the server's limit less the key and framing.
            let limit = factory.name.hasPrefix("Consul") ? serverLimit : serverLimit - key.utf8.count - 1024
            let atLimit = [UInt8](repeating: UInt8(ascii: "x"), count: limit)
            try await subject.store.set(key, value: atLimit)
            #expect(try await subject.store.get(key)?.value.count == limit)
            for write in [false, true] {
                do {
                    let over = atLimit + [UInt8(ascii: "y")]
                    if write { _ = try await subject.store.setIfChanged(key, value: over) } else { try await subject.store.set(key, value: over) }
                    Issue.record("a value of \(limit + 1) bytes was accepted")
                } catch let error as KeyValueStoreError {
                    #expect(error.code == .valueTooLarge)
                    #expect(error.message.contains("\(limit + 1) bytes"))
                    #expect(error.message.contains("at most \(limit) bytes"))
                    #expect(error.key == key)
                }
            }
            #expect(try await subject.store.get(key)?.value.count == limit, "the refused write changed the stored value")
        } catch {
            await subject.tearDown()
            throw error
        }
        await subject.tearDown()
    }

    @Test("setIfChanged is atomic: of writers racing with the same bytes exactly one writes", arguments: StoreFactory.all)
    func setIfChangedRace(_ factory: StoreFactory) async throws {
        let subject = try await factory.make()
        do {
            let key = "/vamp/race-\(UUID().uuidString.prefix(8))/configuration"
            for round in 0..<15 {
                let value = "round \(round)"
                let wrote = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<4 { group.addTask { try await subject.store.setIfChanged(key, string: value) } }
                    var count = 0
                    for try await didWrite in group where didWrite { count += 1 }
                    return count
                }
                #expect(wrote == 1, "round \(round): \(wrote) writers reported a write")
                #expect(try await subject.store.get(key)?.string == value)
            }
            // Two writers with different bytes: both write, and the key ends with one of them.
            async let first = subject.store.setIfChanged(key, string: "a")
            async let second = subject.store.setIfChanged(key, string: "b")
            let results = try await [first, second]
            #expect(results.filter { $0 }.count >= 1)
            #expect(["a", "b"].contains(try await subject.store.get(key)?.string ?? ""))
            try await subject.store.delete(key)
        } catch {
            await subject.tearDown()
            throw error
        }
        await subject.tearDown()
    }

    @Test("watch(prefix:) yields the subtree and every change below it", arguments: StoreFactory.all)
    func prefixWatch(_ factory: StoreFactory) async throws {
        let subject = try await factory.make()
        do {
            let store = subject.store
            let tree = "/vamp/prefix-\(UUID().uuidString.prefix(8))/gateways"
            try await store.set(tree + "/shop", string: "v1")
            var states = store.watch(prefix: tree).makeAsyncIterator()
            func keys(_ entries: [KeyValueEntry]) -> [String] { entries.map { String($0.key.dropFirst(tree.count)) } }
            #expect(keys(try await nextState(&states) { !$0.isEmpty }) == ["/shop"], "starts with what is there")
            try await store.set(tree + "/blog/haproxy/configuration", string: "deep")
            var state = try await nextState(&states) { $0.count == 2 }
            #expect(keys(state) == ["/blog/haproxy/configuration", "/shop"])
            // Outside the prefix: a sibling whose name merely starts with the prefix's.
            try await store.set(tree + "-other/x", string: "outside")
            try await store.set(tree + "/shop", string: "v2")
            state = try await nextState(&states) { $0.contains { $0.value == Array("v2".utf8) } }
            #expect(keys(state) == ["/blog/haproxy/configuration", "/shop"])
            try await store.set(tree, string: "the prefix key itself")
            state = try await nextState(&states) { $0.count == 3 }
            #expect(keys(state) == ["", "/blog/haproxy/configuration", "/shop"])
            try await store.delete(tree + "/shop")
            state = try await nextState(&states) { !$0.contains { $0.key.hasSuffix("/shop") } }
            #expect(keys(state) == ["", "/blog/haproxy/configuration"])
            // Deepest first: ZooKeeper keeps the parent nodes `set` created.
            for key in [tree + "/blog/haproxy/configuration", tree + "/blog/haproxy", tree + "/blog", tree, tree + "-other/x"] {
                try await store.delete(key)
            }
        } catch {
            await subject.tearDown()
            throw error
        }
        await subject.tearDown()
    }

    static func readWrite(_ store: any KeyValueStore, base: String) async throws {
        let key = KeyPath.haproxyConfiguration(namespace: String(base.dropFirst(6)), version: "2.6")
        #expect(try await store.get(key) == nil)
        try await store.set(key, string: "frontend a")
        let first = try #require(try await store.get(key))
        #expect(first.string == "frontend a")
        #expect(first.key == key)
        try await store.set(key, string: "frontend b")
        let second = try #require(try await store.get(key))
        #expect(second.string == "frontend b")
        #expect(second.version >= first.version)
        // An empty value is a value, not a missing key.
        try await store.set(key, value: [])
        #expect(try await store.get(key)?.value == [])
        try await store.delete(key)
        #expect(try await store.get(key) == nil)
        // Deleting a missing key is fine.
        try await store.delete(key)
    }

    static func setIfChanged(_ store: any KeyValueStore, base: String) async throws {
        let key = base + "/set-if-changed"
        #expect(try await store.setIfChanged(key, string: "[]") == true)
        let written = try #require(try await store.get(key))
        #expect(try await store.setIfChanged(key, string: "[]") == false)
        #expect(try await store.get(key)?.version == written.version, "no write when the bytes are equal")
        #expect(try await store.setIfChanged(key, string: "[1]") == true)
        #expect(try await store.get(key)?.string == "[1]")
        try await store.delete(key)
    }

    static func children(_ store: any KeyValueStore, base: String) async throws {
        let parent = base + "/list"
        #expect(try await store.children(of: parent) == [])
        try await store.set(parent + "/b/configuration", string: "x")
        try await store.set(parent + "/a", string: "y")
        try await store.set(parent + "/a/deeper", string: "z")
        try await store.set(parent + "2/not-a-child", string: "w")
        #expect(try await store.children(of: parent) == ["a", "b"])
        #expect(try await store.children(of: parent + "/a") == ["deeper"])
        #expect(try await store.get(parent + "/a")?.string == "y", "a key can hold a value and have children")
        for key in [parent + "/b/configuration", parent + "/a/deeper", parent + "/a", parent + "2/not-a-child"] {
            try await store.delete(key)
        }
        #expect(try await store.get(parent + "/a") == nil)
    }

    static func invalidKeys(_ store: any KeyValueStore) async throws {
        for key in ["relative/key", "/trailing/", "/double//slash", "/dot/../parent", ""] {
            let error = await #expect(throws: KeyValueStoreError.self) { try await store.set(key, string: "x") }
            #expect(error?.code == .invalidKey)
            #expect(error?.key == key)
        }
    }

    static func watchOrdering(_ store: any KeyValueStore, base: String) async throws {
        let key = base + "/watched/configuration"
        try await store.set(key, string: "v0")
        var changes = store.watch(key).makeAsyncIterator()
        #expect(try await next(&changes)?.string == "v0", "a watch starts with the current value")
        for value in ["v1", "v2", "v3"] {
            try await store.set(key, string: value)
            #expect(try await next(&changes)?.string == value)
        }
        try await store.delete(key)
        #expect(try await next(&changes) == .deleted(key: key))
        try await store.set(key, string: "v4")
        #expect(try await next(&changes)?.string == "v4", "a deleted key can come back")
        try await store.delete(key)
        #expect(try await next(&changes) == .deleted(key: key))

        // Two watches on one key both see a change.
        var first = store.watch(key).makeAsyncIterator()
        var second = store.watch(key).makeAsyncIterator()
        #expect(try await next(&first) == .deleted(key: key))
        #expect(try await next(&second) == .deleted(key: key))
        try await store.set(key, string: "shared")
        #expect(try await next(&first)?.string == "shared")
        #expect(try await next(&second)?.string == "shared")
        try await store.delete(key)

        // A watch on a missing key starts with .deleted.
        var missing = store.watch(key + "-missing").makeAsyncIterator()
        #expect(try await next(&missing) == .deleted(key: key + "-missing"))
    }

    static func binaryValues(_ store: any KeyValueStore, base: String) async throws {
        let key = base + "/binary"
        let bytes: [UInt8] = Array(0...255) + Array("frontend é\n".utf8)
        try await store.set(key, value: bytes)
        #expect(try await store.get(key)?.value == bytes)
        try await store.delete(key)
    }
}

/// The next change within `timeout`, or a failure naming what was awaited.
func next(
    _ iterator: inout KeyValueWatch.AsyncIterator,
    timeout: Duration = .seconds(5),
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> KeyValueChange? {
    let box = IteratorBox(iterator)
    defer { iterator = box.iterator }
    return try await withThrowingTaskGroup(of: KeyValueChange?.self) { group in
        group.addTask { await box.next() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw FixtureError("no watch change within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

/// Lets a task group advance an iterator that the caller keeps using afterwards.
final class IteratorBox: @unchecked Sendable {
    var iterator: KeyValueWatch.AsyncIterator
    init(_ iterator: KeyValueWatch.AsyncIterator) { self.iterator = iterator }
    func next() async -> KeyValueChange? { await iterator.next() }
}

/// The first prefix state within `timeout` that satisfies `condition` (states may coalesce).
func nextState(
    _ iterator: inout KeyValuePrefixWatch.AsyncIterator, timeout: Duration = .seconds(10),
    until condition: @escaping @Sendable ([KeyValueEntry]) -> Bool
) async throws -> [KeyValueEntry] {
    let box = PrefixIteratorBox(iterator)
    defer { iterator = box.iterator }
    return try await withThrowingTaskGroup(of: [KeyValueEntry].self) { group in
        group.addTask {
            while let state = await box.next() { if condition(state) { return state } }
            throw FixtureError("the prefix watch ended")
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw FixtureError("no matching prefix state within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next() ?? []
    }
}

/// Lets a task group advance a prefix iterator that the caller keeps using afterwards.
final class PrefixIteratorBox: @unchecked Sendable {
    var iterator: KeyValuePrefixWatch.AsyncIterator
    init(_ iterator: KeyValuePrefixWatch.AsyncIterator) { self.iterator = iterator }
    func next() async -> [KeyValueEntry]? { await iterator.next() }
}
