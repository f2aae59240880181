// Plan the gateways of a one-cluster deployment and render the HAProxy text for the agents.
import Foundation
import VampCore
import VampModel

// snippet.show
let started = Date()
let service = DeploymentService(
    status: ServiceStatus(intention: .deployment, since: started, phase: .init(name: .done, since: started)),
    breed: Breed(name: "sava:1.0", deployable: Deployable(definition: "magneticio/sava:1.0.0")),
    scale: Scale(cpu: CPU(cores: 0.2)!, memory: Memory(megabytes: 64)!, instances: 2),
    instances: [
        Instance(name: "sava-1", host: "127.0.0.1", ports: ["web": 31001], deployed: true),
        Instance(name: "sava-2", host: "127.0.0.1", ports: ["web": 31002], deployed: true),
    ])
let deployment = Deployment(name: "shop", clusters: [DeploymentCluster(name: "sava", services: [service])])
let declared = [
    Gateway(name: "shop/sava/web", port: GatewayPort(number: 0),
            routes: [Route(path: "shop/sava/sava:1.0/web", weight: Percentage(100))]),
    Gateway(name: "shop/9050", port: GatewayPort(number: 9050),
            routes: [Route(path: "shop/sava/web", weight: Percentage(100))]),
]

var allocator = GatewayPortAllocator(range: 40000...45000)
let resolved = try GatewayResolution.resolve(declared, deployments: [deployment], allocator: &allocator)
let configuration = GatewayConfiguration.render(resolved)
print(configuration.servedGateways)          // ["shop/9050", "shop/sava/web"]
print(configuration.needsWrite(over: nil))   // true: nothing stored yet
// snippet.hide
precondition(resolved.first { $0.name == "shop/sava/web" }?.port.number == 40000)
