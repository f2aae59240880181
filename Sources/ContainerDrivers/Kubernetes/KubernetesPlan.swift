package import Foundation
package import VampModel

/// The pure decisions of ``KubernetesDriver``: Kubernetes names and labels of a service or a workflow, the apps/v1
/// Deployment body of a specification, the gateway Services, and the reading of listed Deployments and Pods back into
/// ``RuntimeService``s. No I/O, so they are tested with plain values.
package enum KubernetesPlan {
    // MARK: - Names

    /// `part` when it is a DNS-1123 label of fewer than 32 characters (`[a-z0-9-]`, starting and ending with a letter
    /// or digit), else the first 20 hex digits of its SHA-1 (the original's rule).
    package static func namePart(_ part: String) -> String {
        let legal = part.count < 32 && !part.isEmpty && part.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
            && part.first != "-" && part.last != "-"
        return legal ? part : String(SHA1.hex(part).prefix(20))
    }

    /// The Deployment's name: `<deployment>-<breed>` for a service, `vamp-workflow-<name>` for a workflow; each part
    /// through ``namePart(_:)``, so the name is at most 63 characters and legal as a label value.
    package static func deploymentName(_ id: ServiceIdentity) -> String {
        switch id.kind {
        case .service: "\(namePart(id.deployment))-\(namePart(id.service))"
        case .workflow: "vamp-workflow-\(namePart(id.deployment))"
        }
    }

    /// The Kubernetes namespace of a Vamp namespace: its name when it is a DNS-1123 label of at most 63 characters,
    /// else `vamp-` and 20 hex digits of its SHA-1.
    package static func namespaceName(_ namespace: String) -> String {
        let legal = namespace.count <= 63 && !namespace.isEmpty
            && namespace.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
            && namespace.first != "-" && namespace.last != "-"
        return legal ? namespace : "vamp-" + SHA1.hex(namespace).prefix(20)
    }

    /// `value` made a legal label value: characters other than `[A-Za-z0-9-_.]` become `_`, at most 63 characters,
    /// starting and ending with a letter or digit. The exact value is kept in an annotation.
    package static func labelValue(_ value: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        var text = String(value.map { allowed.contains($0) ? $0 : "_" }.prefix(63))
        while let last = text.last, !(last.isLetter || last.isNumber) { text.removeLast() }
        while let first = text.first, !(first.isLetter || first.isNumber) { text.removeFirst() }
        return text
    }

    // MARK: - Labels

    /// The labels of a Deployment and of its pods: the owner, the selector label and the (legalised) identity.
    package static func labels(_ id: ServiceIdentity) -> [String: String] {
        let name = deploymentName(id)
        switch id.kind {
        case .service:
            return [
                OwnershipLabel.owner: OwnershipLabel.serviceValue, OwnershipLabel.deploymentService: name, OwnershipLabel.deployment: labelValue(id.deployment),
                OwnershipLabel.cluster: labelValue(id.cluster), OwnershipLabel.service: labelValue(id.service),
            ]
        case .workflow:
            return [OwnershipLabel.owner: OwnershipLabel.workflowValue, OwnershipLabel.workflow: name, OwnershipLabel.breed: labelValue(id.service)]
        }
    }

    /// The labels that select the pods of `id` (the Deployment's `spec.selector.matchLabels`).
    package static func selector(_ id: ServiceIdentity) -> [String: String] {
        switch id.kind {
        case .service: [OwnershipLabel.owner: OwnershipLabel.serviceValue, OwnershipLabel.deploymentService: deploymentName(id)]
        case .workflow: [OwnershipLabel.owner: OwnershipLabel.workflowValue, OwnershipLabel.workflow: deploymentName(id)]
        }
    }

    /// The annotations that keep what labels cannot: the exact identity, the digest and the breed's ports.
    package static func annotations(_ specification: ServiceSpecification) -> [String: String] {
        let id = specification.id
        return [
            OwnershipLabel.kind: id.kind.rawValue, OwnershipLabel.deployment: id.deployment, OwnershipLabel.cluster: id.cluster, OwnershipLabel.service: id.service,
            OwnershipLabel.digest: specification.digest,
            OwnershipLabel.ports: ports(specification).map { "\($0.name)=\($0.number)" }.joined(separator: ","),
        ]
    }

    /// The breed ports with a number, in the breed's order (the container port is the breed port's number).
    package static func ports(_ specification: ServiceSpecification) -> [(name: String, number: Int)] {
        specification.breed.ports.compactMap { port in port.number.map { (name: port.name, number: $0) } }
    }

    // MARK: - The Deployment

    /// The apps/v1 Deployment of `specification` in `namespace`: `replicas` = the instances; one container named
    /// after the Deployment running the deployable's image, with the environment (plus `PORT` and `PORT_<NAME>`),
    /// ports `p<number>`, `resources.requests` (cpu in millicores, memory `<MB>Mi`), `securityContext.privileged` from
    /// the `privileged` argument and a readiness probe from the first health check; then the `kubernetes:` dialect
    /// merged into the pod spec (its `containers[0]` merged into the generated container, further containers added).
    package static func deploymentBody(_ specification: ServiceSpecification, namespace: String) -> JSONValue {
        let name = deploymentName(specification.id)
        let ports = ports(specification)
        var environment = specification.environment
        if let first = ports.first { environment["PORT"] = String(first.number) }
        for port in ports { environment[LocalProcessPlan.portVariable(port.name)] = String(port.number) }
        var container: [String: JSONValue] = [
            "name": .string(name),
            "image": .string(specification.breed.deployable?.definition ?? ""),
            "env": .array(environment.keys.sorted().map { .object(["name": .string($0), "value": .string(environment[$0]!)]) }),
            "ports": .array(ports.map {
                .object(["name": .string("p\($0.number)"), "containerPort": .number(Double($0.number)), "protocol": .string("TCP")])
            }),
            "resources": .object(["requests": .object([
                "cpu": .string("\(Int((specification.scale.cpu.cores * 1000).rounded()))m"),
                "memory": .string("\(Int(specification.scale.memory.megabytes.rounded()))Mi"),
            ])]),
        ]
        if specification.arguments.contains(where: { $0.key == "privileged" && $0.value.lowercased() == "true" }) {
            container["securityContext"] = .object(["privileged": .bool(true)])
        }
        if let probe = readinessProbe(specification) { container["readinessProbe"] = probe }
        var podSpec: [String: JSONValue] = [:]
        var containers: [JSONValue] = [.object(container)]
        if case .object(var dialect) = specification.dialects["kubernetes"] {
            if case .array(let extra) = dialect.removeValue(forKey: "containers"), let first = extra.first {
                containers[0] = DockerPlan.merged(containers[0], first)
                containers += extra.dropFirst()
            }
            for (key, value) in dialect { podSpec[key] = podSpec[key].map { DockerPlan.merged($0, value) } ?? value }
        }
        podSpec["containers"] = .array(containers)
        let labels = JSONValue.object(labels(specification.id).mapValues { .string($0) })
        let annotations = JSONValue.object(annotations(specification).mapValues { .string($0) })
        return .object([
            "apiVersion": .string("apps/v1"),
            "kind": .string("Deployment"),
            "metadata": .object(["name": .string(name), "namespace": .string(namespace), "labels": labels, "annotations": annotations]),
            "spec": .object([
                "replicas": .number(Double(max(0, specification.scale.instances))),
                "selector": .object(["matchLabels": .object(selector(specification.id).mapValues { .string($0) })]),
                "template": .object([
                    "metadata": .object(["labels": labels, "annotations": annotations]),
                    "spec": .object(podSpec),
                ]),
            ]),
        ])
    }

    /// The readiness probe of the first health check (a container has one): `httpGet` on the checked port's number,
    /// or nil without health checks or when the checked port has no number.
    package static func readinessProbe(_ specification: ServiceSpecification) -> JSONValue? {
        guard let check = specification.healthChecks.first,
            let number = ports(specification).first(where: { $0.name == check.port })?.number
        else { return nil }
        return .object([
            "httpGet": .object([
                "path": .string(check.path.hasPrefix("/") ? check.path : "/" + check.path),
                "port": .number(Double(number)),
                "scheme": .string(check.protocol.rawValue),
            ]),
            "initialDelaySeconds": .number(Double(check.initialDelay.seconds)),
            "timeoutSeconds": .number(Double(max(1, check.timeout.seconds))),
            "periodSeconds": .number(Double(max(1, check.interval.seconds))),
            "failureThreshold": .number(Double(max(1, check.failures))),
        ])
    }

    /// The label selector query value of `labels` (`a=b,c=d`, sorted).
    package static func selectorQuery(_ labels: [String: String]) -> String {
        labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ",")
    }

    // MARK: - Reading back

    /// The services these Deployments and Pods are (the lists' `items`): every Deployment with Vamp's annotations, its
    /// pods (selected by its selector label, not being deleted) as instances. An instance is named after its pod, its
    /// host is the pod IP, its ports the container ports by breed port name, and it is deployed when the pod's phase is
    /// `Running` and its `Ready` condition is `True`.
    ///
    /// The digest reported is the Deployment's, unless a pod still runs another one (its template's `io.vamp.digest`
    /// annotation): while Kubernetes rolls the pods, the service is reported with the old digest, so the reconciler
    /// does not count it as done before every pod runs the new specification; the old pods keep serving meanwhile.
    package static func services(deployments: [JSONValue], pods: [JSONValue]) -> [RuntimeService] {
        var result: [RuntimeService] = []
        for deployment in deployments {
            guard let annotations = deployment.value(atPath: "metadata.annotations")?.stringObject,
                let kind = annotations[OwnershipLabel.kind].flatMap(ServiceIdentity.Kind.init(rawValue:)),
                let name = deployment.value(atPath: "metadata.name")?.stringValue
            else { continue }
            let id: ServiceIdentity
            switch kind {
            case .service:
                id = ServiceIdentity(deployment: annotations[OwnershipLabel.deployment] ?? "", cluster: annotations[OwnershipLabel.cluster] ?? "", service: annotations[OwnershipLabel.service] ?? "")
            case .workflow:
                id = ServiceIdentity.workflow(annotations[OwnershipLabel.deployment] ?? "", breed: annotations[OwnershipLabel.service] ?? "")
            }
            guard deploymentName(id) == name else { continue }
            let selector = selector(id)
            let portNames = portNames(annotations[OwnershipLabel.ports] ?? "")
            var instances: [Instance] = []
            var digest = annotations[OwnershipLabel.digest] ?? ""
            for pod in pods {
                let labels = pod.value(atPath: "metadata.labels")?.stringObject ?? [:]
                guard selector.allSatisfy({ labels[$0.key] == $0.value }), pod.value(atPath: "metadata.deletionTimestamp") == nil,
                    let podName = pod.value(atPath: "metadata.name")?.stringValue
                else { continue }
                if let podDigest = pod.value(atPath: "metadata.annotations")?.stringObject?[OwnershipLabel.digest], podDigest != annotations[OwnershipLabel.digest] {
                    digest = podDigest
                }
                instances.append(Instance(
                    name: podName, host: pod.value(atPath: "status.podIP")?.stringValue ?? "", ports: portNames, deployed: isReady(pod)))
            }
            instances.sort { $0.name < $1.name }
            let replicas = deployment.value(atPath: "spec.replicas")?.doubleValue.map { Int($0) } ?? 1
            result.append(RuntimeService(id: id, digest: digest, desiredInstances: replicas, instances: instances))
        }
        return result.sorted { $0.id < $1.id }
    }

    /// Phase `Running` and condition `Ready` `True`.
    package static func isReady(_ pod: JSONValue) -> Bool {
        guard pod.value(atPath: "status.phase")?.stringValue == "Running",
            case .array(let conditions) = pod.value(atPath: "status.conditions") ?? .null
        else { return false }
        return conditions.contains { $0.value(atPath: "type")?.stringValue == "Ready" && $0.value(atPath: "status")?.stringValue == "True" }
    }

    /// `name=number,...` by name.
    package static func portNames(_ text: String) -> [String: Int] {
        var ports: [String: Int] = [:]
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let number = Int(parts[1]) { ports[String(parts[0])] = number }
        }
        return ports
    }

    /// What ``KubernetesDriver/changes`` compares: each pod's name, phase and readiness, each Deployment's name and
    /// generation.
    package static func fingerprint(deployments: [JSONValue], pods: [JSONValue]) -> [String] {
        let d = deployments.map { "d \($0.value(atPath: "metadata.name")?.stringValue ?? "") \($0.value(atPath: "metadata.generation")?.doubleValue ?? 0)" }
        let p = pods.map {
            "p \($0.value(atPath: "metadata.name")?.stringValue ?? "") \($0.value(atPath: "status.phase")?.stringValue ?? "") \(isReady($0))"
        }
        return (d + p).sorted()
    }

    // MARK: - Gateways

    /// The Service name of a gateway: `vamp-gateway-` and its lookup name (a DNS-1035 label).
    package static func gatewayServiceName(lookupName: String) -> String { "vamp-gateway-" + namePart(lookupName.lowercased()) }

    /// The v1 Service of a gateway: of `type`, selecting the gateway agents' pods (`io.vamp=vamp-gateway-agent`), its
    /// port the gateway's port (also the target port, where the agent's HAProxy binds it).
    package static func gatewayServiceBody(_ gateway: DriverGateway, type: String, namespace: String) -> JSONValue {
        .object([
            "apiVersion": .string("v1"),
            "kind": .string("Service"),
            "metadata": .object([
                "name": .string(gatewayServiceName(lookupName: gateway.lookupName)),
                "namespace": .string(namespace),
                "labels": .object([
                    OwnershipLabel.owner: .string(OwnershipLabel.gatewayValue), OwnershipLabel.gateway: .string(labelValue(gateway.name)),
                    OwnershipLabel.lookupName: .string(labelValue(gateway.lookupName)),
                ]),
                "annotations": .object([OwnershipLabel.gateway: .string(gateway.name)]),
            ]),
            "spec": .object([
                "type": .string(type),
                "selector": .object([OwnershipLabel.owner: .string(OwnershipLabel.gatewayAgentValue)]),
                "ports": .array([.object([
                    "name": .string("p\(gateway.port)"), "protocol": .string("TCP"),
                    "port": .number(Double(gateway.port)), "targetPort": .number(Double(gateway.port)),
                ])]),
            ]),
        ])
    }

    /// One step of the gateway Services' synchronisation.
    package enum ServiceAction: Sendable, Hashable {
        /// POST this gateway's Service.
        case create(DriverGateway)
        /// PUT this gateway's Service over the existing one (its port or type changed).
        case replace(DriverGateway)
        /// DELETE the Service of this name (no gateway has its lookup name any more).
        case delete(String)
    }

    /// What to do so that the listed gateway Services (the items of `GET services?labelSelector=io.vamp=gateway`) are
    /// exactly one per gateway, of `type`, on the gateway's port.
    package static func gatewayActions(_ gateways: [DriverGateway], existing: [JSONValue], type: String) -> [ServiceAction] {
        var byName: [String: JSONValue] = [:]
        for service in existing { if let name = service.value(atPath: "metadata.name")?.stringValue { byName[name] = service } }
        var actions: [ServiceAction] = []
        var wanted = Set<String>()
        for gateway in gateways.sorted(by: { $0.lookupName < $1.lookupName }) {
            let name = gatewayServiceName(lookupName: gateway.lookupName)
            wanted.insert(name)
            guard let current = byName[name] else {
                actions.append(.create(gateway))
                continue
            }
            let port = current.value(atPath: "spec.ports").flatMap { value -> Double? in
                if case .array(let ports) = value { return ports.first?.value(atPath: "port")?.doubleValue }
                return nil
            }
            if port != Double(gateway.port) || current.value(atPath: "spec.type")?.stringValue != type {
                actions.append(.replace(gateway))
            }
        }
        for name in byName.keys.sorted() where !wanted.contains(name) { actions.append(.delete(name)) }
        return actions
    }

    // MARK: - Errors

    /// The `message` and `reason` of a Kubernetes `Status` object, or nil when `body` is not one.
    package static func status(_ body: Data) -> (message: String, reason: String)? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: body), value.value(atPath: "kind")?.stringValue == "Status"
        else { return nil }
        return (value.value(atPath: "message")?.stringValue ?? "", value.value(atPath: "reason")?.stringValue ?? "")
    }
}

extension JSONValue {
    /// The string values of an object (others left out), or nil when it is not an object.
    var stringObject: [String: String]? {
        guard case .object(let object) = self else { return nil }
        return object.compactMapValues(\.stringValue)
    }

    /// The elements of an array, or nil when it is not one.
    var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }
}
