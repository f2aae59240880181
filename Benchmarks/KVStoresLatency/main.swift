// Measures set → watch-event latency on real etcd and ZooKeeper servers (started by the
// VampTesting fixtures on free loopback ports): one watcher, N sequential changes, each timed
// from just before `set` until the watcher yields that value.
//
//     swift run -c release --package-path Benchmarks KVStoresLatency [changes]      (default 1000)
import Foundation
import KVStores
import VampTesting

func percentile(_ sorted: [Duration], _ p: Double) -> Duration {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func format(_ duration: Duration) -> String {
    String(format: "%.3f ms", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)
}

func measure(_ name: String, _ store: any KeyValueStore, changes: Int) async throws -> String {
    let key = KeyPath.haproxyConfiguration(namespace: "latency", version: "2.6")
    try await store.set(key, string: "start")
    var watch = store.watch(key).makeAsyncIterator()
    guard await watch.next()?.string == "start" else { throw FixtureError("\(name): no initial value") }
    var samples: [Duration] = []
    let clock = ContinuousClock()
    for i in 0..<changes {
        let value = "frontend change-\(i)"
        let started = clock.now
        try await store.set(key, string: value)
        while let change = await watch.next(), change.string != value {}
        samples.append(clock.now - started)
    }
    let sorted = samples.sorted()
    return "| \(name) | \(changes) | \(format(percentile(sorted, 0.5))) | \(format(percentile(sorted, 0.9))) | "
        + "\(format(percentile(sorted, 0.99))) | \(format(sorted.last!)) |"
}

let changes = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1000
var rows: [String] = []
rows.append(try await measure("memory", InMemoryKeyValueStore(), changes: changes))

let etcd = try await EtcdServer.start()
do {
    rows.append(try await measure("etcd 3.4 (HTTP/JSON gateway)", EtcdKeyValueStore(configuration: .init(endpoint: etcd.endpoint)), changes: changes))
} catch {
    await etcd.remove()
    throw error
}
await etcd.remove()

let zooKeeper = try await ZooKeeperServer.start()
let zkStore = ZooKeeperKeyValueStore(configuration: .init(servers: [zooKeeper.address]))
do {
    rows.append(try await measure("ZooKeeper 3.8 (NIO client)", zkStore, changes: changes))
} catch {
    await zkStore.shutdown()
    await zooKeeper.remove()
    throw error
}
await zkStore.shutdown()
await zooKeeper.remove()

print("| store | changes | p50 | p90 | p99 | max |")
print("|---|---|---|---|---|---|")
for row in rows { print(row) }
