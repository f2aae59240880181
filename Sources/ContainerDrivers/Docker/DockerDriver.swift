import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import VampConcurrency
import VampModel

/// Runs breeds of deployable type `container/docker` (alias `docker`) on a Docker Engine (API 1.41, over its unix
/// socket): one real container per instance, `scale.instances` of them per service.
///
/// A container's image is the deployable's definition: used as it is when the engine has it, pulled otherwise (a pull
/// that fails, a registry that cannot be reached, fails the service with a permanent error naming the image). It gets
/// the specification's environment plus `PORT` and `PORT_<NAME>` (the container port), every breed port published on a
/// random host port of 127.0.0.1, the ownership labels (`io.vamp=deployment-service`, `io.vamp.deployment`,
/// `.cluster`, `.service`, `.instance`, `.digest`, `.scale`, `.ports`) and the `docker:` dialect merged into the
/// create request (Engine API keys: `Cmd`, `Entrypoint`, `HostConfig`, ...). A workflow's daemon (an identity made by
/// ``ServiceIdentity/workflow(_:breed:)``) runs the same way with `io.vamp=workflow`, `io.vamp.workflow` and
/// `io.vamp.breed` in place of the deployment, cluster and service labels. A `time` or `event` workflow's one-off run
/// (``runJob(_:)``) is a container of its own, labelled with its run and seen by no discovery, removed when it ends.
///
/// Discovery lists the owned containers by label on the engine, so a restarted server finds what an earlier one
/// started, a container created and never started (by a server killed between the two calls) included: its service is
/// reported, and a deploy starts that container rather than creating another. Each instance's container has one name
/// (`vamp-<service>-<hash>-<number>`), so the engine never holds two for one instance. The driver is a `Service`: its watch of the engine (the poll, the event stream) runs in ``run()``; deploy,
/// undeploy and discovery call the engine directly, with or without it. A container that no longer runs is removed when seen, so the reconciler sees fewer instances and deploys
/// the service again. An instance is `deployed` when every port accepts a TCP connection on the container's address
/// (not on the host port, where docker-proxy accepts before the container listens), or, with health checks, when
/// they pass.
public actor DockerDriver: ContainerDriver {
    /// The driver's settings.
    public struct Configuration: Sendable {
        /// The engine's address: `unix:///path/to/docker.sock`.
        public var host: String
        /// How often the engine is looked at to tick ``DockerDriver/changeNotices()``.
        public var pollInterval: Duration
        /// Also follow the engine's event stream (`GET /events`), so a container that dies or starts ticks
        /// ``DockerDriver/changeNotices()`` at once rather than at the next poll; the poll goes on (it also sees readiness).
        /// Off by default: measured end to end, it did not make a killed container's replacement serve sooner (the
        /// reconciler's passes, the container's start and the gateway's reload dominate; see `performance.md`).
        public var followsEvents: Bool
        /// The longest an image pull may take.
        public var pullTimeout: Duration
        /// The Vamp namespace: recorded as the `io.vamp.namespace` label, and the driver sees only its own containers.
        public var namespace: String
        /// The credentials sent with image pulls (`vamp.container-driver.docker.repository.*`); nil: pulls are
        /// anonymous.
        public var credentials: RegistryCredentials?
        /// Called at each ``DriverCrashPoint`` the driver passes (``DriverCrashPoint/created``), for crash tests that
        /// kill the server there; nil in a server.
        package var crashPoint: (@Sendable (DriverCrashPoint) -> Void)?

        /// Creates a configuration.
        /// - Parameters:
        ///   - host: The engine's address; default: `DOCKER_HOST`, else `unix:///var/run/docker.sock`.
        ///   - pollInterval: How often changes are looked for.
        ///   - pullTimeout: The longest an image pull may take.
        ///   - namespace: The Vamp namespace whose containers the driver runs and sees.
        ///   - credentials: The registry account sent with pulls; nil: anonymous pulls.
        ///   - followsEvents: Follow the engine's event stream besides polling (off by default).
        public init(
            host: String? = nil, pollInterval: Duration = .milliseconds(500), pullTimeout: Duration = .seconds(300), namespace: String = "default",
            credentials: RegistryCredentials? = nil, followsEvents: Bool = false
        ) {
            self.followsEvents = followsEvents
            self.namespace = namespace
            self.credentials = credentials
            self.host = host ?? Self.defaultHost(environment: ProcessInfo.processInfo.environment)
            self.pollInterval = pollInterval
            self.pullTimeout = pullTimeout
        }

        /// `DOCKER_HOST` when set, else `unix:///var/run/docker.sock`.
        public static func defaultHost(environment: [String: String]) -> String {
            if let host = environment["DOCKER_HOST"], !host.isEmpty { return host }
            return "unix:///var/run/docker.sock"
        }
    }

    /// A registry account (the original's `vamp.container-driver.docker.repository.{username,password,email,
    /// server-address}`), sent with every pull as the Engine API's `X-Registry-Auth` header: the base64url-encoded JSON
    /// `{"username", "password", "email", "serveraddress"}`. With a ``serverAddress`` the credentials go only with
    /// pulls of images from that registry (`registry.example.com:5000/team/web:1.0`; `docker.io`, `index.docker.io`
    /// and `registry-1.docker.io` for images without a registry part), so they never reach another registry.
    public struct RegistryCredentials: Sendable, Hashable {
        /// The account's name.
        public var username: String
        /// Its password (or an access token).
        public var password: String
        /// An email address, for registries that still want one; empty: not sent.
        public var email: String
        /// The registry the account is for (`127.0.0.1:5000`, `https://index.docker.io/v1/`); empty: every registry.
        public var serverAddress: String

        /// Creates credentials.
        public init(username: String, password: String, email: String = "", serverAddress: String = "") {
            self.username = username
            self.password = password
            self.email = email
            self.serverAddress = serverAddress
        }

        /// The `X-Registry-Auth` value: base64url (RFC 4648 §5, padded) of the JSON object, with empty fields left out.
        public var header: String {
            var object: [String: String] = ["username": username, "password": password]
            if !email.isEmpty { object["email"] = email }
            if !serverAddress.isEmpty { object["serveraddress"] = serverAddress }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }

        /// True when these credentials go with a pull of `image`: always without a ``serverAddress``, otherwise when
        /// the image's registry is that server (scheme and path of the address ignored, Docker Hub's names alike).
        public func applies(to image: String) -> Bool {
            guard !serverAddress.isEmpty else { return true }
            var server = Substring(serverAddress.lowercased())
            if let scheme = server.range(of: "://") { server = server[scheme.upperBound...] }
            if let slash = server.firstIndex(of: "/") { server = server[..<slash] }
            let hub: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]
            let registry = Self.registry(of: image)
            return registry == String(server) || (hub.contains(registry) && hub.contains(String(server)))
        }

        /// The registry part of an image name: its first component when that has a `.` or a `:` or is `localhost`,
        /// else `docker.io`.
        static func registry(of image: String) -> String {
            let parts = image.lowercased().split(separator: "/", maxSplits: 1)
            guard parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" else { return "docker.io" }
            return String(parts[0])
        }
    }

    /// `container/docker`: the original's `docker` is accepted as its alias (``ContainerDriver/runs(_:)``).
    public nonisolated let deployableTypes: Set<String> = ["container/docker"]

    let notices = Broadcast<Void>()
    let engine: DockerEngineClient
    let configuration: Configuration
    let logger: Logger
    /// What each service was last asked to run (its health checks, its number of instances): the labels of a
    /// container cannot change after it is created.
    var specifications: [ServiceIdentity: ServiceSpecification] = [:]

    /// Creates the driver for an engine; nothing is called until it is used or run.
    /// - Throws: A permanent ``ContainerDriverError`` for an address that is not `unix://`.
    public init(configuration: Configuration = Configuration(), logger: Logger) throws(ContainerDriverError) {
        guard configuration.host.hasPrefix("unix://"), configuration.host.count > "unix://".count else {
            throw ContainerDriverError(
                "the Docker driver talks to a unix socket (unix:///var/run/docker.sock), not \(configuration.host)", permanent: true)
        }
        self.engine = DockerEngineClient(socketPath: String(configuration.host.dropFirst("unix://".count)), namespace: configuration.namespace)
        self.configuration = configuration
        self.logger = logger
    }

    /// Watches the engine until cancelled or shut down gracefully: a poll of the owned containers every
    /// ``Configuration/pollInterval``, and with ``Configuration/followsEvents`` the engine's event stream. The
    /// containers keep running when it ends; so do the change notices' streams end.
    public nonisolated func run() async throws {
        let engine = self.engine, configuration = self.configuration, logger = self.logger, notices = self.notices
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await PollingWatcher(interval: configuration.pollInterval) { try? await Self.fingerprint(engine) }
                        .run { notices.signal() }
                }
                if configuration.followsEvents {
                    group.addTask { await Self.follow(engine, namespace: configuration.namespace, notices: notices, logger: logger) }
                }
            }
        }
        notices.finish()
    }

    /// A new subscription: a notice when an owned container starts, dies or is removed (at once, from the engine's
    /// event stream, when ``Configuration/followsEvents``), and when one appears, disappears, changes state, comes up
    /// or goes down (the poll, every ``Configuration/pollInterval``), while ``run()`` runs; and after each deploy and
    /// undeploy.
    public nonisolated func changeNotices() -> AsyncStream<Void> { notices.subscribe() }

    /// Follows the engine's container events of the namespace until cancelled, noticing those that matter
    /// (``DockerPlan/eventMatters(_:namespace:)``); a broken or refused stream is opened again after a backoff
    /// (100 ms doubling to 5 s, back to 100 ms once connected), and a notice on every reconnect covers what was missed.
    static func follow(_ engine: DockerEngineClient, namespace: String, notices: Broadcast<Void>, logger: Logger) async {
        let filters = DockerPlan.eventFilters(namespace: namespace)
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            let connected = Mutex(false)
            do throws(ContainerDriverError) {
                try await engine.events(filters: filters) {
                    connected.withLock { $0 = true }
                    notices.signal()
                } onLine: { line in
                    if DockerPlan.eventMatters(line, namespace: namespace) { notices.signal() }
                }
                if Task.isCancelled { return }
                logger.info("the Docker engine ended its event stream; following it again")
            } catch {
                if Task.isCancelled { return }
                // A stream that worked and broke is worth a warning; retries of a dead engine are not.
                if connected.withLock({ $0 }) {
                    logger.warning("the Docker engine's event stream broke; polling goes on, following again", metadata: ["vamp.error": "\(error.message)"])
                } else {
                    logger.debug("the Docker engine's event stream cannot be opened", metadata: ["vamp.error": "\(error.message)"])
                }
            }
            if connected.withLock({ $0 }) { delay = .milliseconds(100) }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }

    // MARK: - ContainerDriver

    /// Type `docker`; the engine's address, version and counts of owned containers.
    public func info() async throws(ContainerDriverError) -> ContainerDriverInfo {
        let version = try await engine.http.expect(.GET, "/version")
        let object = (try? JSONSerialization.jsonObject(with: version.body) as? [String: Any]) ?? [:]
        let containers = try await engine.list(nil)
        return ContainerDriverInfo(type: "docker", details: [
            "host": .string(configuration.host),
            "namespace": .string(configuration.namespace),
            "version": .string(object["Version"] as? String ?? "unknown"),
            "api_version": .string(object["ApiVersion"] as? String ?? "unknown"),
            "containers": .number(Double(containers.count)),
            "running": .number(Double(containers.filter(\.container.running).count)),
        ])
    }

    /// Every service with an owned container on the engine, its running containers as instances. Containers that
    /// exited or died are removed first. A service whose containers were created and never started (by a `deploy` now,
    /// or by a server killed between the two calls) is reported too, without them as instances, so that the reconciler
    /// either deploys it (which starts them) or undeploys it (which removes them): no owned container is left unseen.
    public func services() async throws(ContainerDriverError) -> [RuntimeService] {
        var listed = try await engine.list(nil)
        // Only containers that ended: one just created (`created`) is being started by a `deploy`, or waits for one.
        for entry in listed where entry.state == "exited" || entry.state == "dead" {
            logger.warning("container no longer runs: removed", metadata: metadata(entry.container))
            try await remove(entry.container.id)
        }
        listed.removeAll { !$0.container.running && !$0.container.neverStarted }
        let byService = Dictionary(grouping: listed, by: \.container.service)
        var services: [RuntimeService] = []
        for id in byService.keys.sorted() {
            let all = byService[id]!
            let entries = all.filter(\.container.running).sorted { $0.container.index < $1.container.index }
            let newest = all.max { ($0.container.created, $0.container.index) < ($1.container.created, $1.container.index) }!
            let checks = specifications[id]?.healthChecks ?? []
            var instances: [Instance] = []
            for entry in entries {
                let names = DockerPlan.portNames(entry.labels)
                var ports: [String: Int] = [:]
                for (name, number) in names { if let host = entry.published[number] { ports[name] = host } }
                let up = await Self.isUp(entry, ports: names, checks: checks)
                instances.append(Instance(name: DockerPlan.instanceName(entry.container), host: "127.0.0.1", ports: ports, deployed: up))
            }
            services.append(RuntimeService(
                id: id, digest: specifications[id]?.digest ?? newest.container.digest,
                desiredInstances: specifications[id]?.scale.instances ?? newest.container.scale, instances: instances))
        }
        return services
    }

    /// Brings the service to the specification, whatever `update` says: the image made present, missing instances
    /// created and started, containers of another digest replaced (the new ones started before the old ones are
    /// removed), extra ones removed (highest numbers first).
    /// - Throws: A permanent ``ContainerDriverError`` for a breed that is not a Docker image or an image that cannot be
    ///   pulled; a transient one when the engine cannot be reached.
    public func deploy(_ service: ServiceSpecification, update: Bool) async throws(ContainerDriverError) {
        guard let deployable = service.breed.deployable, runs(deployable), !deployable.definition.isEmpty else {
            throw ContainerDriverError(
                "breed \(service.breed.name) is not a Docker image (deployable type container/docker): the Docker driver runs images",
                permanent: true)
        }
        try await ensureImage(deployable.definition)
        specifications[service.id] = service
        let containers = try await engine.list(service.id).map(\.container)
        for action in DockerPlan.converge(desired: service.scale.instances, digest: service.digest, containers: containers) {
            switch action {
            case .create(let index): try await create(service, index: index)
            case .start(let id): try await start(id, of: service.id, index: nil)
            case .remove(let id): try await remove(id)
            }
        }
        notices.signal()
    }

    /// Kills and removes every container of the service.
    public func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError) {
        specifications[service] = nil
        for entry in try await engine.list(service) { try await remove(entry.container.id) }
        notices.signal()
    }
}
