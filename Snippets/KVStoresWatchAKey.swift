// Write a key, watch it and see the change arrive: the loop every Vamp gateway agent runs.
import KVStores

// snippet.show
let store = InMemoryKeyValueStore()   // or KeyValueStoreConfiguration(...).makeStore() for etcd, ZooKeeper, Consul
let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")

try await store.set(key, value: Array("frontend a\n".utf8))
let changed = try await store.setIfChanged(key, value: Array("frontend a\n".utf8))
print(changed)                        // false: the same bytes are not written again

for try await change in store.watch(key) {
    print(change.string ?? "<deleted>") // the current value first, then every change
    break
}
// snippet.hide
