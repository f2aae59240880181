@testable import ContainerDrivers
import Foundation
import Testing
import VampModel

/// ``KubernetesPlan`` with plain values: names, labels, the Deployment body, reading Deployments and Pods back, the
/// gateway Services' plan.
@Suite("KubernetesPlan")
struct KubernetesPlanTests {
    static func spec(
        deployment: String = "shop", cluster: String = "frontend", breed: String = "sava:1.0", instances: Int = 2,
        checks: [HealthCheck] = [], arguments: [RunArgument] = [], dialects: [String: JSONValue] = [:]
    ) -> ServiceSpecification {
        ServiceSpecification(
            id: ServiceIdentity(deployment: deployment, cluster: cluster, service: breed),
            breed: Breed(name: breed, deployable: Deployable(type: "docker", definition: "magneticio/sava:1.0"), ports: [BreedPort(name: "web", number: 8080)]),
            scale: Scale(cpu: CPU(cores: 0.25)!, memory: Memory(megabytes: 128)!, instances: instances),
            environment: ["GREETING": "hi"], arguments: arguments, healthChecks: checks, dialects: dialects)
    }

    @Test func namesAreDNSLabelsAndIllegalPartsAreHashed() {
        #expect(KubernetesPlan.namePart("shop") == "shop")
        #expect(KubernetesPlan.namePart("sava:1.0") == String(SHA1.hex("sava:1.0").prefix(20)))
        #expect(KubernetesPlan.namePart(String(repeating: "a", count: 32)).count == 20)
        #expect(KubernetesPlan.namePart(String(repeating: "a", count: 31)) == String(repeating: "a", count: 31))
        #expect(KubernetesPlan.namePart("-x") != "-x")
        let id = ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava:1.0")
        #expect(KubernetesPlan.deploymentName(id) == "shop-" + SHA1.hex("sava:1.0").prefix(20))
        #expect(KubernetesPlan.deploymentName(.workflow("health", breed: "health:1")) == "vamp-workflow-health")
        #expect(KubernetesPlan.deploymentName(.workflow("Health", breed: "x")).hasPrefix("vamp-workflow-"))
        #expect(KubernetesPlan.namespaceName("default") == "default")
        #expect(KubernetesPlan.namespaceName("Team_A").hasPrefix("vamp-"))
        #expect(KubernetesPlan.labelValue("sava:1.0") == "sava_1.0")
        #expect(KubernetesPlan.labelValue("_a_") == "a")
        #expect(KubernetesPlan.labelValue(String(repeating: "b", count: 80)).count == 63)
    }

    @Test func labelsSelectAServiceOrAWorkflow() {
        let service = Self.spec()
        let labels = KubernetesPlan.labels(service.id)
        let name = KubernetesPlan.deploymentName(service.id)
        #expect(labels == [
            "io.vamp": "deployment-service", "io.vamp.deployment-service": name, "io.vamp.deployment": "shop",
            "io.vamp.cluster": "frontend", "io.vamp.service": "sava_1.0",
        ])
        #expect(KubernetesPlan.selector(service.id) == ["io.vamp": "deployment-service", "io.vamp.deployment-service": name])
        let workflow = ServiceIdentity.workflow("health", breed: "health:1.0")
        #expect(KubernetesPlan.labels(workflow) == ["io.vamp": "workflow", "io.vamp.workflow": "vamp-workflow-health", "io.vamp.breed": "health_1.0"])
        #expect(KubernetesPlan.selectorQuery(["b": "2", "a": "1"]) == "a=1,b=2")
    }

    @Test func theDeploymentBodyHasTheContainerScaleAndProbe() throws {
        let check = HealthCheck(path: "health", port: "web", initialDelay: TimeValue(seconds: 5)!, timeout: TimeValue(seconds: 2)!, interval: TimeValue(seconds: 10)!, failures: 3)
        let spec = Self.spec(instances: 3, checks: [check], arguments: [RunArgument(key: "privileged", value: "true")])
        let body = KubernetesPlan.deploymentBody(spec, namespace: "team")
        let name = KubernetesPlan.deploymentName(spec.id)
        #expect(body.value(atPath: "apiVersion") == .string("apps/v1"))
        #expect(body.value(atPath: "kind") == .string("Deployment"))
        #expect(body.value(atPath: "metadata.name") == .string(name))
        #expect(body.value(atPath: "metadata.namespace") == .string("team"))
        #expect(body.value(atPath: "metadata.annotations")?.stringObject?["io.vamp.digest"] == spec.digest)
        #expect(body.value(atPath: "metadata.annotations")?.stringObject?["io.vamp.service"] == "sava:1.0")
        #expect(body.value(atPath: "spec.replicas") == .number(3))
        #expect(body.value(atPath: "spec.selector.matchLabels")?.stringObject == KubernetesPlan.selector(spec.id))
        #expect(body.value(atPath: "spec.template.metadata.labels")?.stringObject == KubernetesPlan.labels(spec.id))
        let container = try #require(body.value(atPath: "spec.template.spec.containers")?.arrayValue?.first)
        #expect(container.value(atPath: "name") == .string(name))
        #expect(container.value(atPath: "image") == .string("magneticio/sava:1.0"))
        #expect(container.value(atPath: "ports") == .array([.object(["name": .string("p8080"), "containerPort": .number(8080), "protocol": .string("TCP")])]))
        #expect(container.value(atPath: "resources.requests") == .object(["cpu": .string("250m"), "memory": .string("128Mi")]))
        #expect(container.value(atPath: "securityContext.privileged") == .bool(true))
        let env = container.value(atPath: "env")?.arrayValue ?? []
        #expect(env.contains(.object(["name": .string("GREETING"), "value": .string("hi")])))
        #expect(env.contains(.object(["name": .string("PORT"), "value": .string("8080")])))
        #expect(container.value(atPath: "readinessProbe") == .object([
            "httpGet": .object(["path": .string("/health"), "port": .number(8080), "scheme": .string("HTTP")]),
            "initialDelaySeconds": .number(5), "timeoutSeconds": .number(2), "periodSeconds": .number(10), "failureThreshold": .number(3),
        ]))
        let plain = KubernetesPlan.deploymentBody(Self.spec(), namespace: "team")
        let plainContainer = plain.value(atPath: "spec.template.spec.containers")?.arrayValue?.first
        #expect(plainContainer?.value(atPath: "readinessProbe") == nil)
        #expect(plainContainer?.value(atPath: "securityContext") == nil)
    }

    @Test func theKubernetesDialectIsMergedIntoThePodSpecAndTheFirstContainer() throws {
        let dialect: JSONValue = .object([
            "nodeSelector": .object(["disk": .string("ssd")]),
            "containers": .array([
                .object(["args": .array([.string("--verbose")]), "resources": .object(["limits": .object(["memory": .string("256Mi")])])]),
                .object(["name": .string("sidecar"), "image": .string("busybox")]),
            ]),
        ])
        let body = KubernetesPlan.deploymentBody(Self.spec(dialects: ["kubernetes": dialect]), namespace: "default")
        #expect(body.value(atPath: "spec.template.spec.nodeSelector.disk") == .string("ssd"))
        let containers = try #require(body.value(atPath: "spec.template.spec.containers")?.arrayValue)
        #expect(containers.count == 2)
        #expect(containers[0].value(atPath: "args") == .array([.string("--verbose")]))
        #expect(containers[0].value(atPath: "resources.limits.memory") == .string("256Mi"))
        #expect(containers[0].value(atPath: "resources.requests.cpu") == .string("250m"))
        #expect(containers[0].value(atPath: "image") == .string("magneticio/sava:1.0"))
        #expect(containers[1].value(atPath: "name") == .string("sidecar"))
    }

    static func pod(_ name: String, labels: [String: String], phase: String, ready: Bool, ip: String = "10.0.0.1", deleting: Bool = false) -> JSONValue {
        var metadata: [String: JSONValue] = ["name": .string(name), "labels": .object(labels.mapValues { .string($0) })]
        if deleting { metadata["deletionTimestamp"] = .string("2026-01-01T00:00:00Z") }
        return .object([
            "metadata": .object(metadata),
            "status": .object([
                "phase": .string(phase), "podIP": .string(ip),
                "conditions": .array([.object(["type": .string("Ready"), "status": .string(ready ? "True" : "False")])]),
            ]),
        ])
    }

    @Test func servicesAreReadBackFromDeploymentsAndPods() throws {
        let spec = Self.spec()
        let workflow = ServiceSpecification(
            id: .workflow("health", breed: "health:1.0"), breed: Breed(name: "health:1.0", deployable: Deployable(type: "docker", definition: "x")),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1))
        let deployments = [KubernetesPlan.deploymentBody(spec, namespace: "default"), KubernetesPlan.deploymentBody(workflow, namespace: "default"),
                           .object(["metadata": .object(["name": .string("foreign")])])]
        let labels = KubernetesPlan.labels(spec.id)
        let pods = [
            Self.pod("b", labels: labels, phase: "Running", ready: true, ip: "10.0.0.2"),
            Self.pod("a", labels: labels, phase: "Pending", ready: false),
            Self.pod("c", labels: labels, phase: "Running", ready: false),
            Self.pod("gone", labels: labels, phase: "Running", ready: true, deleting: true),
            Self.pod("w", labels: KubernetesPlan.labels(workflow.id), phase: "Running", ready: true),
        ]
        let services = KubernetesPlan.services(deployments: deployments, pods: pods)
        #expect(services.count == 2)
        let service = try #require(services.first { $0.id == spec.id })
        #expect(service.digest == spec.digest)
        #expect(service.desiredInstances == 2)
        #expect(service.instances.map(\.name) == ["a", "b", "c"])
        #expect(service.instances.map(\.deployed) == [false, true, false])
        #expect(service.instances[1].host == "10.0.0.2")
        #expect(service.instances[1].ports == ["web": 8080])
        let daemon = try #require(services.first { $0.id.kind == .workflow })
        #expect(daemon.id == workflow.id)
        #expect(daemon.instances.map(\.name) == ["w"])
    }

    @Test func whilePodsOfAnotherDigestRunTheServiceReportsThatDigest() throws {
        let old = Self.spec()
        let new = Self.spec(dialects: ["kubernetes": .object(["hostname": .string("x")])])
        #expect(old.digest != new.digest)
        func pod(_ name: String, _ digest: String) -> JSONValue {
            guard case .object(var object) = Self.pod(name, labels: KubernetesPlan.labels(old.id), phase: "Running", ready: true),
                case .object(var metadata) = object["metadata"] ?? .null
            else { return .null }
            metadata["annotations"] = .object(["io.vamp.digest": .string(digest)])
            object["metadata"] = .object(metadata)
            return .object(object)
        }
        let deployment = KubernetesPlan.deploymentBody(new, namespace: "default")
        let rolling = KubernetesPlan.services(deployments: [deployment], pods: [pod("a", old.digest), pod("b", new.digest)])
        #expect(rolling.first?.digest == old.digest)
        #expect(rolling.first?.instances.count == 2)
        let rolled = KubernetesPlan.services(deployments: [deployment], pods: [pod("b", new.digest)])
        #expect(rolled.first?.digest == new.digest)
    }

    @Test func gatewayServicesAreCreatedReplacedAndDeleted() {
        let web = DriverGateway(name: "shop/web", lookupName: "abc123", port: 9050)
        let api = DriverGateway(name: "shop/api", lookupName: "def456", port: 9051)
        let body = KubernetesPlan.gatewayServiceBody(web, type: "NodePort", namespace: "default")
        #expect(body.value(atPath: "metadata.name") == .string("vamp-gateway-abc123"))
        #expect(body.value(atPath: "metadata.labels")?.stringObject == ["io.vamp": "gateway", "io.vamp.gateway": "shop_web", "io.vamp.lookup_name": "abc123"])
        #expect(body.value(atPath: "spec.selector")?.stringObject == ["io.vamp": "vamp-gateway-agent"])
        #expect(body.value(atPath: "spec.type") == .string("NodePort"))
        let moved = KubernetesPlan.gatewayServiceBody(DriverGateway(name: "shop/api", lookupName: "def456", port: 9999), type: "NodePort", namespace: "default")
        let stale = KubernetesPlan.gatewayServiceBody(DriverGateway(name: "old", lookupName: "0ld", port: 1), type: "NodePort", namespace: "default")
        let actions = KubernetesPlan.gatewayActions([web, api], existing: [moved, stale, body], type: "NodePort")
        #expect(actions == [.replace(api), .delete("vamp-gateway-0ld")])
        #expect(KubernetesPlan.gatewayActions([web], existing: [], type: "NodePort") == [.create(web)])
        #expect(KubernetesPlan.gatewayActions([web], existing: [body], type: "LoadBalancer") == [.replace(web)])
    }

    @Test func statusObjectsAreRead() {
        let body = Data(#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"deployments.apps \"x\" already exists","reason":"AlreadyExists","code":409}"#.utf8)
        #expect(KubernetesPlan.status(body)?.reason == "AlreadyExists")
        #expect(KubernetesPlan.status(body)?.message == #"deployments.apps "x" already exists"#)
        #expect(KubernetesPlan.status(Data("{}".utf8)) == nil)
    }

    @Test func theDefaultURLComesFromTheServiceEnvironment() {
        #expect(KubernetesDriver.Configuration.defaultURL(environment: [:]) == "https://kubernetes.default.svc")
        #expect(KubernetesDriver.Configuration.defaultURL(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]) == "https://10.96.0.1:443")
    }
}
