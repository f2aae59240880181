public import Configuration
import Foundation
public import Logging
public import VampModel

/// Which container driver runs the services and how to reach it: one value every host builds its drivers from, with
/// ``makeDriver(namespace:excludedPorts:logger:)``, read from the same settings as the other stores
/// (``init(config:)``).
public struct ContainerDriverConfiguration: Sendable {
    /// The drivers.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `command` breeds as processes on this machine (``LocalProcessDriver``; the default).
        case local
        /// Containers on a Docker Engine (``DockerDriver``).
        case docker
        /// apps/v1 Deployments on a Kubernetes cluster (``KubernetesDriver``).
        case kubernetes
        /// Apps on Marathon / DC/OS (``MarathonDriver``).
        case marathon
        /// Nothing runs: deployments are stored and their gateways served, but no service is started.
        case none
    }

    /// Which driver.
    public var kind: Kind
    /// The local driver's records and logs (`.vamp/processes`); namespaces other than the default one get a
    /// sub-folder `namespaces/<name>`.
    public var localDirectory: String
    /// The user the local driver runs commands as (`nil`: the server's own user); see ``LocalProcessDriver/Configuration/user``.
    public var localUser: LocalUser?
    /// With ``localUser``: the folder of the commands' working folders (`.vamp-work`); namespaces other than the default
    /// one get a sub-folder `namespaces/<name>`.
    public var localWorkDirectory: String = ".vamp-work"
    /// The Docker Engine's socket (`DOCKER_HOST`, else `unix:///var/run/docker.sock`).
    public var dockerHost: String
    /// The registry account the Docker driver sends with pulls (none: anonymous pulls).
    public var dockerCredentials: DockerDriver.RegistryCredentials?
    /// Whether the Docker driver also follows the engine's event stream (``DockerDriver/Configuration/followsEvents``).
    public var dockerFollowsEvents: Bool
    /// The Kubernetes API server, its credentials and the default namespace's name (other Vamp namespaces get their
    /// own from ``makeDriver(namespace:excludedPorts:logger:)``).
    public var kubernetes: KubernetesDriver.Configuration
    /// Whether a host gives every gateway a Kubernetes Service (``KubernetesDriver/synchronizeGateways(_:)``).
    public var kubernetesCreatesServices: Bool
    /// Whether a host should keep the driver's gateway additions in step with the gateways
    /// (``ContainerDriver/synchronizeGateways(_:)``): with the Kubernetes driver, unless
    /// `vamp.container-driver.kubernetes.create-services` is false; the other drivers add nothing for gateways.
    public var synchronizesGateways: Bool { kind == .kubernetes && kubernetesCreatesServices }
    /// Marathon's address, credentials and constraints; required (and only read) for ``Kind/marathon``.
    public var marathon: MarathonDriver.Configuration?

    /// Creates a configuration.
    public init(
        kind: Kind = .local, localDirectory: String = ".vamp/processes", dockerHost: String? = nil,
        kubernetes: KubernetesDriver.Configuration = KubernetesDriver.Configuration(), kubernetesCreatesServices: Bool = true,
        dockerCredentials: DockerDriver.RegistryCredentials? = nil, dockerFollowsEvents: Bool = false,
        marathon: MarathonDriver.Configuration? = nil
    ) {
        self.kind = kind
        self.marathon = marathon
        self.dockerCredentials = dockerCredentials
        self.dockerFollowsEvents = dockerFollowsEvents
        self.localDirectory = localDirectory
        self.dockerHost = dockerHost ?? DockerDriver.Configuration.defaultHost(environment: ProcessInfo.processInfo.environment)
        self.kubernetes = kubernetes
        self.kubernetesCreatesServices = kubernetesCreatesServices
    }

    /// Reads the configuration through swift-configuration, with the key names of Vamp.
    ///
    /// ## Configuration keys
    /// - `vamp.container-driver.type` (`VAMP_CONTAINER_DRIVER_TYPE`): `local` (the default), `docker`, `kubernetes`
    ///   or `none`.
    /// - `vamp.container-driver.local.directory`: the local driver's records and logs (`.vamp/processes`).
    /// - `vamp.container-driver.local.user`: the user commands run as (a name or uid; empty, the default: the server's
    ///   own user); another user than the server's needs the server to run as root.
    /// - `vamp.container-driver.local.work-directory`: with a user, the folder of the commands' working folders, each
    ///   owned by that user (`.vamp-work`).
    /// - `vamp.container-driver.docker.host`: the Docker Engine's socket, `unix://…` (`DOCKER_HOST`, else
    ///   `unix:///var/run/docker.sock`).
    /// - `vamp.container-driver.docker.repository.username`, `.password` (secret), `.email`, `.server-address`: the
    ///   registry account sent with pulls (``DockerDriver/RegistryCredentials``); a username needs a password.
    /// - `vamp.container-driver.docker.events`: the Docker driver also follows the engine's event stream (false).
    /// - `vamp.container-driver.kubernetes.url` (in a pod: from `KUBERNETES_SERVICE_HOST`), `.bearer` (secret),
    ///   `.token` (a token file; default the service account's), `.server-ca-cert` (default the service account's),
    ///   `.service-type` (`NodePort` or `LoadBalancer`), `.create-services` (true); the Kubernetes namespace of the
    ///   default Vamp namespace is `vamp.namespace` (`vamp`).
    /// - `vamp.container-driver.marathon.url` (required with `marathon`), `.user` and `.password` (secret; basic
    ///   authentication) or `.token` (secret; a DC/OS token), `.namespace-constraint` (`field:OPERATOR[:value]`).
    ///
    /// - Throws: ``ContainerDriverError`` (permanent) naming the key that is malformed.
    public init(config: ConfigReader) throws(ContainerDriverError) {
        let scope = config.scoped(to: "vamp.container-driver")
        let type = scope.string(forKey: "type", default: Kind.local.rawValue).lowercased()
        guard let kind = Kind(rawValue: type) else {
            throw Self.fail("type", "'\(type)' is not a driver; use \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func setting(_ key: String, secret: Bool = false) -> String? {
            scope.string(forKey: ConfigKey(key.split(separator: ".").map(String.init)), isSecret: secret).flatMap { $0.isEmpty ? nil : $0 }
        }
        let serviceText = setting("kubernetes.service-type") ?? "NodePort"
        guard let serviceType = KubernetesDriver.ServiceType.allCases.first(where: { $0.rawValue.lowercased() == serviceText.lowercased() }) else {
            throw Self.fail("kubernetes.service-type", "'\(serviceText)' is not NodePort or LoadBalancer")
        }
        let creates = setting("kubernetes.create-services")?.lowercased() ?? "true"
        guard ["true", "on", "yes", "false", "off", "no"].contains(creates) else {
            throw Self.fail("kubernetes.create-services", "'\(creates)' is not true or false")
        }
        let username = setting("docker.repository.username")
        let password = setting("docker.repository.password", secret: true)
        if (username == nil) != (password == nil) {
            throw Self.fail(username == nil ? "docker.repository.username" : "docker.repository.password",
                "missing: a registry account needs both a username and a password")
        }
        let events = setting("docker.events")?.lowercased() ?? "false"
        guard ["true", "on", "yes", "false", "off", "no"].contains(events) else {
            throw Self.fail("docker.events", "'\(events)' is not true or false")
        }
        let credentials = username.flatMap { username in
            password.map { password in
                DockerDriver.RegistryCredentials(
                    username: username, password: password, email: setting("docker.repository.email") ?? "",
                    serverAddress: setting("docker.repository.server-address") ?? "")
            }
        }
        var localUser: LocalUser?
        if kind == .local, let name = setting("local.user")?.trimmingCharacters(in: .whitespaces), !name.isEmpty {
            guard let user = LocalUser.lookup(name) else {
                throw Self.fail("local.user", "no user '\(name)' on this machine (getent passwd \(name)); name an existing user, or leave it empty")
            }
            localUser = user
        }
        self.init(
            kind: kind, localDirectory: scope.string(forKey: "local.directory", default: ".vamp/processes"),
            dockerHost: scope.string(forKey: "docker.host"),
            kubernetes: KubernetesDriver.Configuration(
                url: setting("kubernetes.url"), bearer: setting("kubernetes.bearer", secret: true),
                tokenFile: setting("kubernetes.token"), caCertificateFile: setting("kubernetes.server-ca-cert"),
                namespace: config.string(forKey: "vamp.namespace").flatMap { $0.isEmpty ? nil : $0 } ?? "vamp", serviceType: serviceType),
            kubernetesCreatesServices: ["true", "on", "yes"].contains(creates),
            dockerCredentials: credentials, dockerFollowsEvents: ["true", "on", "yes"].contains(events),
            marathon: kind == .marathon ? try Self.marathon(setting) : nil)
        self.localUser = localUser
        self.localWorkDirectory = setting("local.work-directory") ?? ".vamp-work"
        try validate()
    }

    /// `vamp.container-driver.marathon.*`.
    private static func marathon(_ setting: (String, Bool) -> String?) throws(ContainerDriverError) -> MarathonDriver.Configuration {
        func value(_ name: String, secret: Bool = false) -> String? {
            guard let text = setting("marathon." + name, secret)?.trimmingCharacters(in: .whitespaces) else { return nil }
            return text.isEmpty ? nil : text
        }
        guard let url = value("url") else {
            throw fail("marathon.url", "is required with vamp.container-driver.type marathon: Marathon's address (http://marathon.mesos:8080)")
        }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
            throw fail("marathon.url", "'\(url)' is not an http:// or https:// address (http://marathon.mesos:8080)")
        }
        let credentials: MarathonDriver.Configuration.Credentials
        switch (value("user"), value("password", secret: true), value("token", secret: true)) {
        case (nil, nil, nil): credentials = .none
        case (let user?, let password?, nil): credentials = .basic(user: user, password: password)
        case (nil, nil, let token?): credentials = .token(token)
        case (_?, nil, nil): throw fail("marathon.password", "is required with vamp.container-driver.marathon.user")
        case (nil, _?, nil): throw fail("marathon.user", "is required with vamp.container-driver.marathon.password")
        default: throw fail("marathon.token", "set either a DC/OS token or a user and password, not both")
        }
        var constraints: [[String]] = []
        if let constraint = value("namespace-constraint") {
            let parts = constraint.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
                throw fail(
                    "marathon.namespace-constraint",
                    "'\(constraint)' is not a Marathon constraint field:OPERATOR[:value] (hostname:UNIQUE, rack:LIKE:rack-[12])")
            }
            constraints = [parts]
        }
        return MarathonDriver.Configuration(url: url, credentials: credentials, constraints: constraints)
    }

    /// Checks the settings of the selected driver.
    public func validate() throws(ContainerDriverError) {
        switch kind {
        case .docker where !dockerHost.hasPrefix("unix://"):
            throw Self.fail("docker.host", "'\(dockerHost)' is not a unix socket (unix:///var/run/docker.sock)")
        case .local where localDirectory.isEmpty:
            throw Self.fail("local.directory", "is empty; name a folder (.vamp/processes)")
        case .local:
            if let user = localUser, let refusal = LocalUser.refusal(for: user, serverUID: LocalUser.serverUID) {
                throw Self.fail("local.user", refusal)
            }
        case .kubernetes:
            if let file = kubernetes.caCertificateFile, !FileManager.default.fileExists(atPath: file) {
                throw Self.fail("kubernetes.server-ca-cert", "no file '\(file)'")
            }
            if let file = kubernetes.tokenFile, !FileManager.default.fileExists(atPath: file) {
                throw Self.fail("kubernetes.token", "no file '\(file)'")
            }
            if kubernetes.bearer == nil, kubernetes.tokenFile == nil {
                throw Self.fail(
                    "kubernetes.token",
                    "no bearer token: set .bearer or .token, or run in a pod with a service account (\(KubernetesDriver.serviceAccountTokenFile))")
            }
            guard let url = URL(string: kubernetes.url), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                throw Self.fail("kubernetes.url", "'\(kubernetes.url)' is not https://host[:port]")
            }
        default: break
        }
    }

    /// The driver of a Vamp namespace (`nil`: the default one), or `nil` for ``Kind/none``. Making it reads and starts
    /// nothing: run it (``ContainerDriver``, a `Service`) for its background work.
    /// - Parameters:
    ///   - namespace: The Vamp namespace; each namespace's driver sees only what it started.
    ///   - excludedPorts: Ports the local driver never gives an instance (the gateways' range, the virtual hosts'
    ///     port), so HAProxy can always bind them.
    ///   - logger: Where the driver logs.
    /// - Throws: ``ContainerDriverError`` naming the setting when the driver cannot start with it.
    public func makeDriver(
        namespace: String?, excludedPorts: [ClosedRange<Int>] = [], logger: Logger
    ) throws(ContainerDriverError) -> (any ContainerDriver)? {
        switch kind {
        case .none:
            return nil
        case .docker:
            do {
                let configuration = DockerDriver.Configuration(
                    host: dockerHost, namespace: namespace ?? "default", credentials: dockerCredentials, followsEvents: dockerFollowsEvents)
                return try DockerDriver(configuration: configuration, logger: logger)
            } catch {
                throw Self.fail("docker.host", "'\(dockerHost)': \(error.message)")
            }
        case .marathon:
            guard var configuration = marathon else { throw Self.fail("marathon.url", "is required with vamp.container-driver.type marathon") }
            configuration.namespace = namespace ?? "default"
            do {
                return try MarathonDriver(configuration: configuration, logger: logger)
            } catch {
                throw Self.fail("marathon.url", "'\(configuration.url)': \(error.message)")
            }
        case .kubernetes:
            var configuration = kubernetes
            if let namespace { configuration.namespace = namespace }
            do {
                return try KubernetesDriver(configuration: configuration, logger: logger)
            } catch {
                throw Self.fail("kubernetes", error.message)
            }
        case .local:
            var folder = URL(fileURLWithPath: localDirectory).standardizedFileURL
            if let namespace { folder = folder.appendingPathComponent("namespaces/\(namespace)") }
            var configuration = LocalProcessDriver.Configuration()
            configuration.excludedPorts = excludedPorts
            configuration.user = localUser
            var work = URL(fileURLWithPath: localWorkDirectory).standardizedFileURL
            if let namespace { work = work.appendingPathComponent("namespaces/\(namespace)") }
            configuration.userWorkDirectory = work
            return LocalProcessDriver(directory: folder, logger: logger, configuration: configuration)
        }
    }

    /// What a host shows of the settings (`GET /info`'s `container_driver` section); secrets are left out.
    public var information: JSONValue {
        switch kind {
        case .none: .object(["type": .string("none")])
        case .local:
            .object([
                "type": .string("local"), "directory": .string(URL(fileURLWithPath: localDirectory).standardizedFileURL.path),
            ].merging(localUser.map { ["user": .string($0.name)] } ?? [:]) { $1 })
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
        case .kubernetes:
            .object([
                "type": .string("kubernetes"), "url": .string(kubernetes.url), "namespace": .string(kubernetes.namespace),
                "server_ca_cert": kubernetes.caCertificateFile.map { .string($0) } ?? .null,
                "token": kubernetes.bearer != nil ? .string("bearer") : kubernetes.tokenFile.map { .string($0) } ?? .null,
                "service_type": .string(kubernetes.serviceType.rawValue),
            ])
        }
    }

    /// The settings by key, as `GET /config` shows them; secrets are left out.
    public var shown: [String: String] {
        [
            "vamp.container-driver.type": kind.rawValue,
            "vamp.container-driver.local.directory": localDirectory,
            "vamp.container-driver.local.user": localUser?.name ?? "",
            "vamp.container-driver.local.work-directory": localWorkDirectory,
            "vamp.container-driver.docker.host": dockerHost,
            "vamp.container-driver.docker.events": String(dockerFollowsEvents),
            "vamp.container-driver.docker.repository.username": dockerCredentials?.username ?? "",
            "vamp.container-driver.docker.repository.server-address": dockerCredentials?.serverAddress ?? "",
            "vamp.container-driver.kubernetes.url": kubernetes.url,
            "vamp.container-driver.kubernetes.service-type": kubernetes.serviceType.rawValue,
            "vamp.container-driver.kubernetes.create-services": String(kubernetesCreatesServices),
            "vamp.container-driver.marathon.url": marathon?.url ?? "",
        ]
    }

    private static func fail(_ key: String, _ why: String) -> ContainerDriverError {
        let variable = "VAMP_CONTAINER_DRIVER_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        return ContainerDriverError("vamp.container-driver.\(key) (\(variable)): \(why)", permanent: true)
    }
}
