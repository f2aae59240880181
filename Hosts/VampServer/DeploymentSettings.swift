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
    enum Driver: String, Sendable { case local, docker, marathon, none }

    /// `vamp.container-driver.type`: `local` (processes on this machine, the default), `docker` (containers on a
    /// Docker Engine), `marathon` (apps on Marathon / DC/OS) or `none` (deployments are stored and their gateways
    /// served, but nothing is run).
    var driver: Driver
    /// `vamp.container-driver.local.directory`: the local driver's records and logs (`.vamp/processes`).
    var localDirectory: String
    /// `vamp.container-driver.docker.host`: the Docker Engine's socket (`DOCKER_HOST`, else
    /// `unix:///var/run/docker.sock`).
    var dockerHost: String
    /// `vamp.container-driver.marathon.url`, `.user` and `.password` (basic authentication) or `.token` (a DC/OS
    /// token), `.namespace-constraint` (`field:OPERATOR[:value]`): the Marathon driver's settings, nil unless the
    /// driver is `marathon`.
    var marathon: MarathonDriver.Configuration?
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
        let type = config.string(forKey: "vamp.container-driver.type", default: "local").lowercased()
        guard let driver = Driver(rawValue: type) else {
            throw fail("vamp.container-driver.type (VAMP_CONTAINER_DRIVER_TYPE)", "'\(type)' is not local, docker, marathon or none (kubernetes is not built yet)")
        }
        self.driver = driver
        localDirectory = config.string(forKey: "vamp.container-driver.local.directory", default: ".vamp/processes")
        dockerHost = config.string(
            forKey: "vamp.container-driver.docker.host",
            default: DockerDriver.Configuration.defaultHost(environment: ProcessInfo.processInfo.environment))
        if driver == .docker, !dockerHost.hasPrefix("unix://") {
            throw fail("vamp.container-driver.docker.host (VAMP_CONTAINER_DRIVER_DOCKER_HOST)", "'\(dockerHost)' is not a unix socket (unix:///var/run/docker.sock)")
        }
        marathon = driver == .marathon ? try Self.marathon(config: config) : nil
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

    /// The Marathon driver's configuration from `vamp.container-driver.marathon.*`.
    static func marathon(config: ConfigReader) throws -> MarathonDriver.Configuration {
        func value(_ name: String) -> String? {
            let text = config.string(forKey: ConfigKey(["vamp", "container-driver", "marathon", name]))?.trimmingCharacters(in: .whitespaces)
            return text?.isEmpty == false ? text : nil
        }
        func fail(_ name: String, _ why: String) -> ValidationError {
            let environment = "VAMP_CONTAINER_DRIVER_MARATHON_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            return ValidationError("vamp.container-driver.marathon.\(name) (\(environment)): \(why)")
        }
        guard let url = value("url") else {
            throw fail("url", "is required with vamp.container-driver.type marathon: Marathon's address (http://marathon.mesos:8080)")
        }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
            throw fail("url", "'\(url)' is not an http:// or https:// address (http://marathon.mesos:8080)")
        }
        let credentials: MarathonDriver.Configuration.Credentials
        switch (value("user"), value("password"), value("token")) {
        case (nil, nil, nil): credentials = .none
        case (let user?, let password?, nil): credentials = .basic(user: user, password: password)
        case (nil, nil, let token?): credentials = .token(token)
        case (_?, nil, nil): throw fail("password", "is required with vamp.container-driver.marathon.user")
        case (nil, _?, nil): throw fail("user", "is required with vamp.container-driver.marathon.password")
        default: throw fail("token", "set either a DC/OS token or a user and password, not both")
        }
        var constraints: [[String]] = []
        if let constraint = value("namespace-constraint") {
            let parts = constraint.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
                throw fail("namespace-constraint", "'\(constraint)' is not a Marathon constraint field:OPERATOR[:value] (hostname:UNIQUE, rack:LIKE:rack-[12])")
            }
            constraints = [parts]
        }
        return MarathonDriver.Configuration(url: url, credentials: credentials, constraints: constraints)
    }

    /// The driver of a namespace (`nil` for the default one gets the configured folder, others a sub-folder), or
    /// `nil` when no driver is configured.
    func makeDriver(namespace: String?, excludedPorts: [ClosedRange<Int>], logger: Logger) async throws -> (any ContainerDriver)? {
        switch driver {
        case .none: return nil
        case .docker:
            do {
                let configuration = DockerDriver.Configuration(host: dockerHost, namespace: namespace ?? "default")
                return try DockerDriver(configuration: configuration, logger: Logger(label: "vamp.driver.docker"))
            } catch {
                throw ValidationError("vamp.container-driver.docker.host '\(dockerHost)': \(error.message)")
            }
        case .marathon:
            guard var configuration = marathon else { return nil }
            configuration.namespace = namespace ?? "default"
            do {
                return try MarathonDriver(configuration: configuration, logger: Logger(label: "vamp.driver.marathon"))
            } catch {
                throw ValidationError("vamp.container-driver.marathon.url '\(configuration.url)': \(error.message)")
            }
        case .local:
            var folder = URL(fileURLWithPath: localDirectory).standardizedFileURL
            if let namespace { folder = folder.appendingPathComponent("namespaces/\(namespace)") }
            do {
                var configuration = LocalProcessDriver.Configuration()
                configuration.excludedPorts = excludedPorts + [virtualHostsPort...virtualHostsPort]
                return try await LocalProcessDriver(directory: folder, logger: Logger(label: "vamp.driver.local"), configuration: configuration)
            } catch {
                throw ValidationError("vamp.container-driver.local.directory '\(folder.path)': \(error.message)")
            }
        }
    }

    /// `GET /info`'s `container_driver` section.
    var information: JSONValue {
        switch driver {
        case .none: .object(["type": .string("none")])
        case .local: .object(["type": .string("local"), "directory": .string(URL(fileURLWithPath: localDirectory).standardizedFileURL.path)])
        case .docker: .object(["type": .string("docker"), "host": .string(dockerHost)])
        case .marathon:
            .object([
                "type": .string("marathon"), "url": .string(marathon?.url ?? ""),
                // Which credentials, never their secret parts.
                "authentication": .string({
                    switch marathon?.credentials {
                    case .basic(let user, _)?: "basic (user \(user))"
                    case .token?: "DC/OS token"
                    default: "none"
                    }
                }()),
            ])
        }
    }

    /// How gateways are resolved: the host of `$cluster.host` and gateway-to-gateway hops, default virtual hosts.
    var resolution: GatewayResolution.Options { GatewayResolution.Options(defaultVirtualHosts: virtualHosts, gatewayHost: gatewayHost) }

    /// The generator, with the virtual hosts' port.
    var generator: HAProxyConfigurationGenerator {
        HAProxyConfigurationGenerator(options: .init(virtualHostsPort: virtualHostsPort))
    }

    /// What `GET /config` shows of these settings.
    var shown: [String: String] {
        [
            "vamp.container-driver.type": driver.rawValue,
            "vamp.container-driver.local.directory": localDirectory,
            "vamp.container-driver.docker.host": dockerHost,
            "vamp.container-driver.marathon.url": marathon?.url ?? "",
            "vamp.operation.synchronization.period": "\(Double(reconcileInterval.components.seconds) + Double(reconcileInterval.components.attoseconds) / 1e18)",
            "vamp.gateway-driver.host": gatewayHost,
            "vamp.operation.gateway.virtual-hosts.enabled": String(virtualHosts),
            "vamp.gateway-driver.virtual-hosts.port": String(virtualHostsPort),
        ]
    }
}
