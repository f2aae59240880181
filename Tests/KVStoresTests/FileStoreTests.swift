import Foundation
import KVStores
import Testing
import VampTesting

@Suite("File store specifics")
struct FileStoreTests {
    @Test("one percent-encoded file per key, no temporary files left, odd characters round-trip")
    func layoutOnDisk() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let store = try FileKeyValueStore(root: folder.url)
        let key = "/vamp/a b/é%/configuration"
        try await store.set(key, string: "frontend x")
        try await store.set(key, string: "frontend y")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        // One file per key plus the writers' lock file; no temporary file is left behind.
        #expect(files == ["%2Fvamp%2Fa%20b%2F%C3%A9%25%2Fconfiguration", ".lock"])
        #expect(try await store.get(key)?.string == "frontend y")
        #expect(try await store.children(of: "/vamp") == ["a b"])
        // Another store on the same folder (another process, say) sees the same data.
        let other = try FileKeyValueStore(root: folder.url)
        #expect(try await other.get(key)?.string == "frontend y")
    }

    @Test("an unwritable folder gives an .io error naming the folder")
    func unwritable() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let store = try FileKeyValueStore(root: folder.url.appendingPathComponent("gone"))
        try FileManager.default.removeItem(at: folder.url.appendingPathComponent("gone"))
        let error = await #expect(throws: KeyValueStoreError.self) { try await store.set("/vamp/x", string: "y") }
        #expect(error?.code == .io)
        #expect(error?.description.contains(folder.url.path) == true)
    }

    @Test("writers waiting for a lock another process holds do not stall Swift's cooperative threads")
    func lockHeldElsewhere() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let store = try FileKeyValueStore(root: folder.url)
        // Best of up to three rounds: fixtures of suites running beside this one (initdb, a server's stop) still
        // block a cooperative thread for a second or two at times. With the file I/O on the cooperative pool every
        // round stalls for as long as the lock is held (1.97 s of 2 s, measured before the fix).
        var stalls: [Duration] = []
        for round in 0..<3 where stalls.allSatisfy({ $0 >= .milliseconds(500) }) {
            let ready = folder.url.appendingPathComponent("held-\(round)")
            // util-linux's flock(1) holds the store's write lock for 1.5 s, as a writer in another process would.
            let holder = try ExternalProcess(
                executable: "/usr/bin/flock",
                arguments: [folder.url.appendingPathComponent(".lock").path, "-c", "touch \(ready.path); sleep 1.5"],
                logFile: folder.url.appendingPathComponent("flock-\(round).log"), installHint: "apt-get install -y util-linux")
            defer { holder.stop() }
            try await waitUntil(timeout: .seconds(10), "flock to hold the lock") { FileManager.default.fileExists(atPath: ready.path) }
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                // More waiting writers than this machine has cores: with the I/O on the cooperative pool, every one
                // of its threads would sit in flock(2) and the sleep below could not resume until the lock is free.
                for index in 0..<8 {
                    group.addTask { try await store.set("/vamp/waiting/\(index)", string: "round \(round)") }
                }
                let sleeping = ContinuousClock.now
                try await Task.sleep(for: .milliseconds(20))
                stalls.append(ContinuousClock.now - sleeping)
                try await group.waitForAll()
            }
            // The writers did wait for the other process, and then all wrote.
            #expect(ContinuousClock.now - started > .milliseconds(700))
            for index in 0..<8 { #expect(try await store.get("/vamp/waiting/\(index)")?.string == "round \(round)") }
        }
        #expect(stalls.contains { $0 < .milliseconds(500) }, "a 20 ms sleep took \(stalls) while writers waited for the lock")
    }
}

@Suite("File store notifications")
struct FileStoreNotificationTests {
    /// The 95th percentile of `samples`.
    static func p95(_ samples: [Duration]) -> Duration { samples.sorted()[Int(Double(samples.count - 1) * 0.95)] }

    @Test("a set through the same store wakes its watcher at once, not at the next poll (p95 over 50 sets: 1.6 ms alone, bound 100 ms)")
    func inProcessSetWakesWatcher() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        // A poll interval far above the bound, so only the in-process wake-up can pass.
        let store = try FileKeyValueStore(root: folder.url, pollInterval: .milliseconds(500))
        let key = "/vamp/test/gateways/haproxy/2.6/configuration"
        var changes = store.watch(key).makeAsyncIterator()
        #expect(await changes.next() == .deleted(key: key))
        // The goal is 20 ms (1.6 ms p95 when this suite runs alone). The bound is 100 ms, in the
        // best of up to three rounds of 50 sets: the suites that start and stop etcd and ZooKeeper
        // next to this one (JVM start-up, fixtures that usleep on the cooperative pool) starve
        // this 2-core machine for seconds at a time. With polling only, a round's p95 would be
        // about 475 ms.
        var rounds: [String] = []
        var index = 0
        var withinBound = false
        for _ in 0..<3 where !withinBound {
            var latencies: [Duration] = []
            for _ in 0..<50 {
                index += 1
                let start = ContinuousClock.now
                try await store.set(key, value: Array("value \(index)".utf8))
                let change = await changes.next()
                latencies.append(ContinuousClock.now - start)
                #expect(change?.string == "value \(index)")
            }
            let sorted = latencies.sorted()
            rounds.append("median \(sorted[25]), p95 \(Self.p95(latencies)), max \(sorted[49])")
            print("file store in-process watch latency over 50 sets: \(rounds.last!)")
            withinBound = Self.p95(latencies) < .milliseconds(100)
        }
        #expect(withinBound, "no round had p95 < 100 ms: \(rounds)")
        let start = ContinuousClock.now
        try await store.delete(key)
        #expect(await changes.next() == .deleted(key: key))
        #expect(ContinuousClock.now - start < .milliseconds(100), "a delete waited for the poll")
    }

    @Test("a prefix watch is woken by a set through the same store")
    func inProcessSetWakesPrefixWatcher() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        // A 1 s poll: polling alone would give a median of about 500 ms.
        let store = try FileKeyValueStore(root: folder.url, pollInterval: .seconds(1))
        var sets = store.watch(prefix: "/vamp").makeAsyncIterator()
        #expect(await sets.next() == [])
        // As above: up to three rounds, one with a median under 100 ms passes (0.8 ms when run alone).
        var rounds: [[Duration]] = []
        var index = 0
        while rounds.count < 3, rounds.last.map({ $0.sorted()[5] >= .milliseconds(100) }) ?? true {
            var latencies: [Duration] = []
            for _ in 0..<10 {
                index += 1
                let start = ContinuousClock.now
                try await store.set("/vamp/a", value: Array("\(index)".utf8))
                #expect(await sets.next()?.map(\.string) == ["\(index)"])
                latencies.append(ContinuousClock.now - start)
            }
            rounds.append(latencies)
        }
        #expect(rounds.last!.sorted()[5] < .milliseconds(100), "the prefix watch waited for the poll: \(rounds)")
    }

    @Test("a writer through another store on the same folder (another process, say) is still seen by polling")
    func externalWriterSeenByPolling() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let watched = try FileKeyValueStore(root: folder.url, pollInterval: .milliseconds(50))
        let other = try FileKeyValueStore(root: folder.url)
        let key = "/vamp/x"
        var changes = watched.watch(key).makeAsyncIterator()
        #expect(await changes.next() == .deleted(key: key))
        for index in 0..<3 {
            try await other.set(key, string: "external \(index)")
            #expect(await changes.next()?.string == "external \(index)")
        }
        try await other.delete(key)
        #expect(await changes.next() == .deleted(key: key))
    }

    @Test("a burst of sets: values arrive in order, each at most once, and the last one always")
    func burstKeepsOrderAndLastValue() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let store = try FileKeyValueStore(root: folder.url, pollInterval: .seconds(60))
        let key = "/vamp/burst"
        let watch = store.watch(key)
        let seen = Task {
            var values: [Int] = []
            for await change in watch {
                guard let text = change.string, let value = Int(text) else { continue }
                values.append(value)
                if value == 199 { break }
            }
            return values
        }
        // Writers that run while the watch reads: a change during a read must not be lost.
        for index in 0..<200 { try await store.set(key, string: "\(index)") }
        let values = try await withThrowingTaskGroup(of: [Int]?.self) { group in
            group.addTask { await seen.value }
            group.addTask { try await Task.sleep(for: .seconds(10)); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            seen.cancel()
            return first
        }
        let delivered = try #require(values, "the last value was not delivered within 10 s (the poll is 60 s)")
        #expect(delivered.last == 199)
        #expect(delivered == delivered.sorted() && Set(delivered).count == delivered.count, "\(delivered)")
    }
}
