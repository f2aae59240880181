public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A FAKE Marathon (no Marathon can be installed here): a real HTTP/1.1 server on 127.0.0.1 that answers the calls of
/// Vamp's Marathon driver with the shapes of Marathon's REST API v2 documentation (`docs/rest-api/public/api/v2`,
/// Marathon 1.x), its error bodies included. It keeps apps and their tasks in memory; nothing is scheduled on a
/// Mesos cluster, and unless ``runsCommands`` is set, no task runs anything.
///
/// What it answers:
/// - `GET /v2/info`; `GET /v2/apps` with `embed=apps.tasks`, `embed=apps.taskStats` and a `label` selector
///   (existence `key`, `key==value`, `key!=value`, comma-separated: all must hold); `GET /v2/apps/{id}` (`{"app": ...}`,
///   tasks embedded), 404 `{"message": "App '/x' does not exist"}`.
/// - `POST /v2/apps`: 201 with the app; 409 `{"message": "An app with id [/x] already exists."}`; 422
///   `{"message": "Object is not valid", "details": [{"path": "/id", "errors": [...]}]}` for an id that is not a legal
///   absolute path, or an app with neither `cmd` nor `container`.
/// - `PUT /v2/apps/{id}`: the given fields replace the app's (others are kept); a change of `instances` alone scales
///   (tasks added or removed), any other change replaces every task. Each create or change starts a "deployment" that
///   locks the app for ``lockDuration``: a `PUT` or `DELETE` in that window answers 409 with Marathon's "App is locked
///   by one or more deployments" message and the `deployments` list, unless `?force=true`.
/// - `DELETE /v2/apps/{id}`: the app and its tasks are gone at once; 404 when there is no such app.
/// - With credentials set, a request without the right `Authorization` header (`Basic ...`, or DC/OS's
///   `token=<token>`) answers 401 `{"message": "Invalid username or password."}`.
///
/// Tasks: one per instance, id `<app id with / as _>.<uuid>`, host ``taskHost``, one port per port definition or port
/// mapping (free ports of 127.0.0.1, as an agent's offered range would give), `stagedAt` at once and `startedAt` after
/// ``startDelay``; apps with health checks get `healthCheckResults` (alive as ``healthy`` says) once started.
/// ``killTask(_:)`` kills one; Marathon's replacement comes with a new id. Every request is recorded
/// (``requests``) so tests can assert what the driver sent.
public final class FakeMarathonServer: @unchecked Sendable {
    /// The credentials the fake demands.
    public enum Credentials: Sendable, Hashable {
        /// Anyone may call.
        case none
        /// HTTP basic authentication.
        case basic(user: String, password: String)
        /// A DC/OS token, expected as `Authorization: token=<token>`.
        case token(String)
    }

    /// One request the fake received.
    public struct Request: Sendable {
        /// `GET`, `POST`, `PUT`, `DELETE`.
        public var method: String
        /// The path, without the query.
        public var path: String
        /// The query's name-value pairs, decoded, in order.
        public var query: [(name: String, value: String)]
        /// The body as sent.
        public var body: Data
        /// The status the fake answered.
        public var status: Int

        /// The body as a JSON object, when it is one.
        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    }

    /// What a test sees of a task.
    public struct TaskInfo: Sendable, Hashable {
        /// The task id.
        public var id: String
        /// The app's id.
        public var appID: String
        /// The host.
        public var host: String
        /// Its ports.
        public var ports: [Int]
        /// True once `startedAt` is set.
        public var started: Bool
    }

    /// The port it listens on.
    public let port: Int
    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }

    private let channel: any Channel
    private let lock = NSLock()
    private let credentials: Credentials
    private var apps: [String: FakeApp] = [:]
    private var _requests: [Request] = []
    private var _taskHost = "127.0.0.1"
    private var _startDelay: TimeInterval = 0.2
    private var _lockDuration: TimeInterval = 0
    private var _healthy = true
    private var _runsCommands = false
    private var _commandEnvironment: [String: String] = [:]
    private var stopped = false
    /// Killed tasks' processes, reaped when next looked at.
    private var graveyard: [TaskProcess] = []
    private let folder: TemporaryDirectory

    /// Starts the fake on a free port of 127.0.0.1.
    public static func start(credentials: Credentials = .none) async throws -> FakeMarathonServer {
        let box = ServerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(FakeMarathonHandler(box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw FixtureError("the fake Marathon could not read its own port")
        }
        let server = try FakeMarathonServer(channel: channel, port: port, credentials: credentials)
        box.set(server)
        return server
    }

    private init(channel: any Channel, port: Int, credentials: Credentials) throws {
        self.channel = channel
        self.port = port
        self.credentials = credentials
        self.folder = try TemporaryDirectory(prefix: "fake-marathon")
    }

    /// Stops listening and kills every task's process (with ``runsCommands``), waiting (at most 5 s) until they are gone.
    public func stop() async {
        let processes: [TaskProcess] = lock.withLock {
            stopped = true
            let all = apps.values.flatMap { $0.tasks.compactMap(\.process) } + graveyard
            apps = [:]
            graveyard = []
            return all
        }
        for process in processes { process.kill() }
        let deadline = ContinuousClock.now + .seconds(5)
        while processes.contains(where: { !$0.reaped() }), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        try? await channel.close()
        folder.remove()
    }

    deinit {
        for process in apps.values.flatMap({ $0.tasks.compactMap(\.process) }) + graveyard { process.kill() }
    }

    // MARK: - What tests set and see

    /// Every request received so far.
    public var requests: [Request] { lock.withLock { _requests } }

    /// Forgets the requests received so far.
    public func clearRequests() { lock.withLock { _requests = [] } }

    /// The requests with this method whose path starts with `pathPrefix`.
    public func requests(_ method: String, _ pathPrefix: String = "/v2/apps") -> [Request] {
        requests.filter { $0.method == method && $0.path.hasPrefix(pathPrefix) }
    }

    /// The host of new tasks (127.0.0.1).
    public var taskHost: String {
        get { lock.withLock { _taskHost } }
        set { lock.withLock { _taskHost = newValue } }
    }

    /// How long after it is staged a new task gets `startedAt` (0.2 s).
    public var startDelay: TimeInterval {
        get { lock.withLock { _startDelay } }
        set { lock.withLock { _startDelay = newValue } }
    }

    /// How long a create or change keeps the app locked by its deployment (0: never locked).
    public var lockDuration: TimeInterval {
        get { lock.withLock { _lockDuration } }
        set { lock.withLock { _lockDuration = newValue } }
    }

    /// Whether the health check results of started tasks are alive (true).
    public var healthy: Bool {
        get { lock.withLock { _healthy } }
        set { lock.withLock { _healthy = newValue } }
    }

    /// When true, each task of an app with a `cmd` runs it as `/bin/sh -c <cmd>` on this machine (in its own process group,
    /// killed with the task), with the app's `env`, `PORT`, `PORT0`, `PORT1`, ..., `PORT_<NAME>` and `HOST` as
    /// Marathon would set them, plus ``commandEnvironment``; a task counts as started once its process accepts
    /// connections on its first port, and one whose process exited is replaced (with a new id) when next looked at.
    public var runsCommands: Bool {
        get { lock.withLock { _runsCommands } }
        set { lock.withLock { _runsCommands = newValue } }
    }

    /// Extra environment of the processes of ``runsCommands`` (`PATH`, so that they find their programs).
    public var commandEnvironment: [String: String] {
        get { lock.withLock { _commandEnvironment } }
        set { lock.withLock { _commandEnvironment = newValue } }
    }

    /// The ids of the apps it has.
    public var appIDs: [String] { lock.withLock { apps.keys.sorted() } }

    /// The app as `GET /v2/apps/{id}` shows it, or nil.
    public func app(_ id: String) -> [String: Any]? {
        lock.withLock {
            refreshLocked()
            return apps[id].map { render($0, tasks: true, stats: true) }
        }
    }

    /// The tasks of an app (empty for an unknown app).
    public func tasks(of appID: String) -> [TaskInfo] {
        lock.withLock {
            refreshLocked()
            let now = Date()
            return apps[appID]?.tasks.map {
                TaskInfo(id: $0.id, appID: appID, host: $0.host, ports: $0.ports, started: $0.isStarted(now: now))
            } ?? []
        }
    }

    /// Kills the task with this id, as a failed or lost task would be: Marathon launches a replacement with a new id.
    /// False when no app has such a task.
    @discardableResult
    public func killTask(_ id: String) -> Bool {
        lock.withLock {
            for (appID, var app) in apps {
                guard let index = app.tasks.firstIndex(where: { $0.id == id }) else { continue }
                stopLocked(app.tasks.remove(at: index))
                app.tasks.append(launchLocked(app))
                apps[appID] = app
                return true
            }
            return false
        }
    }

    // MARK: - The API

    fileprivate struct Response {
        var status: HTTPResponseStatus
        var body: Any
        var headers: [(String, String)] = []
    }

    fileprivate func respond(_ head: HTTPRequestHead, _ body: Data) -> Response {
        let (path, query) = Self.split(head.uri)
        // Recorded in the same critical section as its effect, so a test that sees the effect sees the request.
        return lock.withLock { () -> Response in
            let response: Response
            if stopped {
                response = Response(status: .serviceUnavailable, body: ["message": "the fake Marathon is stopping"])
            } else if !authorized(head.headers["Authorization"].first) {
                response = Response(status: .unauthorized, body: ["message": "Invalid username or password."])
            } else {
                refreshLocked()
                response = route(head.method, path, query, body)
            }
            _requests.append(Request(method: head.method.rawValue, path: path, query: query, body: body, status: Int(response.status.code)))
            return response
        }
    }

    private func authorized(_ header: String?) -> Bool {
        switch credentials {
        case .none: return true
        case .basic(let user, let password): return header == "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .token(let token): return header == "token=\(token)"
        }
    }

    private func route(_ method: HTTPMethod, _ path: String, _ query: [(name: String, value: String)], _ body: Data) -> Response {
        let force = query.contains { $0.name == "force" && $0.value == "true" }
        switch (method, path) {
        case (.GET, "/v2/info"):
            return Response(status: .ok, body: [
                "name": "marathon", "version": "1.10.17-fake", "elected": true, "leader": "127.0.0.1:\(port)",
                "frameworkId": "fake-marathon-framework-0000",
                "marathon_config": ["master": "fake", "local_port_min": 10000, "local_port_max": 20000],
                "http_config": ["http_port": port],
            ])
        case (.GET, "/v2/apps"):
            let embeds = Set(query.filter { $0.name == "embed" }.map(\.value))
            let selector = query.first { $0.name == "label" }?.value
            let listed = apps.keys.sorted().compactMap { apps[$0] }.filter { Self.matches(selector, $0.definition["labels"] as? [String: Any] ?? [:]) }
            return Response(status: .ok, body: [
                "apps": listed.map { render($0, tasks: embeds.contains("apps.tasks"), stats: embeds.contains("apps.taskStats")) },
            ])
        case (.POST, "/v2/apps"):
            guard let definition = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return Response(status: .badRequest, body: ["message": "Invalid JSON", "details": [["path": "/", "errors": ["error.expected.jsobject"]]]])
            }
            if let invalid = Self.validate(definition) { return invalid }
            let id = definition["id"] as! String
            if apps[id] != nil { return Response(status: .conflict, body: ["message": "An app with id [\(id)] already exists."]) }
            let app = createLocked(id, definition)
            return Response(status: .created, body: render(app, tasks: false, stats: false), headers: [("Marathon-Deployment-Id", app.deployment)])
        default:
            break
        }
        guard path.hasPrefix("/v2/apps/") else { return Response(status: .notFound, body: ["message": "Unknown path \(path) (the fake Marathon answers /v2/apps and /v2/info)"]) }
        let id = String(path.dropFirst("/v2/apps".count))
        switch method {
        case .GET:
            guard let app = apps[id] else { return Self.missing(id) }
            return Response(status: .ok, body: ["app": render(app, tasks: true, stats: true)])
        case .PUT:
            guard let update = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return Response(status: .badRequest, body: ["message": "Invalid JSON", "details": [["path": "/", "errors": ["error.expected.jsobject"]]]])
            }
            guard var app = apps[id] else {
                var definition = update
                definition["id"] = id
                if let invalid = Self.validate(definition) { return invalid }
                let created = createLocked(id, definition)
                return Response(status: .created, body: ["deploymentId": created.deployment, "version": created.version], headers: [("Marathon-Deployment-Id", created.deployment)])
            }
            if let locked = lockedResponse(app, force: force) { return locked }
            var definition = app.definition
            for (key, value) in update where key != "id" { definition[key] = value }
            definition["id"] = id
            if let invalid = Self.validate(definition) { return invalid }
            let onlyScale = Set(update.keys.filter { $0 != "id" }) == ["instances"]
            var stopping: [FakeTask] = []
            app.definition = definition
            if onlyScale {
                let wanted = max(0, definition["instances"] as? Int ?? 1)
                while app.tasks.count > wanted { stopping.append(app.tasks.removeLast()) }
                while app.tasks.count < wanted { app.tasks.append(launchLocked(app)) }
            } else {
                stopping = app.tasks
                app.tasks = (0..<max(0, definition["instances"] as? Int ?? 1)).map { _ in launchLocked(app) }
            }
            for task in stopping { stopLocked(task) }
            startDeploymentLocked(&app)
            apps[id] = app
            return Response(status: .ok, body: ["deploymentId": app.deployment, "version": app.version], headers: [("Marathon-Deployment-Id", app.deployment)])
        case .DELETE:
            guard let app = apps[id] else { return Self.missing(id) }
            if let locked = lockedResponse(app, force: force) { return locked }
            apps[id] = nil
            for task in app.tasks { stopLocked(task) }
            let deployment = UUID().uuidString.lowercased()
            return Response(status: .ok, body: ["deploymentId": deployment, "version": Self.timestamp(Date())], headers: [("Marathon-Deployment-Id", deployment)])
        default:
            return Response(status: .methodNotAllowed, body: ["message": "HTTP 405 Method Not Allowed"])
        }
    }

    private static func missing(_ id: String) -> Response {
        Response(status: .notFound, body: ["message": "App '\(id)' does not exist"])
    }

    private func lockedResponse(_ app: FakeApp, force: Bool) -> Response? {
        guard !force, let until = app.lockedUntil, until > Date() else { return nil }
        return Response(status: .conflict, body: [
            "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
            "deployments": [["id": app.deployment]],
        ])
    }

    /// Marathon's validation of what the driver could get wrong: the id and that there is something to run.
    private static func validate(_ definition: [String: Any]) -> Response? {
        var details: [[String: Any]] = []
        let pattern = "^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])$"
        if let id = definition["id"] as? String {
            let segments = id.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            let legal = id.hasPrefix("/") && !segments.isEmpty && segments.allSatisfy { String($0).range(of: pattern, options: .regularExpression) != nil }
            if !legal { details.append(["path": "/id", "errors": ["'\(id)' is not a valid path: each segment must fully match regular expression '\(pattern)'"]]) }
        } else {
            details.append(["path": "/id", "errors": ["error.path.missing"]])
        }
        if definition["cmd"] == nil, definition["args"] == nil, definition["container"] == nil {
            details.append(["path": "/", "errors": ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]])
        }
        if let instances = definition["instances"], (instances as? Int).map({ $0 < 0 }) ?? true {
            details.append(["path": "/instances", "errors": ["error.min.0"]])
        }
        return details.isEmpty ? nil : Response(status: .unprocessableEntity, body: ["message": "Object is not valid", "details": details])
    }

    /// True when the labels satisfy every selector of `selector` (Marathon's label selector query; nil: all).
    static func matches(_ selector: String?, _ labels: [String: Any]) -> Bool {
        guard let selector, !selector.isEmpty else { return true }
        for part in selector.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let range = part.range(of: "!=") {
                let key = String(part[..<range.lowerBound]).trimmingCharacters(in: .whitespaces)
                let value = String(part[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                guard labels[key] != nil, (labels[key] as? String) != value else { return false }
            } else if let range = part.range(of: "==") {
                let key = String(part[..<range.lowerBound]).trimmingCharacters(in: .whitespaces)
                let value = String(part[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                guard (labels[key] as? String) == value else { return false }
            } else if labels[part] == nil {
                return false
            }
        }
        return true
    }

    // MARK: - Apps and tasks

    private func createLocked(_ id: String, _ definition: [String: Any]) -> FakeApp {
        var app = FakeApp(id: id, definition: definition)
        app.tasks = (0..<max(0, definition["instances"] as? Int ?? 1)).map { _ in launchLocked(app) }
        startDeploymentLocked(&app)
        apps[id] = app
        return app
    }

    private func startDeploymentLocked(_ app: inout FakeApp) {
        app.version = Self.timestamp(Date())
        app.deployment = UUID().uuidString.lowercased()
        app.lockedUntil = _lockDuration > 0 ? Date().addingTimeInterval(_lockDuration) : nil
    }

    /// A new task of `app`: its ports, and with ``runsCommands`` its process.
    private func launchLocked(_ app: FakeApp) -> FakeTask {
        let names = app.portNames
        let ports = names.map { _ in (try? FreePort.next()) ?? 0 }
        let now = Date()
        let id = String(app.id.dropFirst()).replacingOccurrences(of: "/", with: "_") + "." + UUID().uuidString.lowercased()
        var task = FakeTask(id: id, host: _taskHost, ports: ports, stagedAt: now, startAt: now.addingTimeInterval(_startDelay))
        if _runsCommands, let command = app.definition["cmd"] as? String {
            var environment = _commandEnvironment
            for (key, value) in app.definition["env"] as? [String: Any] ?? [:] { if let text = value as? String { environment[key] = text } }
            for (index, port) in ports.enumerated() { environment["PORT\(index)"] = String(port) }
            if let first = ports.first { environment["PORT"] = String(first) }
            for (name, port) in zip(names, ports) where !name.isEmpty {
                environment["PORT_" + name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()] = String(port)
            }
            environment["HOST"] = _taskHost
            environment["MARATHON_APP_ID"] = app.id
            environment["MESOS_TASK_ID"] = id
            task.process = TaskProcess(command: command, environment: environment, log: folder.url.appendingPathComponent("\(id).log").path)
        }
        return task
    }

    /// Kills a task's process (if it has one), to be reaped later.
    private func stopLocked(_ task: FakeTask) {
        guard let process = task.process else { return }
        process.kill()
        graveyard.append(process)
    }

    /// Replaces the tasks whose process exited, as Marathon does with failed tasks; reaps killed ones.
    private func refreshLocked() {
        graveyard.removeAll { $0.reaped() }
        for (id, var app) in apps {
            var changed = false
            for index in app.tasks.indices where app.tasks[index].process.map({ $0.reaped() }) ?? false {
                app.tasks[index] = launchLocked(app)
                changed = true
            }
            if changed { apps[id] = app }
        }
    }

    /// The app as Marathon shows it: its definition with Marathon's defaults filled in, version, task counts,
    /// deployments, and on request its tasks and task statistics.
    private func render(_ app: FakeApp, tasks: Bool, stats: Bool) -> [String: Any] {
        let now = Date()
        var out = app.definition
        let defaults: [String: Any] = [
            "env": [String: Any](), "labels": [String: Any](), "constraints": [Any](), "healthChecks": [Any](), "instances": 1,
            "cpus": 1, "mem": 128, "disk": 0, "gpus": 0, "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
            "upgradeStrategy": ["minimumHealthCapacity": 1, "maximumOverCapacity": 1], "requirePorts": false,
            "killSelection": "YOUNGEST_FIRST", "unreachableStrategy": ["inactiveAfterSeconds": 0, "expungeAfterSeconds": 0],
        ]
        for (key, value) in defaults where out[key] == nil { out[key] = value }
        if var container = out["container"] as? [String: Any], var docker = container["docker"] as? [String: Any] {
            if docker["forcePullImage"] == nil { docker["forcePullImage"] = false }
            if var mappings = docker["portMappings"] as? [[String: Any]] {
                for index in mappings.indices where mappings[index]["servicePort"] == nil { mappings[index]["servicePort"] = 10000 + index }
                docker["portMappings"] = mappings
            }
            container["docker"] = docker
            container["volumes"] = container["volumes"] ?? [Any]()
            out["container"] = container
        }
        if var definitions = out["portDefinitions"] as? [[String: Any]] {
            for index in definitions.indices { definitions[index]["port"] = 10000 + index }
            out["portDefinitions"] = definitions
        }
        out["version"] = app.version
        out["versionInfo"] = ["lastScalingAt": app.version, "lastConfigChangeAt": app.version]
        let checks = (out["healthChecks"] as? [Any])?.count ?? 0
        let started = app.tasks.filter { $0.isStarted(now: now) }
        let healthy = checks > 0 && _healthy ? started.count : 0
        let unhealthy = checks > 0 && !_healthy ? started.count : 0
        out["tasksStaged"] = app.tasks.count - started.count
        out["tasksRunning"] = started.count
        out["tasksHealthy"] = healthy
        out["tasksUnhealthy"] = unhealthy
        out["deployments"] = (app.lockedUntil.map { $0 > now } ?? false) ? [["id": app.deployment]] : [[String: Any]]()
        if tasks {
            out["tasks"] = app.tasks.map { task -> [String: Any] in
                var object: [String: Any] = [
                    "id": task.id, "appId": app.id, "host": task.host, "ports": task.ports, "slaveId": "fake-agent-0",
                    "stagedAt": Self.timestamp(task.stagedAt), "version": app.version,
                    "state": task.isStarted(now: now) ? "TASK_RUNNING" : "TASK_STAGING",
                    "ipAddresses": [["ipAddress": task.host, "protocol": "IPv4"]],
                ]
                if task.isStarted(now: now) {
                    object["startedAt"] = Self.timestamp(task.startAt)
                    if checks > 0 {
                        object["healthCheckResults"] = (0..<checks).map { _ -> [String: Any] in
                            ["alive": _healthy, "consecutiveFailures": _healthy ? 0 : 1, "instanceId": task.id,
                             "firstSuccess": Self.timestamp(task.startAt), "lastSuccess": Self.timestamp(now)]
                        }
                    }
                }
                return object
            }
        }
        if stats {
            out["taskStats"] = ["totalSummary": ["stats": [
                "counts": ["staged": app.tasks.count - started.count, "running": started.count, "healthy": healthy, "unhealthy": unhealthy],
                "lifeTime": ["averageSeconds": 1, "medianSeconds": 1],
            ]]]
        }
        return out
    }

    private static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    private static func split(_ uri: String) -> (String, [(name: String, value: String)]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        guard parts.count == 2 else { return (path, []) }
        let query = parts[1].split(separator: "&").map { pair -> (name: String, value: String) in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
        return (path, query)
    }

    fileprivate static func json(_ value: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}

/// An app of the fake: its definition as sent (merged with every change), and its tasks.
private struct FakeApp {
    var id: String
    var definition: [String: Any]
    var tasks: [FakeTask] = []
    var version = ""
    var deployment = ""
    var lockedUntil: Date?

    /// The names of its ports (empty for unnamed ones): `portDefinitions`, else `container.docker.portMappings`.
    var portNames: [String] {
        if let definitions = definition["portDefinitions"] as? [[String: Any]] { return definitions.map { $0["name"] as? String ?? "" } }
        let docker = (definition["container"] as? [String: Any])?["docker"] as? [String: Any]
        return (docker?["portMappings"] as? [[String: Any]] ?? []).map { $0["name"] as? String ?? "" }
    }
}

/// A task of the fake.
private struct FakeTask {
    var id: String
    var host: String
    var ports: [Int]
    var stagedAt: Date
    var startAt: Date
    var process: TaskProcess?

    /// Started: past its start delay, and with a process, while it runs and accepts connections on its first port.
    func isStarted(now: Date) -> Bool {
        guard now >= startAt else { return false }
        guard let process else { return true }
        return !process.reaped() && (ports.first.map { FreePort.isAccepting($0) } ?? true)
    }
}

/// A task's `/bin/sh -c <command>`, spawned (posix_spawn, nothing waits) as the leader of its own process group so
/// that killing the task kills whatever the command started; its output appended to a log file.
final class TaskProcess: @unchecked Sendable {
    /// The shell's pid, which is also its process group's id.
    let pid: pid_t
    private let lock = NSLock()
    private var done = false

    init?(command: String, environment: [String: String], log: String) {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let words: [String] = ["/bin/sh", "-c", command]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { word in strdup(word) } + [nil]
        let variables: [UnsafeMutablePointer<CChar>?] = environment.map { entry in strdup("\(entry.key)=\(entry.value)") } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/sh", &actions, &attributes, arguments, variables) == 0 else { return nil }
        self.pid = pid
    }

    /// True once the shell has exited and was reaped (never blocks).
    func reaped() -> Bool {
        lock.withLock {
            if done { return true }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) { done = true }
            return done
        }
    }

    /// SIGKILL to the whole process group.
    func kill() {
        guard !reaped() else { return }
        _ = Glibc.kill(-pid, SIGKILL)
    }
}

/// Hands the server to the channel handlers, which are made before the server exists.
private final class ServerBox: @unchecked Sendable {
    private let lock = NSLock()
    private weak var server: FakeMarathonServer?
    func set(_ server: FakeMarathonServer) { lock.withLock { self.server = server } }
    func get() -> FakeMarathonServer? { lock.withLock { server } }
}

/// One connection's HTTP/1.1 requests, answered by the server's routes.
private final class FakeMarathonHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let box: ServerBox
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(box: ServerBox) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            self.head = nil
            let response = box.get()?.respond(head, Data(body.readableBytesView))
                ?? FakeMarathonServer.Response(status: .serviceUnavailable, body: ["message": "the fake Marathon is gone"])
            let bytes = FakeMarathonServer.json(response.body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            headers.add(name: "Content-Length", value: String(bytes.count))
            for (name, value) in response.headers { headers.add(name: name, value: value) }
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
