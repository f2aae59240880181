public import ContainerDrivers
import Foundation
public import Logging
import Persistence
public import ServiceLifecycle
import VampModel

/// Keeps what the container driver adds for gateways in step with the stored gateways: every gateway with a port is
/// handed to ``ContainerDriver/synchronizeGateways(_:)`` (the Kubernetes driver makes a Service per gateway selecting
/// the gateway agents, and deletes those of gateways that are gone), once at the start and then every `interval`.
///
/// Only worth running for a driver that adds something (`ContainerDriverConfiguration.synchronizesGateways`); for the
/// others it would read the gateways for nothing. A failed pass is logged and tried again at the next one; a graceful
/// shutdown leaves what the driver made as it is.
public struct DriverGatewaySynchronizer: ServiceLifecycle.Service {
    let vamp: Vamp
    let driver: any ContainerDriver
    let interval: Duration
    let logger: Logger

    /// Creates the synchroniser of `vamp`'s gateways on `driver`, passing every `interval`.
    public init(vamp: Vamp, driver: any ContainerDriver, interval: Duration, logger: Logger = Logger(label: "vamp.driver.gateways")) {
        self.vamp = vamp
        self.driver = driver
        self.interval = interval
        self.logger = logger
    }

    /// Passes at once and then every `interval` until cancelled or shut down gracefully.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await pass()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: what the driver made stays as it is.
        }
    }

    /// One pass: every stored gateway with a port, then the driver.
    public func pass() async {
        do {
            var gateways: [DriverGateway] = []
            var page = 1
            while true {
                let result = try await vamp.list(.gateway, page: PageRequest(page: page, perPage: 500))
                gateways += result.items.compactMap { Self.gateway(name: $0.name, json: $0.json) }
                if result.items.isEmpty || page * 500 >= result.total { break }
                page += 1
            }
            try await driver.synchronizeGateways(gateways)
        } catch {
            logger.warning("the driver's gateway additions are not synchronised; next try in the next pass", metadata: ["vamp.error": "\(error)"])
        }
    }

    /// The gateway of a stored JSON (`"port": "9050/http"` or `9050`), or nil without a port.
    static func gateway(name: String, json: Data) -> DriverGateway? {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return nil }
        let port: Int?
        switch object["port"] {
        case let text as String: port = Int(text.split(separator: "/").first ?? "")
        case let number as Int: port = number
        default: port = nil
        }
        guard let port, port > 0 else { return nil }
        return DriverGateway(name: name, lookupName: Names.lookupName(kind: "gateway", name: name), port: port)
    }
}
