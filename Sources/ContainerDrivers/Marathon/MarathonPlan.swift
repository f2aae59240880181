package import Foundation
package import VampModel

/// The pure decisions of ``MarathonDriver``: app ids, the app definition of a specification, the fields an update
/// changes, and the reading of Marathon's app list and error bodies. No I/O, so they are tested with plain values.
package enum MarathonPlan {
    /// The settings of the app definitions: the Vamp namespace (the first segment of every app id) and the
    /// constraints every app gets.
    package struct Options: Sendable, Hashable {
        /// The Vamp namespace.
        package var namespace: String
        /// Marathon constraints (`["hostname", "UNIQUE"]`, `["rack", "LIKE", "rack-[12]"]`).
        package var constraints: [[String]]

        /// Creates options.
        package init(namespace: String = "default", constraints: [[String]] = []) {
            self.namespace = namespace
            self.constraints = constraints
        }
    }

    // MARK: - Ids

    /// True when `name` is a legal segment of a Marathon app id: lowercase letters, digits, hyphens and dots, made of
    /// dot-separated parts that neither start nor end with a hyphen (Marathon's
    /// `^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$`).
    package static func isLegalSegment(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { part in
            guard let first = part.first, let last = part.last, first != "-", last != "-" else { return false }
            return part.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
        }
    }

    /// `name` when it is a legal segment of at most 63 characters, else the first 20 hex digits of its SHA-1 (the
    /// original replaced such names by a lookup hash): `sava:1.0` becomes `4d2c...`.
    package static func segment(_ name: String) -> String {
        isLegalSegment(name) && name.count <= 63 ? name : String(SHA1.hex(name).prefix(20))
    }

    /// The app id (§1.3): `/<namespace>/deployment-<deployment>-service-<breed>` for a service,
    /// `/<namespace>/workflow-<workflow>` for a workflow's daemon; each name through ``segment(_:)``.
    package static func appID(_ id: ServiceIdentity, namespace: String) -> String {
        switch id.kind {
        case .service: "/\(segment(namespace))/deployment-\(segment(id.deployment))-service-\(segment(id.service))"
        case .workflow: "/\(segment(namespace))/workflow-\(segment(id.deployment))"
        }
    }

    /// The prefix of every app id of `namespace`: `/<namespace>/`.
    package static func prefix(namespace: String) -> String { "/\(segment(namespace))/" }

    // MARK: - The app definition

    /// True for a `command` (alias `cmd`) deployable: it runs as `cmd`; anything else the driver runs is a Docker image.
    package static func isCommand(_ specification: ServiceSpecification) -> Bool {
        ["command", "cmd"].contains(specification.breed.deployable?.type.lowercased() ?? "")
    }

    /// The breed's port names in the order of the app's ports: every port for a command (Marathon assigns them all),
    /// the ports with a number for an image (the number is the container port).
    package static func portNames(_ specification: ServiceSpecification) -> [String] {
        if isCommand(specification) { return specification.breed.ports.map(\.name) }
        return specification.breed.ports.filter { $0.number != nil }.map(\.name)
    }

    /// The labels of the app: the owner marker, the names of the service (or workflow), the digest and the port names.
    package static func labels(_ specification: ServiceSpecification) -> [String: String] {
        OwnershipLabel.identityLabels(specification.id).merging([
            OwnershipLabel.digest: specification.digest, OwnershipLabel.ports: portNames(specification).joined(separator: ","),
        ]) { $1 }
    }

    /// A port name Marathon accepts in `portDefinitions` and `portMappings` (`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`); other
    /// names are left out of the definition (the port is still there, by index).
    static func isLegalPortName(_ name: String) -> Bool {
        guard let first = name.first, let last = name.last, first != "-", last != "-" else { return false }
        return name.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
    }

    /// The Marathon health check of a Vamp one (§1.3): `path`, `portIndex` (the index of the named port among
    /// ``portNames(_:)``), `protocol` `HTTP` or `HTTPS` (checks made by Marathon), `gracePeriodSeconds` (the initial
    /// delay), `intervalSeconds`, `timeoutSeconds`, `maxConsecutiveFailures`.
    /// - Throws: A permanent error when the check names a port the app does not have.
    package static func healthCheck(_ check: HealthCheck, portNames: [String], service: ServiceIdentity) throws(ContainerDriverError) -> JSONValue {
        guard let index = portNames.firstIndex(of: check.port) else {
            throw ContainerDriverError(
                "the health check of \(service) names port '\(check.port)', which is not one of its ports (\(portNames.joined(separator: ", ")))",
                permanent: true)
        }
        return .object([
            "protocol": .string(check.protocol == .https ? "HTTPS" : "HTTP"),
            "path": .string(check.path.hasPrefix("/") ? check.path : "/" + check.path),
            "portIndex": .number(Double(index)),
            "gracePeriodSeconds": .number(Double(check.initialDelay.seconds)),
            "intervalSeconds": .number(Double(check.interval.seconds)),
            "timeoutSeconds": .number(Double(check.timeout.seconds)),
            "maxConsecutiveFailures": .number(Double(check.failures)),
        ])
    }

    /// The `POST /v2/apps` body of a specification: `id`, `instances`, `cpus`, `mem` (MB), `env`, ``labels(_:)``,
    /// `constraints`, `healthChecks`; a command as `cmd` with one `portDefinitions` entry (port 0: Marathon assigns it,
    /// and gives the process `$PORT`, `$PORT0`, ... and `$PORT_<NAME>`) per breed port; an image as `container.docker`
    /// (`image`, network `BRIDGE`, `portMappings` from each numbered breed port to host port 0, `privileged` from the
    /// run argument, every other run argument as a Docker parameter). Then the `marathon` dialect merged on top
    /// (objects key by key, recursively; anything else replaced).
    /// - Throws: A permanent error for a health check on an unknown port or a `marathon` dialect that is not an object.
    package static func app(_ specification: ServiceSpecification, options: Options) throws(ContainerDriverError) -> JSONValue {
        let names = portNames(specification)
        var app: [String: JSONValue] = [
            "id": .string(appID(specification.id, namespace: options.namespace)),
            "instances": .number(Double(max(0, specification.scale.instances))),
            "cpus": .number(specification.scale.cpu.cores),
            "mem": .number(specification.scale.memory.megabytes),
            "env": .object(specification.environment.mapValues { .string($0) }),
            "labels": .object(labels(specification).mapValues { .string($0) }),
            "constraints": .array(options.constraints.map { .array($0.map { .string($0) }) }),
        ]
        var checks: [JSONValue] = []
        for check in specification.healthChecks {
            checks.append(try healthCheck(check, portNames: names, service: specification.id))
        }
        app["healthChecks"] = .array(checks)
        let definition = specification.breed.deployable?.definition ?? ""
        if isCommand(specification) {
            app["cmd"] = .string(definition)
            app["portDefinitions"] = .array(names.map { name in
                var port: [String: JSONValue] = ["port": .number(0), "protocol": .string("tcp")]
                if isLegalPortName(name) { port["name"] = .string(name) }
                return .object(port)
            })
        } else {
            let mappings: [JSONValue] = specification.breed.ports.compactMap { port in
                guard let number = port.number else { return nil }
                var mapping: [String: JSONValue] = [
                    "containerPort": .number(Double(number)), "hostPort": .number(0), "protocol": .string("tcp"),
                ]
                if isLegalPortName(port.name) { mapping["name"] = .string(port.name) }
                return .object(mapping)
            }
            let privileged = specification.arguments.contains { $0.key == "privileged" && $0.value.lowercased() == "true" }
            let parameters: [JSONValue] = specification.arguments.filter { $0.key != "privileged" }.map {
                .object(["key": .string($0.key), "value": .string($0.value)])
            }
            app["container"] = .object([
                "type": .string("DOCKER"),
                "docker": .object([
                    "image": .string(definition),
                    "network": .string("BRIDGE"),
                    "portMappings": .array(mappings),
                    "privileged": .bool(privileged),
                    "parameters": .array(parameters),
                ]),
            ])
        }
        switch specification.dialects["marathon"] {
        case nil, .null?: return .object(app)
        case .object(let dialect)?: return merged(.object(app), .object(dialect))
        case let other?:
            throw ContainerDriverError(
                "the marathon dialect of \(specification.id) must be an object of app definition fields, not \(other)", permanent: true)
        }
    }

    /// `overlay` merged into `base`: objects key by key (recursively), any other value of `overlay` wins.
    package static func merged(_ base: JSONValue, _ overlay: JSONValue) -> JSONValue {
        guard case .object(var result) = base, case .object(let extra) = overlay else { return overlay }
        for (key, value) in extra { result[key] = result[key].map { merged($0, value) } ?? value }
        return .object(result)
    }

    // MARK: - Updates

    /// The top-level fields of `desired` that `current` (the app as Marathon reports it, with its defaults filled in)
    /// does not already have, each with its whole desired value: the body of a partial `PUT /v2/apps/{id}` (Marathon
    /// replaces each field it is given and keeps the others). Empty when nothing changed. `env` and `labels` must be
    /// equal (a variable or label that is gone is a change); other objects need only hold the desired keys with equal
    /// values (Marathon adds defaults such as `servicePort` or `forcePullImage`); numbers compare as numbers; a port
    /// asked as 0 is covered by the one Marathon assigned.
    package static func changedFields(current: JSONValue, desired: JSONValue) -> [String: JSONValue] {
        guard case .object(let wanted) = desired else { return [:] }
        let have: [String: JSONValue]
        if case .object(let object) = current { have = object } else { have = [:] }
        var changes: [String: JSONValue] = [:]
        for (key, value) in wanted where key != "id" {
            let exact = key == "env" || key == "labels"
            if !covers(have[key], value, exact: exact) { changes[key] = value }
        }
        return changes
    }

    /// True when `current` already says what `desired` says (see ``changedFields(current:desired:)``).
    static func covers(_ current: JSONValue?, _ desired: JSONValue, exact: Bool) -> Bool {
        switch (current, desired) {
        case (nil, let value), (.null?, let value): return isEmpty(value)
        case (.number(let a)?, .number(let b)): return Double(a) == Double(b)
        case (.object(let have)?, .object(let want)):
            if exact, Set(have.keys) != Set(want.keys) { return false }
            return want.allSatisfy { key, value in
                // Port 0 asks Marathon to assign one: whatever it assigned (service ports from 10000) is what was asked.
                if assignedPorts.contains(key), value.doubleValue == 0, have[key]?.doubleValue != nil { return true }
                return covers(have[key], value, exact: exact)
            }
        case (.array(let have)?, .array(let want)):
            return have.count == want.count && zip(have, want).allSatisfy { covers($0, $1, exact: exact) }
        case (let have?, let want): return have == want
        }
    }

    /// The port fields where 0 means "Marathon picks": `portDefinitions[].port`, `portMappings[].hostPort` and
    /// `servicePort`.
    static let assignedPorts: Set<String> = ["port", "hostPort", "servicePort"]

    /// Null, false, an empty string, array or object: what Marathon may leave out of an app.
    static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null, .bool(false): true
        case .string(let text): text.isEmpty
        case .array(let array): array.isEmpty
        case .object(let object): object.isEmpty
        default: false
        }
    }

    // MARK: - Reading Marathon

    /// One task of an app, as the driver reads it from `apps.tasks`.
    package struct AppTask: Sendable, Hashable {
        /// The task id: the instance's name.
        package var id: String
        /// The agent's host.
        package var host: String
        /// The host ports, in the order of the app's ports.
        package var ports: [Int]
        /// `TASK_STAGING`, `TASK_RUNNING`, `TASK_KILLING`, ...
        package var state: String?
        /// True when the task has a `startedAt`.
        package var started: Bool
        /// `alive` of each of its `healthCheckResults`.
        package var health: [Bool]

        /// Creates a task.
        package init(id: String, host: String, ports: [Int], state: String? = "TASK_RUNNING", started: Bool, health: [Bool] = []) {
            self.id = id
            self.host = host
            self.ports = ports
            self.state = state
            self.started = started
            self.health = health
        }

        /// Reads a task object of Marathon's JSON; nil without an `id`.
        package init?(_ value: JSONValue) {
            guard case .object(let task) = value, let id = task["id"]?.stringValue else { return nil }
            self.id = id
            host = task["host"]?.stringValue ?? ""
            if case .array(let ports)? = task["ports"] { self.ports = ports.compactMap { $0.doubleValue.map { Int($0) } } } else { ports = [] }
            state = task["state"]?.stringValue
            started = (task["startedAt"]?.stringValue).map { !$0.isEmpty } ?? false
            if case .array(let results)? = task["healthCheckResults"] {
                health = results.map { result in
                    if case .object(let object) = result, case .bool(let alive)? = object["alive"] { return alive }
                    return false
                }
            } else {
                health = []
            }
        }

        /// Deployed (gets traffic): started, running (not staging or being killed), and when the app has
        /// `healthChecks` checks, a result for each that is alive.
        package func deployed(healthChecks: Int) -> Bool {
            guard started, state == nil || state == "TASK_RUNNING" else { return false }
            return healthChecks == 0 || (health.count >= healthChecks && health.allSatisfy { $0 })
        }

        /// The instance: name = task id, host = task host, each task port under the breed port name at its index.
        package func instance(portNames: [String], healthChecks: Int) -> Instance {
            var named: [String: Int] = [:]
            for (name, port) in zip(portNames, ports) { named[name] = port }
            return Instance(name: id, host: host, ports: named, deployed: deployed(healthChecks: healthChecks))
        }
    }

    /// The service an app of `GET /v2/apps?embed=apps.tasks` describes, or nil when it is not one of Vamp's apps of
    /// `namespace` (another id prefix, or not Vamp's full set of labels).
    package static func runtimeService(_ app: JSONValue, namespace: String) -> RuntimeService? {
        guard case .object(let object) = app, let id = object["id"]?.stringValue, id.hasPrefix(prefix(namespace: namespace)),
            let labels = stringMap(object["labels"]), let identity = OwnershipLabel.identity(labels)
        else { return nil }
        let names = (labels[OwnershipLabel.ports] ?? "").split(separator: ",").map(String.init)
        var checks = 0
        if case .array(let array)? = object["healthChecks"] { checks = array.count }
        var instances: [Instance] = []
        if case .array(let tasks)? = object["tasks"] {
            instances = tasks.compactMap(AppTask.init).map { $0.instance(portNames: names, healthChecks: checks) }
        }
        return RuntimeService(
            id: identity, digest: labels[OwnershipLabel.digest] ?? "", desiredInstances: Int(object["instances"]?.doubleValue ?? 0),
            instances: instances)
    }

    /// The apps of a `GET /v2/apps` answer (`{"apps": [...]}`).
    package static func apps(_ answer: JSONValue) -> [JSONValue] {
        guard case .object(let object) = answer, case .array(let apps)? = object["apps"] else { return [] }
        return apps
    }

    /// An object of strings (labels, env) as a dictionary; values that are not strings are left out.
    package static func stringMap(_ value: JSONValue?) -> [String: String]? {
        guard case .object(let object)? = value else { return nil }
        return object.compactMapValues(\.stringValue)
    }

    /// Task counts of an app's `taskStats.totalSummary.stats.counts` (staged, running, healthy, unhealthy); zeros when
    /// the app has no such statistics.
    package static func taskCounts(_ app: JSONValue) -> ServiceHealth {
        let counts = app.value(atPath: "taskStats.totalSummary.stats.counts")
        func count(_ key: String) -> Int { Int(counts?.value(atPath: key)?.doubleValue ?? 0) }
        return ServiceHealth(staged: count("staged"), running: count("running"), healthy: count("healthy"), unhealthy: count("unhealthy"))
    }

    /// Marathon's error body, `{"message": ..., "details": [{"path": ..., "errors": [...]}]}`, as one line:
    /// `Object is not valid (/id: must match ...)`; the body as it is (trimmed, at most 300 characters) when it is
    /// not such an object.
    package static func errorMessage(_ body: Data) -> String {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: body), case .object(let object) = value,
            let message = object["message"]?.stringValue
        else {
            let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? "(no body)" : String(text.prefix(300))
        }
        guard case .array(let details)? = object["details"], !details.isEmpty else { return message }
        let parts: [String] = details.compactMap { detail in
            guard case .object(let entry) = detail else { return nil }
            var errors: [String] = []
            if case .array(let list)? = entry["errors"] { errors = list.compactMap(\.stringValue) }
            if let text = entry["message"]?.stringValue { errors.append(text) }
            let path = entry["path"]?.stringValue
            return [path, errors.joined(separator: ", ")].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        }
        return parts.isEmpty ? message : "\(message) (\(parts.joined(separator: "; ")))"
    }

    /// True for the 409 of a change to an app that a running deployment holds ("App is locked by one or more
    /// deployments"); false for the 409 of an id that already exists.
    package static func isLocked(_ body: Data) -> Bool {
        errorMessage(body).contains("locked by one or more deployments")
    }
}
