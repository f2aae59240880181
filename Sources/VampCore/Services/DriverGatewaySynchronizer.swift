public import ContainerDrivers
import Foundation
public import Logging
import Persistence
public import ServiceLifecycle
import VampConcurrency
import VampModel

/// Keeps what the container driver adds for gateways in step with the stored gateways: every gateway with a port is
/// handed to `ContainerDriver.synchronizeGateways(_:)` (the Kubernetes driver makes a Service per gateway selecting
/// the gateway agents, and deletes those of gateways that are gone), at the start, after every gateway change, and
/// every `interval` as a safety net (on the facade's clock).
///
/// Only worth running for a driver that adds something (`ContainerDriverConfiguration.synchronizesGateways`); for the
/// others it would read the gateways for nothing. A failed pass is logged and tried again at the next one; a graceful
/// shutdown leaves what the driver made as it is.
public struct DriverGatewaySynchronizer: ServiceLifecycle.Service {
    let vamp: Vamp
    let driver: any ContainerDriver
    let interval: Duration
    let logger: Logger

    /// Creates the synchroniser of `vamp`'s gateways on `driver`, passing at least every `interval`.
    public init(vamp: Vamp, driver: any ContainerDriver, interval: Duration, logger: Logger = Logger(label: "vamp.driver.gateways")) {
        self.vamp = vamp
        self.driver = driver
        self.interval = interval
        self.logger = logger
    }

    /// Passes at once, after every gateway change and every `interval`, until cancelled or shut down gracefully.
    public func run() async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let vamp = self.vamp, interval = self.interval, clock = vamp.clock
        let changes = vamp.changes.changes(after: try? await vamp.changes.position(), of: [.gateway])
        // Graceful shutdown cancels the passes; what the driver made stays as it is.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // Both end only by cancellation: the feed waits out a store that fails.
                group.addTask { do { for try await _ in changes { wake.yield() } } catch {} }
                group.addTask { while (try? await clock.sleep(for: interval)) != nil { wake.yield() } }
                wake.yield()
                for await _ in wakes { await pass() }
                group.cancelAll()
            }
        }
    }

    /// One pass: every stored gateway with a port, then the driver.
    public func pass() async {
        do {
            let gateways = try await vamp.allGateways().compactMap { gateway -> DriverGateway? in
                guard gateway.port.number > 0 else { return nil }
                return DriverGateway(name: gateway.name, lookupName: Names.lookupName(kind: "gateway", name: gateway.name), port: gateway.port.number)
            }
            try await driver.synchronizeGateways(gateways)
        } catch {
            logger.warning("the driver's gateway additions are not synchronised; next try in the next pass", metadata: ["vamp.error": "\(error)"])
        }
    }
}
