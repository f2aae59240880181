// Configure a gateway agent on a store and see the base sections it puts before the generated gateways.
import Foundation
import GatewayAgent
import KVStores

// snippet.show
let store = InMemoryKeyValueStore()   // etcd, ZooKeeper or Consul through KeyValueStoreConfiguration in production
let configuration = GatewayAgentConfiguration(
    key: KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6"),
    workDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("vamp-agent"),
    statusAddress: (host: "127.0.0.1", port: 19080))   // /health and /metrics
let agent = GatewayAgent(configuration: configuration, store: store)
print(GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil))
// try await agent.run()   // watch, haproxy -c, swap, seamless reload until cancelled
// snippet.hide
_ = agent
