public import Logging
public import ServiceLifecycle
import VampConcurrency
import VampModel

/// Publishes Pulse's `health`, `metrics` and `allocation` events every period (``Pulse/Configuration/period``, 5 s),
/// as Vamp 0.9.5's workflows of those names did, and forgets figures past the window. The events are
/// ``PulseEvents/make(gateways:routes:deployments:metricsWindow:healthFloor:now:)``; this service only gathers and
/// stores them. An event that cannot be stored is logged; the next period publishes again.
public struct PulsePublisher: ServiceLifecycle.Service {
    let vamp: Vamp
    let logger: Logger

    /// Creates the publisher of `vamp`'s Pulse.
    public init(vamp: Vamp, logger: Logger = Logger(label: "vamp.pulse")) {
        self.vamp = vamp
        self.logger = logger
    }

    public func run() async throws {
        let vamp = self.vamp, logger = self.logger, clock = vamp.clock, pulse = vamp.pulse
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await clock.sleep(for: pulse.configuration.period) } catch { return }
                await Self.publishOnce(vamp: vamp, logger: logger)
            }
        }
    }

    /// One period's events, stored; what the loop does each time (tests call it directly).
    public static func publishOnce(vamp: Vamp, logger: Logger) async {
        let pulse = vamp.pulse
        await pulse.compact()
        // The names come from the gateways as rendered now.
        _ = try? await vamp.gatewayConfiguration()
        let windows = await pulse.windows()
        let deployments: [Deployment]
        do {
            deployments = try await vamp.allDeployments()
        } catch {
            logger.warning("pulse events not published: the deployments could not be read", metadata: ["vamp.error": "\(error)"])
            return
        }
        let active = await vamp.activeBuiltInJobs()
        let events = PulseEvents.make(
            gateways: windows.gateways, routes: windows.routes, deployments: deployments,
            metricsWindow: pulse.configuration.metricsWindow, healthFloor: pulse.configuration.healthFloor, now: vamp.clock.now)
        // Only the kinds whose built-in workflow is there and not suspended (`DELETE /workflows/metrics` stops them).
        await vamp.publishArchive(events.filter { active.contains($0.type) })
    }
}
