import Foundation
package import VampModel

/// The pure decisions of ``DockerDriver``: the create body of a container from a specification, its labels
/// (``OwnershipLabel``) and their reading, and the convergence plan. No I/O, so they are tested with plain values.
package enum DockerPlan {
    /// One owned container as the planner sees it (from `GET /containers/json`).
    package struct Container: Sendable, Hashable {
        /// The Engine's container id.
        package var id: String
        /// Whose instance it is.
        package var service: ServiceIdentity
        /// The instance number.
        package var index: Int
        /// The digest it runs.
        package var digest: String
        /// The desired scale when it was created.
        package var scale: Int
        /// `State` is `running` (not `exited`, `dead`, `created`, ...).
        package var running: Bool
        /// `Created`, seconds since 1970: the newest container's scale label is the service's.
        package var created: Int
        /// `State` is `created`: created and never started (a server killed between the two calls leaves one).
        package var neverStarted: Bool

        /// Creates a container.
        package init(
            id: String, service: ServiceIdentity, index: Int, digest: String, scale: Int, running: Bool, created: Int = 0,
            neverStarted: Bool = false
        ) {
            self.id = id
            self.service = service
            self.index = index
            self.digest = digest
            self.scale = scale
            self.running = running
            self.created = created
            self.neverStarted = neverStarted
        }
    }

    /// One step towards the specification.
    package enum Action: Sendable, Hashable {
        /// Create and start a container with this instance number.
        case create(index: Int)
        /// Start this container, created and never started, of the wanted digest.
        case start(id: String)
        /// Kill and remove this container.
        case remove(id: String)
    }

    /// The name of instance `index` of `service` in `namespace`: `vamp-<deployment>-<cluster>-<service>` (made
    /// name-legal, at most 40 characters), the first 10 hex digits of a SHA-1 of the namespace and the identity, and the
    /// instance number. One name per instance, so the engine refuses (409) to create an instance's container twice.
    package static func containerName(_ service: ServiceIdentity, index: Int, namespace: String = "default") -> String {
        "\(namePrefix(service, namespace: namespace))-\(index)"
    }

    /// `vamp-<readable identity>-<10 hex digits>`: the start of the names of `service`'s containers.
    static func namePrefix(_ service: ServiceIdentity, namespace: String) -> String {
        let readable = LocalProcessPlan.sanitised(
            service.kind == .workflow ? "workflow-\(service.deployment)-\(service.service)" : "\(service.deployment)-\(service.cluster)-\(service.service)")
        return "vamp-\(readable.prefix(40))-\(SHA1.hex("\(namespace)\u{0}\(service.description)").prefix(10))"
    }

    /// The labels of instance `index` of `specification`.
    package static func labels(_ specification: ServiceSpecification, index: Int, namespace: String = "default") -> [String: String] {
        OwnershipLabel.identityLabels(specification.id).merging([
            OwnershipLabel.namespace: namespace,
            OwnershipLabel.instance: String(index),
            OwnershipLabel.digest: specification.digest,
            OwnershipLabel.scale: String(max(0, specification.scale.instances)),
            OwnershipLabel.ports: ports(specification).map { "\($0.name)=\($0.number)" }.joined(separator: ","),
        ]) { $1 }
    }

    /// The owned container these labels describe, or nil when they are not a complete set of Vamp's labels of a
    /// service's or a workflow's instance.
    package static func container(id: String, labels: [String: String], state: String, created: Int) -> Container? {
        guard let service = OwnershipLabel.identity(labels), let index = labels[OwnershipLabel.instance].flatMap({ Int($0) }), let digest = labels[OwnershipLabel.digest]
        else { return nil }
        return Container(
            id: id, service: service, index: index,
            digest: digest, scale: labels[OwnershipLabel.scale].flatMap { Int($0) } ?? 0, running: state == "running", created: created,
            neverStarted: state == "created")
    }

    /// The breed ports with a number, in the breed's order (the container port is the breed port's number).
    package static func ports(_ specification: ServiceSpecification) -> [(name: String, number: Int)] {
        specification.breed.ports.compactMap { port in port.number.map { (name: port.name, number: $0) } }
    }

    /// The `POST /containers/create` body of instance `index`: the image (the deployable's definition), the
    /// specification's environment plus `PORT` (the first port) and `PORT_<NAME>` per port, every port exposed and
    /// published on a random host port of 127.0.0.1, the ownership labels, `privileged` from the run arguments, for a
    /// workflow's daemon the restart policy `unless-stopped`; then
    /// the `docker` dialect merged in (objects merged key by key, anything else replaced; a string dialect, a
    /// docker-compose `command`, becomes `Cmd: [/bin/sh, -c, command]`).
    package static func createBody(_ specification: ServiceSpecification, index: Int, namespace: String = "default") -> JSONValue {
        let ports = ports(specification)
        var environment = specification.environment
        if let first = ports.first { environment["PORT"] = String(first.number) }
        for port in ports { environment[LocalProcessPlan.portVariable(port.name)] = String(port.number) }
        var exposed: [String: JSONValue] = [:]
        var bindings: [String: JSONValue] = [:]
        for port in ports {
            exposed["\(port.number)/tcp"] = .object([:])
            bindings["\(port.number)/tcp"] = .array([.object(["HostIp": .string("127.0.0.1"), "HostPort": .string("")])])
        }
        var hostConfig: [String: JSONValue] = ["PortBindings": .object(bindings)]
        if isPrivileged(specification.arguments) { hostConfig["Privileged"] = .bool(true) }
        // A service's instances are replaced by the reconciler; a workflow's daemon is restarted by the engine when it
        // exits (the driver's own kill, before a removal, does not count: it stops the container for good).
        if specification.id.kind == .workflow { hostConfig["RestartPolicy"] = .object(["Name": .string("unless-stopped")]) }
        let body = JSONValue.object([
            "Image": .string(specification.breed.deployable?.definition ?? ""),
            "Env": .array(environment.keys.sorted().map { .string("\($0)=\(environment[$0]!)") }),
            "Labels": .object(labels(specification, index: index, namespace: namespace).mapValues { .string($0) }),
            "ExposedPorts": .object(exposed),
            "HostConfig": .object(hostConfig),
        ])
        return applyingDialect(body, specification.dialects)
    }

    /// True when the run arguments ask for a privileged container (`privileged: true`).
    static func isPrivileged(_ arguments: [RunArgument]) -> Bool {
        arguments.contains { $0.key == "privileged" && $0.value.lowercased() == "true" }
    }

    /// A create body with the `docker` dialect merged in (objects merged key by key, anything else replaced; a string
    /// dialect, a docker-compose `command`, becomes `Cmd: [/bin/sh, -c, command]`).
    static func applyingDialect(_ body: JSONValue, _ dialects: [String: JSONValue]) -> JSONValue {
        switch dialects["docker"] {
        case .object(let dialect): return merged(body, .object(dialect))
        // A docker-compose `command` (VampDSL's compose reader) is a command line for the image's shell.
        case .string(let command): return merged(body, .object(["Cmd": .array(["/bin/sh", "-c", command].map { .string($0) })]))
        default: return body
        }
    }

    /// `overlay` merged into `base`: objects key by key (recursively), any other value of `overlay` wins.
    package static func merged(_ base: JSONValue, _ overlay: JSONValue) -> JSONValue {
        guard case .object(var result) = base, case .object(let extra) = overlay else { return overlay }
        for (key, value) in extra { result[key] = result[key].map { merged($0, value) } ?? value }
        return .object(result)
    }

    /// What to do to reach `desired` running containers of `digest` from `containers` (one service's): a missing
    /// instance is first a container of `digest` that was created and never started (an earlier server's, killed
    /// between the two calls), started rather than created again (lowest numbers first), else created on the lowest
    /// number no container holds; extra ones of the current digest are removed, highest numbers first; every other
    /// container (another digest, not running, not started) is removed. Starts and creations come first in the list,
    /// so replacements start before the containers they replace are removed.
    package static func converge(desired: Int, digest: String, containers: [Container]) -> [Action] {
        let desired = max(0, desired)
        let current = containers.filter { $0.running && $0.digest == digest }.sorted { $0.index < $1.index }
        let waiting = containers.filter { $0.neverStarted && $0.digest == digest }.sorted { $0.index < $1.index }
        let started = waiting.prefix(max(0, desired - current.count))
        var creates: [Action] = started.map { .start(id: $0.id) }
        var used = Set(containers.map(\.index))
        var candidate = 0
        for _ in 0..<max(0, desired - current.count - started.count) {
            while used.contains(candidate) { candidate += 1 }
            creates.append(.create(index: candidate))
            used.insert(candidate)
        }
        var removes: [Action] = current.dropFirst(desired).reversed().map { .remove(id: $0.id) }
        let kept = Set(current.map(\.id) + started.map(\.id))
        let others = containers.filter { !kept.contains($0.id) }.sorted { $0.index > $1.index }
        removes += others.map { .remove(id: $0.id) }
        return creates + removes
    }

    /// The `filters` query value that lists every container of a service or a workflow (or, with `service` nil, every
    /// owned one, services' and workflows') of a namespace.
    package static func filters(_ service: ServiceIdentity?, namespace: String = "default") -> String {
        var labels = [OwnershipLabel.owner, "\(OwnershipLabel.namespace)=\(namespace)"]
        if let service {
            labels = OwnershipLabel.identityLabels(service).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + ["\(OwnershipLabel.namespace)=\(namespace)"]
        }
        let data = try! JSONSerialization.data(withJSONObject: ["label": labels], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// The `filters` of `GET /events` that the driver follows: container events of containers with Vamp's owner label
    /// in the namespace (the engine matches every label filter).
    package static func eventFilters(namespace: String = "default") -> String {
        let object: [String: [String]] = ["label": [OwnershipLabel.owner, "\(OwnershipLabel.namespace)=\(namespace)"], "type": ["container"]]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// True when an event line of `GET /events` is one the reconciler should look at: a container of the namespace
    /// that started, died, was destroyed, restarted, ran out of memory or changed its health (`health_status: ...`).
    /// Creation (not running yet), attaches, execs and the like are not, nor anything of a one-off run's container.
    package static func eventMatters(_ line: Substring, namespace: String = "default") -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            (object["Type"] as? String) == "container",
            let action = object["Action"] as? String ?? object["status"] as? String
        else { return false }
        let attributes = (object["Actor"] as? [String: Any])?["Attributes"] as? [String: String] ?? [:]
        // A one-off run's container is no instance: its start and end change nothing the reconciler sees.
        guard attributes[OwnershipLabel.owner] != nil, attributes[OwnershipLabel.namespace] == namespace, attributes[OwnershipLabel.run] == nil
        else { return false }
        return ["start", "die", "destroy", "restart", "oom"].contains(action) || action.hasPrefix("health_status")
    }

    /// The breed ports recorded in a container's ``Label/ports`` label, by name.
    package static func portNames(_ labels: [String: String]) -> [String: Int] {
        var ports: [String: Int] = [:]
        for entry in (labels[OwnershipLabel.ports] ?? "").split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let number = Int(parts[1]) { ports[String(parts[0])] = number }
        }
        return ports
    }

    /// The reported name of an instance: `<cluster>-<service>-<index>` (a workflow's: `workflow-<name>-<index>`),
    /// sanitised.
    package static func instanceName(_ container: Container) -> String {
        LocalProcessPlan.instanceName(container.service, index: container.index)
    }

    /// The error in an image pull's answer: a stream of JSON objects, one a line, any of which can be
    /// `{"error": ...}` (or carry `errorDetail.message`) although the status was 200. Nil when none did.
    package static func pullError(_ stream: String) -> String? {
        for line in stream.split(whereSeparator: \.isNewline) {
            guard let data = line.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { continue }
            if let error = object["error"] as? String { return error }
            if let detail = object["errorDetail"] as? [String: Any], let message = detail["message"] as? String { return message }
        }
        return nil
    }

    /// True when a pull's error says the registry refused or wanted credentials (`unauthorized`, `authentication
    /// required`, `no basic auth credentials`).
    package static func isAuthenticationFailure(_ message: String) -> Bool {
        let text = message.lowercased()
        return ["unauthorized", "authentication required", "no basic auth credentials"].contains { text.contains($0) }
    }

    /// The image reference with a tag: `busybox` → `busybox:latest`; a digest or a tag is kept.
    package static func imageReference(_ image: String) -> (name: String, tag: String) {
        if image.contains("@") { return (image, "") }
        let slash = image.lastIndex(of: "/") ?? image.startIndex
        if let colon = image[slash...].lastIndex(of: ":") {
            return (String(image[..<colon]), String(image[image.index(after: colon)...]))
        }
        return (image, "latest")
    }
}
