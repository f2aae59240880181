import ArgumentParser
import Configuration
import ContainerDrivers
import Foundation
import HAProxyConfigGen
import Logging
import VampCore
import VampModel

/// The settings of deployments: which container driver runs the services, and how the reconciler paces itself.
struct DeploymentSettings: Sendable {
    /// `vamp.container-driver.*`: which driver runs the services (``ContainerDriverConfiguration``).
    var drivers: ContainerDriverConfiguration
    /// `vamp.operation.synchronization.period`: the reconciler's safety-net pass (5 s).
    var reconcileInterval: Duration
    /// `vamp.operation.synchronization.timeout.ready-for-deployment` / `ready-for-undeployment` (600 s; 0: never).
    var planner: ReconcilePlanner.Options
    /// `vamp.gateway-driver.host`: where the gateway agents' HAProxy serves the internal gateways, the value of
    /// `$cluster.host` (127.0.0.1).
    var gatewayHost: String
    /// `vamp.operation.gateway.virtual-hosts.enabled`: add `<port>.<deployment>.vamp` and the other default virtual
    /// hosts to http gateways (true).
    var virtualHosts: Bool
    /// `vamp.gateway-driver.virtual-hosts.port`: the one HAProxy frontend that routes by `Host` (80 for root, 8000
    /// for anyone else, who cannot bind 80).
    var virtualHostsPort: Int

    init(config: ConfigReader) throws {
        func fail(_ key: String, _ why: String) -> ValidationError { ValidationError("\(key): \(why)") }
        do {
            drivers = try ContainerDriverConfiguration(config: config)
        } catch {
            throw ValidationError(error.message)
        }
        func seconds(_ key: String, _ environment: String, default value: String, zeroAllowed: Bool) throws -> Double {
            let text = config.string(forKey: ConfigKey(key.split(separator: ".").map(String.init))) ?? value
            guard let number = Double(text), zeroAllowed ? number >= 0 : number > 0 else {
                throw fail("\(key) (\(environment))", "'\(text)' is not a number of seconds\(zeroAllowed ? " (0 or more)" : " above 0")")
            }
            return number
        }
        let period = try seconds("vamp.operation.synchronization.period", "VAMP_OPERATION_SYNCHRONIZATION_PERIOD", default: "5", zeroAllowed: false)
        reconcileInterval = .milliseconds(Int(period * 1000))
        let deploying = try seconds(
            "vamp.operation.synchronization.timeout.ready-for-deployment", "VAMP_OPERATION_SYNCHRONIZATION_TIMEOUT_READY_FOR_DEPLOYMENT",
            default: "600", zeroAllowed: true)
        let undeploying = try seconds(
            "vamp.operation.synchronization.timeout.ready-for-undeployment", "VAMP_OPERATION_SYNCHRONIZATION_TIMEOUT_READY_FOR_UNDEPLOYMENT",
            default: "600", zeroAllowed: true)
        planner = ReconcilePlanner.Options(
            deploymentTimeout: deploying == 0 ? nil : .seconds(Int(deploying)),
            undeploymentTimeout: undeploying == 0 ? nil : .seconds(Int(undeploying)))
        gatewayHost = config.string(forKey: "vamp.gateway-driver.host", default: "127.0.0.1")
        let enabled = config.string(forKey: "vamp.operation.gateway.virtual-hosts.enabled", default: "true").lowercased()
        switch enabled {
        case "true", "on", "yes": virtualHosts = true
        case "false", "off", "no": virtualHosts = false
        default: throw fail("vamp.operation.gateway.virtual-hosts.enabled (VAMP_OPERATION_GATEWAY_VIRTUAL_HOSTS_ENABLED)", "'\(enabled)' is not true or false")
        }
        // Port 80 needs root; anyone else gets 8000, so that a quick start as a user does not stop HAProxy at bind.
        let portText = config.string(forKey: "vamp.gateway-driver.virtual-hosts.port", default: geteuid() == 0 ? "80" : "8000")
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw fail("vamp.gateway-driver.virtual-hosts.port (VAMP_GATEWAY_DRIVER_VIRTUAL_HOSTS_PORT)", "'\(portText)' is not a port number (1 to 65535)")
        }
        virtualHostsPort = port
    }

    /// The driver of a namespace (`nil`: the default one), or `nil` when no driver is configured.
    func makeDriver(namespace: String?, excludedPorts: [ClosedRange<Int>], logger: Logger) async throws -> (any ContainerDriver)? {
        do {
            return try drivers.makeDriver(
                namespace: namespace, excludedPorts: excludedPorts + [virtualHostsPort...virtualHostsPort],
                logger: Logger(label: "vamp.driver.\(drivers.kind.rawValue)"))
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// `GET /info`'s `container_driver` section.
    var information: JSONValue { drivers.information }

    /// How gateways are resolved: the host of `$cluster.host` and gateway-to-gateway hops, default virtual hosts.
    var resolution: GatewayResolution.Options { GatewayResolution.Options(defaultVirtualHosts: virtualHosts, gatewayHost: gatewayHost) }

    /// The generator, with the virtual hosts' port.
    var generator: HAProxyConfigurationGenerator {
        HAProxyConfigurationGenerator(options: .init(virtualHostsPort: virtualHostsPort))
    }

    /// What `GET /config` shows of these settings.
    var shown: [String: String] {
        drivers.shown.merging([
            "vamp.operation.synchronization.period": "\(Double(reconcileInterval.components.seconds) + Double(reconcileInterval.components.attoseconds) / 1e18)",
            "vamp.gateway-driver.host": gatewayHost,
            "vamp.operation.gateway.virtual-hosts.enabled": String(virtualHosts),
            "vamp.gateway-driver.virtual-hosts.port": String(virtualHostsPort),
        ]) { first, _ in first }
    }
}
