// Run a command breed as two local processes and wait until both are up: what vamp-server's reconciler asks of the
// local-process driver for every service of a deployment.
import ContainerDrivers
import Foundation
import Logging
import VampModel

// snippet.show
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-snippet-driver")
let driver = LocalProcessDriver(directory: folder, logger: Logger(label: "snippet"))

let service = ServiceSpecification(
    id: ServiceIdentity(deployment: "shop", cluster: "web", service: "web:1.0"),
    breed: Breed(name: "web:1.0", deployable: Deployable(type: "command", definition: "python3 -m http.server $PORT"),
                 ports: [BreedPort(name: "web", number: 8080)]),
    scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 2))

try await withThrowingTaskGroup(of: Void.self) { group in
    // The driver is a Service: its supervision runs in run() (in vamp-server, in the ServiceGroup).
    group.addTask { try await driver.run() }
    try await driver.deploy(service, update: false)
    while let running = try await driver.services().first, running.instances.filter(\.deployed).count < 2 {
        try await Task.sleep(for: .milliseconds(100))
    }
    for instance in try await driver.services()[0].instances { print(instance.name, instance.ports) }
    try await driver.undeploy(service.id)
    group.cancelAll()
}
// snippet.hide
