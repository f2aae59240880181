// Deploy the stored blueprint `sava`, merge the canary next to it, send it 10% and read what happened: the calls
// `vamp deploy`, `vamp merge` and `vamp update-gateway` make. Needs a running vamp-server with Examples/sava.yaml.
import Foundation
import VampClient
import VampModel

// snippet.show
let vamp = VampClient(host: URL(string: "http://127.0.0.1:8080")!)
do throws(VampClientError) {
    try await vamp.deploy(blueprintNamed: "sava", as: "sava")
    try await vamp.deploy("""
        name: sava
        clusters:
          web:
            services: [{breed: sava:1.1}]
        """, as: "sava")

    if var gateway = try await vamp.gateway("sava/web/web") {
        for index in gateway.routes.indices {
            gateway.routes[index].weight = Percentage(gateway.routes[index].path.contains("sava:1.1") ? 10 : 90)
        }
        _ = try await vamp.updateGateway(gateway)
    }
    for event in try await vamp.events(tags: ["deployments:sava"], limit: 5) { print(event.timestamp, event.tags) }
} catch {
    print(error.isUserError ? "refused: \(error.message)" : "no server? \(error.message)")
}
// snippet.hide
