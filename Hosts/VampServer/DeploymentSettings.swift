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
    enum Driver: String, Sendable { case local, docker, kubernetes, none }

    /// `vamp.container-driver.type`: `local` (processes on this machine, the default), `docker` (containers on a
    /// Docker Engine) or `none` (deployments are stored and their gateways served, but nothing is run).
    var driver: Driver
    /// `vamp.container-driver.local.directory`: the local driver's records and logs (`.vamp/processes`).
    var localDirectory: String
    /// `vamp.container-driver.docker.host`: the Docker Engine's socket (`DOCKER_HOST`, else
    /// `unix:///var/run/docker.sock`).
    var dockerHost: String
    /// `vamp.container-driver.kubernetes.*`: `url`, `bearer`, `token` (file), `server-ca-cert`, `service-type`; its
    /// namespace is `vamp.namespace` (each other Vamp namespace's driver gets its own).
    var kubernetes: KubernetesDriver.Configuration
    /// `vamp.container-driver.kubernetes.create-services`: a Kubernetes Service per gateway (true).
    var kubernetesCreatesServices: Bool
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
            throw fail("vamp.container-driver.type (VAMP_CONTAINER_DRIVER_TYPE)", "'\(type)' is not local, docker, kubernetes or none (marathon is not built yet)")
        }
        self.driver = driver
        localDirectory = config.string(forKey: "vamp.container-driver.local.directory", default: ".vamp/processes")
        dockerHost = config.string(
            forKey: "vamp.container-driver.docker.host",
            default: DockerDriver.Configuration.defaultHost(environment: ProcessInfo.processInfo.environment))
        if driver == .docker, !dockerHost.hasPrefix("unix://") {
            throw fail("vamp.container-driver.docker.host (VAMP_CONTAINER_DRIVER_DOCKER_HOST)", "'\(dockerHost)' is not a unix socket (unix:///var/run/docker.sock)")
        }
        kubernetes = try Self.kubernetes(config: config, fail: fail)
        let creates = config.string(forKey: "vamp.container-driver.kubernetes.create-services", default: "true").lowercased()
        switch creates {
        case "true", "on", "yes": kubernetesCreatesServices = true
        case "false", "off", "no": kubernetesCreatesServices = false
        default: throw fail("vamp.container-driver.kubernetes.create-services (VAMP_CONTAINER_DRIVER_KUBERNETES_CREATE_SERVICES)", "'\(creates)' is not true or false")
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
        case .kubernetes:
            do {
                var configuration = kubernetes
                if let namespace { configuration.namespace = namespace }
                return try KubernetesDriver(configuration: configuration, logger: Logger(label: "vamp.driver.kubernetes"))
            } catch {
                throw ValidationError("vamp.container-driver.kubernetes (VAMP_CONTAINER_DRIVER_KUBERNETES_*): \(error.message)")
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
        case .kubernetes:
            .object([
                "type": .string("kubernetes"), "url": .string(kubernetes.url),
                "server_ca_cert": kubernetes.caCertificateFile.map { .string($0) } ?? .null,
                "token": kubernetes.bearer != nil ? .string("bearer") : kubernetes.tokenFile.map { .string($0) } ?? .null,
                "service_type": .string(kubernetes.serviceType.rawValue),
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
            "vamp.container-driver.kubernetes.url": kubernetes.url,
            "vamp.container-driver.kubernetes.service-type": kubernetes.serviceType.rawValue,
            "vamp.container-driver.kubernetes.create-services": String(kubernetesCreatesServices),
            "vamp.operation.synchronization.period": "\(Double(reconcileInterval.components.seconds) + Double(reconcileInterval.components.attoseconds) / 1e18)",
            "vamp.gateway-driver.host": gatewayHost,
            "vamp.operation.gateway.virtual-hosts.enabled": String(virtualHosts),
            "vamp.gateway-driver.virtual-hosts.port": String(virtualHostsPort),
        ]
    }

    /// `vamp.container-driver.kubernetes.*`; a CA file or token file that is named but missing fails at start-up (for
    /// the kubernetes driver only).
    static func kubernetes(config: ConfigReader, fail: (String, String) -> ValidationError) throws -> KubernetesDriver.Configuration {
        let type = config.string(forKey: "vamp.container-driver.type", default: "local").lowercased()
        func setting(_ key: String) -> String? { config.string(forKey: ConfigKey(key.split(separator: ".").map(String.init))).flatMap { $0.isEmpty ? nil : $0 } }
        let serviceText = setting("vamp.container-driver.kubernetes.service-type") ?? "NodePort"
        guard let serviceType = KubernetesDriver.ServiceType(rawValue: serviceText) ?? (serviceText.lowercased() == "loadbalancer" ? .loadBalancer : serviceText.lowercased() == "nodeport" ? .nodePort : nil)
        else {
            throw fail("vamp.container-driver.kubernetes.service-type (VAMP_CONTAINER_DRIVER_KUBERNETES_SERVICE_TYPE)", "'\(serviceText)' is not NodePort or LoadBalancer")
        }
        let configuration = KubernetesDriver.Configuration(
            url: setting("vamp.container-driver.kubernetes.url"), bearer: setting("vamp.container-driver.kubernetes.bearer"),
            tokenFile: setting("vamp.container-driver.kubernetes.token"), caCertificateFile: setting("vamp.container-driver.kubernetes.server-ca-cert"),
            namespace: setting("vamp.namespace") ?? "vamp", serviceType: serviceType)
        guard type == "kubernetes" else { return configuration }
        if let file = setting("vamp.container-driver.kubernetes.server-ca-cert"), !FileManager.default.fileExists(atPath: file) {
            throw fail("vamp.container-driver.kubernetes.server-ca-cert (VAMP_CONTAINER_DRIVER_KUBERNETES_SERVER_CA_CERT)", "no file '\(file)'")
        }
        if let file = setting("vamp.container-driver.kubernetes.token"), !FileManager.default.fileExists(atPath: file) {
            throw fail("vamp.container-driver.kubernetes.token (VAMP_CONTAINER_DRIVER_KUBERNETES_TOKEN)", "no file '\(file)'")
        }
        if configuration.bearer == nil, configuration.tokenFile == nil {
            throw fail(
                "vamp.container-driver.kubernetes.token (VAMP_CONTAINER_DRIVER_KUBERNETES_TOKEN)",
                "no bearer token: set .bearer or .token, or run in a pod with a service account (\(KubernetesDriver.serviceAccountTokenFile))")
        }
        guard let url = URL(string: configuration.url), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw fail("vamp.container-driver.kubernetes.url (VAMP_CONTAINER_DRIVER_KUBERNETES_URL)", "'\(configuration.url)' is not https://host[:port]")
        }
        return configuration
    }
}
