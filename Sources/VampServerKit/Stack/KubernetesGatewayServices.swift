import ContainerDrivers
import Foundation
import Logging
import Persistence
import ServiceLifecycle
import VampCore
import VampModel

/// With the Kubernetes driver and `vamp.container-driver.kubernetes.create-services` (true): every gateway of the
/// default namespace gets a Kubernetes Service selecting the gateway agents (`KubernetesDriver.synchronizeGatewayServices`),
/// and the Services of deleted gateways go, once now and then every resync interval.
struct KubernetesGatewayServices: ServiceLifecycle.Service {
    let vamp: Vamp
    let driver: KubernetesDriver
    let interval: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await synchronise()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: the Services stay as they are.
        }
    }

    /// One pass: the stored gateways with a port, then the driver's plan.
    func synchronise() async {
        do {
            var gateways: [KubernetesDriver.GatewayService] = []
            var page = 1
            while true {
                let result = try await vamp.list(.gateway, page: PageRequest(page: page, perPage: 500))
                gateways += result.items.compactMap { Self.gateway(name: $0.name, json: $0.json) }
                if result.items.isEmpty || page * 500 >= result.total { break }
                page += 1
            }
            try await driver.synchronizeGatewayServices(gateways)
        } catch {
            logger.warning("gateway services not synchronised; next try in the next pass", metadata: ["vamp.error": "\(error)"])
        }
    }

    /// The gateway of a stored JSON (`"port": "9050/http"` or `9050`), or nil without a port.
    static func gateway(name: String, json: Data) -> KubernetesDriver.GatewayService? {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return nil }
        let port: Int?
        switch object["port"] {
        case let text as String: port = Int(text.split(separator: "/").first ?? "")
        case let number as Int: port = number
        default: port = nil
        }
        guard let port, port > 0 else { return nil }
        return KubernetesDriver.GatewayService(name: name, lookupName: Names.lookupName(kind: "gateway", name: name), port: port)
    }
}
