import Foundation
public import Logging
import NIOHTTP1
import ServiceLifecycle
import VampConcurrency
import VampModel

/// Runs breeds of deployable type `container/docker` (alias `docker`) and `command` (alias `cmd`) as Marathon apps
/// (REST API v2; Mesos, DC/OS): one app per service, `scale.instances` tasks per app.
///
/// App ids follow the original (§1.3 of the reference): `/<namespace>/deployment-<deployment>-service-<breed>` for a
/// service, `/<namespace>/workflow-<workflow>` for a workflow's daemon, each name that is not a legal Marathon id
/// segment (lowercase letters, digits, hyphens, dots) replaced by a 20-digit SHA-1 prefix. Every app carries the
/// ownership labels (`io.vamp=deployment-service` with `io.vamp.deployment`, `.cluster`, `.service`, or
/// `io.vamp=workflow` with `io.vamp.workflow`, `.breed`), the specification's digest (`io.vamp.digest`) and its port
/// names (`io.vamp.ports`), so ``services()`` reads everything back from Marathon and a restarted server finds what an
/// earlier one started.
///
/// - A new service is `POST /v2/apps`; an app that already exists (409) is updated instead.
/// - An update is `PUT /v2/apps/{id}` with only the fields that differ from the app Marathon has (nothing is sent when
///   none does): a scale change sends `instances` alone, which Marathon applies without restarting tasks; a digest
///   change sends the changed fields with the new `io.vamp.digest` label, and Marathon replaces every task.
/// - When a running Marathon deployment locks the app (409 "App is locked by one or more deployments"), the change is
///   sent again with `?force=true`: the app is Vamp's (its labels say so), the deployment holding it is the rollout of
///   an earlier state of the same service (or one that cannot finish, such as tasks that never become healthy), and
///   the newest specification is what the operator asked for. A lock that stays after the forced call is reported.
/// - An app with the service's id that does not carry the service's labels is not changed: the deploy fails with a
///   permanent error naming the app.
/// - Undeploy is `DELETE /v2/apps/{id}` (forced the same way when locked); an app that is gone (404) is not an error.
///
/// An instance is a task: its name the task id, its host the task's host, its ports the task's ports under the breed
/// port names in order. It is `deployed` when the task has started, runs (`TASK_RUNNING`), and, when the app has
/// health checks, each of its `healthCheckResults` is alive. A change notice goes out when a poll of the app list (every
/// ``Configuration/pollInterval``, in ``run()``: the driver is a `Service`) sees another set of apps, versions, tasks or
/// readiness.
public actor MarathonDriver: ContainerDriver {
    /// The driver's settings.
    public struct Configuration: Sendable {
        /// How the driver authenticates.
        public enum Credentials: Sendable, Hashable {
            /// No `Authorization` header.
            case none
            /// HTTP basic authentication (Marathon's `--http_credentials`).
            case basic(user: String, password: String)
            /// A DC/OS authentication token, sent as `Authorization: token=<token>`.
            case token(String)
        }

        /// Marathon's address: `http://marathon.mesos:8080`, or DC/OS's `https://<master>/service/marathon`.
        public var url: String
        /// How the driver authenticates.
        public var credentials: Credentials
        /// The Vamp namespace: the first segment of every app id; the driver sees only its own namespace's apps.
        public var namespace: String
        /// Constraints every app gets (`[["hostname", "UNIQUE"]]`, `[["namespace", "LIKE", "shop"]]`).
        public var constraints: [[String]]
        /// How often the app list is looked at for the change notices (``MarathonDriver/changeNotices()``).
        public var pollInterval: Duration
        /// The longest one call to Marathon may take.
        public var requestTimeout: Duration

        /// Creates a configuration.
        public init(
            url: String, credentials: Credentials = .none, namespace: String = "default", constraints: [[String]] = [],
            pollInterval: Duration = .seconds(1), requestTimeout: Duration = .seconds(30)
        ) {
            self.url = url
            self.credentials = credentials
            self.namespace = namespace
            self.constraints = constraints
            self.pollInterval = pollInterval
            self.requestTimeout = requestTimeout
        }
    }

    /// `container/docker` and `command`: the original's `docker` and `cmd` are accepted as aliases
    /// (``ContainerDriver/runs(_:)``).
    public nonisolated let deployableTypes: Set<String> = ["container/docker", "command"]

    private let notices = Broadcast<Void>()
    private let client: MarathonClient
    private let configuration: Configuration
    private let options: MarathonPlan.Options
    private let logger: Logger

    /// The list call of ``services()``: every app with an `io.vamp` label (Marathon's existence selector), with its
    /// tasks and task statistics.
    static let listQuery = [("embed", "apps.tasks"), ("embed", "apps.taskStats"), ("label", OwnershipLabel.owner)]

    /// Creates the driver for a Marathon; nothing is called until it is used or run.
    /// - Throws: A permanent ``ContainerDriverError`` for an address that is not `http://` or `https://`.
    public init(configuration: Configuration, logger: Logger) throws(ContainerDriverError) {
        var url = configuration.url.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
            throw ContainerDriverError(
                "the Marathon driver needs Marathon's http:// or https:// address (http://marathon.mesos:8080), not '\(configuration.url)'",
                permanent: true)
        }
        let authorization: String?
        let described: String
        switch configuration.credentials {
        case .none:
            authorization = nil
            described = "a request without credentials"
        case .basic(let user, let password):
            authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
            described = "user '\(user)' (basic authentication)"
        case .token(let token):
            authorization = "token=\(token)"
            described = "the DC/OS token"
        }
        self.client = MarathonClient(baseURL: url, authorization: authorization, credentials: described, timeout: configuration.requestTimeout)
        self.configuration = configuration
        self.options = MarathonPlan.Options(namespace: configuration.namespace, constraints: configuration.constraints)
        self.logger = logger
    }

    /// Polls the namespace's apps every ``Configuration/pollInterval`` for the change notices, until cancelled or shut
    /// down gracefully; then the notices' streams end. The apps keep running.
    public nonisolated func run() async throws {
        let client = self.client, namespace = configuration.namespace, interval = configuration.pollInterval, notices = self.notices
        await cancelWhenGracefulShutdown {
            await PollingWatcher(interval: interval) { try? await Self.fingerprint(client, namespace: namespace) }
                .run { notices.signal() }
        }
        notices.finish()
    }

    /// A new subscription: a notice when an app of the namespace appears or disappears, changes version, or one of its
    /// tasks comes, goes, comes up or goes down (while ``run()`` runs), and after each deploy and undeploy.
    public nonisolated func changeNotices() -> AsyncStream<Void> { notices.subscribe() }

    // MARK: - ContainerDriver

    /// Type `marathon`: the address, `GET /v2/info`'s name, version, leader and framework id, and the namespace's
    /// apps with their task counts (`taskStats`).
    public func info() async throws(ContainerDriverError) -> ContainerDriverInfo {
        let answer = try await client.http.expect(.GET, "/v2/info")
        let info = try client.json(answer, .GET, "/v2/info")
        let apps = try await ownApps()
        let counts = apps.map(MarathonPlan.taskCounts).reduce(ServiceHealth(staged: 0, running: 0, healthy: 0, unhealthy: 0)) {
            ServiceHealth(staged: $0.staged + $1.staged, running: $0.running + $1.running, healthy: $0.healthy + $1.healthy, unhealthy: $0.unhealthy + $1.unhealthy)
        }
        var details: [String: JSONValue] = [
            "url": .string(client.baseURL),
            "namespace": .string(configuration.namespace),
            "apps": .number(Double(apps.count)),
            "tasks": .object([
                "staged": .number(Double(counts.staged)), "running": .number(Double(counts.running)),
                "healthy": .number(Double(counts.healthy)), "unhealthy": .number(Double(counts.unhealthy)),
            ]),
        ]
        for key in ["name", "version", "leader", "frameworkId"] {
            if let value = info.value(atPath: key)?.stringValue { details[key] = .string(value) }
        }
        return ContainerDriverInfo(type: "marathon", details: details)
    }

    /// Every app of the namespace with Vamp's labels, services and workflows' daemons, its tasks as instances.
    public func services() async throws(ContainerDriverError) -> [RuntimeService] {
        try await ownApps().compactMap { MarathonPlan.runtimeService($0, namespace: configuration.namespace) }.sorted { $0.id < $1.id }
    }

    /// Creates the app (`update == false`), or sends the fields that changed (`update == true`, or an app that
    /// already exists). Returns when Marathon accepted the change; its deployment rolls the tasks out afterwards.
    /// - Throws: A permanent ``ContainerDriverError`` for a breed that is neither an image nor a command, an app
    ///   definition Marathon refuses (quoting its message and details), refused credentials, or an app of that id
    ///   that is not the service's; a transient one when Marathon cannot be reached or answers 5xx.
    public func deploy(_ service: ServiceSpecification, update: Bool) async throws(ContainerDriverError) {
        guard let deployable = service.breed.deployable, runs(deployable),
            !deployable.definition.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw ContainerDriverError(
                "breed \(service.breed.name) has deployable type \(service.breed.deployable?.type ?? "none")"
                    + "\(service.breed.deployable?.definition.isEmpty == true ? " and no definition" : ""); "
                    + "the Marathon driver runs container/docker images and command lines",
                permanent: true)
        }
        let app = try MarathonPlan.app(service, options: options)
        let id = MarathonPlan.appID(service.id, namespace: configuration.namespace)
        if !update {
            if try await create(app, service: service, id: id) {
                notices.signal()
                return
            }
        }
        try await change(app, service: service, id: id)
        notices.signal()
    }

    /// Deletes the service's app (with its tasks).
    public func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError) {
        let id = MarathonPlan.appID(service, namespace: configuration.namespace)
        let path = "/v2/apps" + id
        var answer = try await client.http.call(.DELETE, path)
        if answer.status == 409, MarathonPlan.isLocked(answer.body) {
            logger.warning("app locked by a Marathon deployment: deleting it with force=true", metadata: ["vamp.service": "\(service)", "vamp.marathon.app": "\(id)"])
            answer = try await client.http.call(.DELETE, path, query: [("force", "true")])
        }
        guard (200..<300).contains(answer.status) || answer.status == 404 else { throw client.failure(answer, .DELETE, path) }
        if answer.status != 404 { logger.info("app deleted", metadata: ["vamp.service": "\(service)", "vamp.marathon.app": "\(id)"]) }
        notices.signal()
    }

    // MARK: - Marathon calls

    /// The namespace's apps with Vamp's labels (the raw objects of the list).
    private func ownApps() async throws(ContainerDriverError) -> [JSONValue] {
        try await Self.ownApps(client, namespace: configuration.namespace)
    }

    private static func ownApps(_ client: MarathonClient, namespace: String) async throws(ContainerDriverError) -> [JSONValue] {
        let answer = try await client.http.expect(.GET, "/v2/apps", query: listQuery)
        let prefix = MarathonPlan.prefix(namespace: namespace)
        return MarathonPlan.apps(try client.json(answer, .GET, "/v2/apps")).filter { ($0.value(atPath: "id")?.stringValue ?? "").hasPrefix(prefix) }
    }

    /// `POST /v2/apps`: true when created, false when an app of that id exists (to be updated instead).
    private func create(_ app: JSONValue, service: ServiceSpecification, id: String) async throws(ContainerDriverError) -> Bool {
        let answer = try await client.http.call(.POST, "/v2/apps", json: app)
        if (200..<300).contains(answer.status) {
            logger.info("app created", metadata: metadata(service, id))
            return true
        }
        if answer.status == 409, !MarathonPlan.isLocked(answer.body) { return false }
        throw client.failure(answer, .POST, "/v2/apps")
    }

    /// The fields of `app` that the app on Marathon does not have, sent with `PUT /v2/apps/{id}` (forced when a
    /// deployment locks the app); the app is created when it does not exist.
    private func change(_ app: JSONValue, service: ServiceSpecification, id: String) async throws(ContainerDriverError) {
        let path = "/v2/apps" + id
        let current = try await client.http.call(.GET, path)
        if current.status == 404 {
            if try await create(app, service: service, id: id) { return }
            throw ContainerDriverError("Marathon at \(client.baseURL): app \(id) of \(service.id) neither exists nor can be created (409)")
        }
        guard current.status == 200 else { throw client.failure(current, .GET, path) }
        let existing = try client.json(current, .GET, path).value(atPath: "app") ?? .null
        let labels = MarathonPlan.stringMap(existing.value(atPath: "labels")) ?? [:]
        guard OwnershipLabel.identity(labels) == service.id else {
            throw ContainerDriverError(
                "Marathon at \(client.baseURL) has an app \(id) that is not the app of \(service.id) (its labels: "
                    + "\(labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ", "))); remove or rename it",
                permanent: true)
        }
        let changes = MarathonPlan.changedFields(current: existing, desired: app)
        if changes.isEmpty {
            logger.debug("app unchanged", metadata: metadata(service, id))
            return
        }
        let body = JSONValue.object(changes)
        var answer = try await client.http.call(.PUT, path, json: body)
        if answer.status == 409, MarathonPlan.isLocked(answer.body) {
            logger.warning(
                "app locked by a Marathon deployment: sending the change again with force=true",
                metadata: metadata(service, id).merging(["vamp.marathon.fields": "\(changes.keys.sorted().joined(separator: ","))"]) { $1 })
            answer = try await client.http.call(.PUT, path, query: [("force", "true")], json: body)
        }
        guard (200..<300).contains(answer.status) else { throw client.failure(answer, .PUT, path) }
        logger.info("app updated", metadata: metadata(service, id).merging(["vamp.marathon.fields": "\(changes.keys.sorted().joined(separator: ","))"]) { $1 })
    }

    private func metadata(_ service: ServiceSpecification, _ id: String) -> Logger.Metadata {
        ["vamp.service": "\(service.id)", "vamp.marathon.app": "\(id)"]
    }

    /// Every app of the namespace with its version and each task's id and readiness: it changes when anything the
    /// reconciler cares about does.
    private static func fingerprint(_ client: MarathonClient, namespace: String) async throws(ContainerDriverError) -> [String] {
        var seen: [String] = []
        for app in try await ownApps(client, namespace: namespace) {
            let id = app.value(atPath: "id")?.stringValue ?? ""
            seen.append("\(id) \(app.value(atPath: "version")?.stringValue ?? "")")
            if let service = MarathonPlan.runtimeService(app, namespace: namespace) {
                for instance in service.instances { seen.append("\(id) \(instance.name) \(instance.deployed) \(instance.ports.values.sorted())") }
            }
        }
        return seen.sorted()
    }
}
