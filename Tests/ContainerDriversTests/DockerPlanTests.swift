@testable import ContainerDrivers
import Foundation
import Testing
import VampModel

/// ``DockerPlan`` with plain values: the create body, the labels and their reading, the convergence plan, pull errors.
@Suite("DockerPlan")
struct DockerPlanTests {
    static let id = ServiceIdentity(deployment: "shop", cluster: "frontend", service: "web:1.0")

    static func specification(instances: Int = 2, dialect: JSONValue? = nil) -> ServiceSpecification {
        ServiceSpecification(
            id: id,
            breed: Breed(
                name: "web:1.0", deployable: Deployable(type: "docker", definition: "localhost/bbox:latest"),
                ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "admin-ui", number: 9000)]),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: instances),
            environment: ["GREETING": "hi"], arguments: [RunArgument(key: "privileged", value: "true")],
            dialects: dialect.map { ["docker": $0] } ?? [:])
    }

    @Test func createBodyHasImageEnvironmentPortsLabels() throws {
        let body = DockerPlan.createBody(Self.specification(), index: 1)
        guard case .object(let object) = body else { Issue.record("not an object"); return }
        #expect(object["Image"] == .string("localhost/bbox:latest"))
        #expect(object["Env"] == .array(["GREETING=hi", "PORT=8080", "PORT_ADMIN_UI=9000", "PORT_WEB=8080"].map { .string($0) }))
        #expect(object["ExposedPorts"] == .object(["8080/tcp": .object([:]), "9000/tcp": .object([:])]))
        let binding = JSONValue.array([.object(["HostIp": .string("127.0.0.1"), "HostPort": .string("")])])
        #expect(body.value(atPath: "HostConfig.PortBindings") == .object(["8080/tcp": binding, "9000/tcp": binding]))
        #expect(body.value(atPath: "HostConfig.Privileged") == .bool(true))
        let labels = body.value(atPath: "Labels")
        guard case .object(let labelObject) = labels else { Issue.record("no labels"); return }
        #expect(labelObject["io.vamp"] == .string("deployment-service"))
        #expect(labelObject["io.vamp.deployment"] == .string("shop"))
        #expect(labelObject["io.vamp.cluster"] == .string("frontend"))
        #expect(labelObject["io.vamp.service"] == .string("web:1.0"))
        #expect(labelObject["io.vamp.instance"] == .string("1"))
        #expect(labelObject["io.vamp.namespace"] == .string("default"))
        #expect(labelObject["io.vamp.scale"] == .string("2"))
        #expect(labelObject["io.vamp.digest"] == .string(Self.specification().digest))
        #expect(labelObject["io.vamp.ports"] == .string("web=8080,admin-ui=9000"))
    }

    @Test func dialectIsMergedIntoTheBody() {
        let dialect = JSONValue.object([
            "Cmd": .array([.string("httpd"), .string("-f")]),
            "HostConfig": .object(["Memory": .number(1000)]),
            "Labels": .object(["team": .string("a")]),
        ])
        let body = DockerPlan.createBody(Self.specification(dialect: dialect), index: 0)
        #expect(body.value(atPath: "Cmd") == .array([.string("httpd"), .string("-f")]))
        #expect(body.value(atPath: "HostConfig.Memory") == .number(1000))
        #expect(body.value(atPath: "HostConfig.Privileged") == .bool(true))
        #expect(body.value(atPath: "Labels.team") == .string("a"))
    }

    @Test func aStringDialectIsAShellCommand() {
        let body = DockerPlan.createBody(Self.specification(dialect: .string("httpd -f")), index: 0)
        #expect(body.value(atPath: "Cmd") == .array([.string("/bin/sh"), .string("-c"), .string("httpd -f")]))
        #expect(body.value(atPath: "Image") == .string("localhost/bbox:latest"))
    }

    @Test func labelsReadBackIntoAContainer() throws {
        let spec = Self.specification()
        let container = try #require(DockerPlan.container(id: "c1", labels: DockerPlan.labels(spec, index: 3), state: "running", created: 5))
        #expect(container == DockerPlan.Container(id: "c1", service: Self.id, index: 3, digest: spec.digest, scale: 2, running: true, created: 5))
        #expect(DockerPlan.portNames(DockerPlan.labels(spec, index: 3)) == ["web": 8080, "admin-ui": 9000])
        #expect(DockerPlan.container(id: "c2", labels: ["io.vamp": "workflow"], state: "running", created: 0) == nil)
        var partial = DockerPlan.labels(spec, index: 0)
        partial["io.vamp.instance"] = nil
        #expect(DockerPlan.container(id: "c3", labels: partial, state: "running", created: 0) == nil)
        #expect(DockerPlan.container(id: "c4", labels: DockerPlan.labels(spec, index: 0), state: "exited", created: 0)?.running == false)
    }

    static func container(
        _ id: String, _ index: Int, digest: String = "d1", running: Bool = true, neverStarted: Bool = false
    ) -> DockerPlan.Container {
        DockerPlan.Container(id: id, service: Self.id, index: index, digest: digest, scale: 2, running: running, neverStarted: neverStarted)
    }

    @Test func convergeCreatesMissingOnLowestFreeNumbers() {
        #expect(DockerPlan.converge(desired: 2, digest: "d1", containers: []) == [.create(index: 0), .create(index: 1)])
        #expect(DockerPlan.converge(desired: 3, digest: "d1", containers: [Self.container("a", 0), Self.container("c", 2)]) == [.create(index: 1)])
        #expect(DockerPlan.converge(desired: 2, digest: "d1", containers: [Self.container("a", 0), Self.container("b", 1)]) == [])
    }

    @Test func convergeRemovesExtraHighestFirstAndDeadOnes() {
        let three = [Self.container("a", 0), Self.container("b", 1), Self.container("c", 2)]
        #expect(DockerPlan.converge(desired: 1, digest: "d1", containers: three) == [.remove(id: "c"), .remove(id: "b")])
        let withDead = [Self.container("a", 0), Self.container("b", 1, running: false)]
        #expect(DockerPlan.converge(desired: 2, digest: "d1", containers: withDead) == [.create(index: 2), .remove(id: "b")])
        #expect(DockerPlan.converge(desired: 0, digest: "d1", containers: three) == [.remove(id: "c"), .remove(id: "b"), .remove(id: "a")])
    }

    /// A container created and never started (a server killed between create and start) of the wanted digest is
    /// started, not created again; one of another digest is removed; a second one beyond the scale too.
    @Test func convergeStartsAContainerThatWasCreatedAndNeverStarted() {
        let created = Self.container("a", 0, running: false, neverStarted: true)
        #expect(DockerPlan.converge(desired: 1, digest: "d1", containers: [created]) == [.start(id: "a")])
        #expect(DockerPlan.converge(desired: 2, digest: "d1", containers: [created]) == [.start(id: "a"), .create(index: 1)])
        let two = [created, Self.container("b", 1, running: false, neverStarted: true)]
        #expect(DockerPlan.converge(desired: 1, digest: "d1", containers: two) == [.start(id: "a"), .remove(id: "b")])
        let running = [Self.container("r", 0), Self.container("b", 1, running: false, neverStarted: true)]
        #expect(DockerPlan.converge(desired: 1, digest: "d1", containers: running) == [.remove(id: "b")])
        let old = Self.container("o", 0, digest: "old", running: false, neverStarted: true)
        #expect(DockerPlan.converge(desired: 1, digest: "d1", containers: [old]) == [.create(index: 1), .remove(id: "o")])
        #expect(DockerPlan.converge(desired: 0, digest: "d1", containers: [created]) == [.remove(id: "a")])
    }

    /// One name per instance: the engine refuses a second container of it.
    @Test func containerNamesAreOnePerInstanceAndNamespace() {
        let name = DockerPlan.containerName(Self.id, index: 0)
        #expect(name.hasPrefix("vamp-shop-frontend-web_1.0-"))
        #expect(name.hasSuffix("-0"))
        #expect(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        #expect(DockerPlan.containerName(Self.id, index: 0) == name)
        #expect(DockerPlan.containerName(Self.id, index: 1) != name)
        #expect(DockerPlan.containerName(Self.id, index: 0, namespace: "other") != name)
        #expect(DockerPlan.containerName(.workflow("shop", breed: "web:1.0"), index: 0) != name)
        let long = ServiceIdentity(deployment: String(repeating: "d", count: 200), cluster: "c", service: "s")
        #expect(DockerPlan.containerName(long, index: 12).count < 70)
    }

    @Test func convergeReplacesAnotherDigestNewFirst() {
        let old = [Self.container("a", 0, digest: "old"), Self.container("b", 1, digest: "old")]
        #expect(DockerPlan.converge(desired: 2, digest: "new", containers: old) == [
            .create(index: 2), .create(index: 3), .remove(id: "b"), .remove(id: "a"),
        ])
    }

    @Test func pullErrorIsFoundInsideTheStream() {
        let stream = """
            {"status":"Pulling from library/nope","id":"latest"}
            {"errorDetail":{"message":"Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup registry-1.docker.io: no such host"},"error":"Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup registry-1.docker.io: no such host"}
            """
        #expect(DockerPlan.pullError(stream)?.contains("no such host") == true)
        #expect(DockerPlan.pullError("{\"status\":\"Downloaded newer image\"}\n") == nil)
    }

    @Test func imageReferencesGetATag() {
        #expect(DockerPlan.imageReference("busybox") == ("busybox", "latest"))
        #expect(DockerPlan.imageReference("localhost:5000/bbox") == ("localhost:5000/bbox", "latest"))
        #expect(DockerPlan.imageReference("localhost/bbox:1.2") == ("localhost/bbox", "1.2"))
        #expect(DockerPlan.imageReference("bbox@sha256:abc").tag == "")
    }

    @Test func aWorkflowsLabelsNameItAndReadBackAsAWorkflow() throws {
        var spec = Self.specification(instances: 1)
        spec.id = .workflow("shop", breed: "web:1.0")
        let labels = DockerPlan.labels(spec, index: 0)
        #expect(labels["io.vamp"] == "workflow")
        #expect(labels["io.vamp.workflow"] == "shop")
        #expect(labels["io.vamp.breed"] == "web:1.0")
        #expect(labels["io.vamp.deployment"] == nil && labels["io.vamp.cluster"] == nil && labels["io.vamp.service"] == nil)
        let container = try #require(DockerPlan.container(id: "w1", labels: labels, state: "running", created: 1))
        #expect(container.service == .workflow("shop", breed: "web:1.0"))
        #expect(container.service != Self.id)
        #expect(DockerPlan.instanceName(container) == "workflow-shop-0")
        // A workflow's daemon is restarted by the engine; a service's container is not.
        #expect(DockerPlan.createBody(spec, index: 0).value(atPath: "HostConfig.RestartPolicy.Name") == .string("unless-stopped"))
        #expect(DockerPlan.createBody(Self.specification(), index: 0).value(atPath: "HostConfig.RestartPolicy") == nil)
        // A service's labels with a workflow's marker are not a workflow.
        var mixed = DockerPlan.labels(Self.specification(), index: 0)
        mixed["io.vamp"] = "workflow"
        #expect(DockerPlan.container(id: "x", labels: mixed, state: "running", created: 0) == nil)
        let filter = try JSONSerialization.jsonObject(with: Data(DockerPlan.filters(spec.id).utf8)) as? [String: [String]]
        #expect(filter == ["label": ["io.vamp=workflow", "io.vamp.breed=web:1.0", "io.vamp.workflow=shop", "io.vamp.namespace=default"]])
    }

    @Test func filtersSelectOwnedContainersOfAService() throws {
        let all = try JSONSerialization.jsonObject(with: Data(DockerPlan.filters(nil).utf8)) as? [String: [String]]
        #expect(all == ["label": ["io.vamp", "io.vamp.namespace=default"]])
        let one = try JSONSerialization.jsonObject(with: Data(DockerPlan.filters(Self.id).utf8)) as? [String: [String]]
        #expect(one?["label"]?.contains("io.vamp.service=web:1.0") == true)
    }

    @Test func registryCredentialsAreBase64URLJSON() throws {
        let credentials = DockerDriver.RegistryCredentials(
            username: "vamp", password: "p?>>?~", email: "ops@example.com", serverAddress: "127.0.0.1:5000")
        let header = credentials.header
        #expect(!header.contains("+") && !header.contains("/"), "\(header)")
        var standard = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        let data = try #require(Data(base64Encoded: standard))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: String]
        #expect(object == ["username": "vamp", "password": "p?>>?~", "email": "ops@example.com", "serveraddress": "127.0.0.1:5000"])
        // Empty fields are left out.
        let bare = DockerDriver.RegistryCredentials(username: "u", password: "p").header
        let bareObject = try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: bare))) as? [String: String]
        #expect(bareObject == ["username": "u", "password": "p"])
    }

    @Test func registryCredentialsGoOnlyToTheirServer() {
        let local = DockerDriver.RegistryCredentials(username: "u", password: "p", serverAddress: "127.0.0.1:5000")
        #expect(local.applies(to: "127.0.0.1:5000/vamp/bbox:1.0"))
        #expect(!local.applies(to: "127.0.0.1:5001/vamp/bbox:1.0"))
        #expect(!local.applies(to: "busybox"))
        let hub = DockerDriver.RegistryCredentials(username: "u", password: "p", serverAddress: "https://index.docker.io/v1/")
        #expect(hub.applies(to: "busybox:1.36"))
        #expect(hub.applies(to: "magneticio/sava:1.0.0"))
        #expect(hub.applies(to: "docker.io/library/busybox"))
        #expect(!hub.applies(to: "quay.io/team/web"))
        #expect(!hub.applies(to: "localhost/vamp-busybox:latest"))
        #expect(DockerDriver.RegistryCredentials(username: "u", password: "p").applies(to: "anything.example/x"))
    }

    @Test func authenticationFailuresAreRecognised() {
        #expect(DockerPlan.isAuthenticationFailure("Head \"http://127.0.0.1:5000/v2/vamp/bbox/manifests/1.0\": no basic auth credentials"))
        #expect(DockerPlan.isAuthenticationFailure("unauthorized: authentication required"))
        #expect(!DockerPlan.isAuthenticationFailure("dial tcp 127.0.0.1:1: connect: connection refused"))
    }

    @Test func eventsThatMatterAreOwnedContainersStartingDyingOrGoing() throws {
        func event(_ action: String, type: String = "container", labels: [String: String] = ["io.vamp": "deployment-service", "io.vamp.namespace": "default"]) throws -> Substring {
            var attributes = labels
            attributes["image"] = "localhost/bbox:latest"
            attributes["exitCode"] = "137"
            let object: [String: Any] = [
                "status": action, "id": "abc", "Type": type, "Action": action,
                "Actor": ["ID": "abc", "Attributes": attributes], "scope": "local", "time": 1, "timeNano": 1,
            ]
            return Substring(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        }
        for action in ["start", "die", "destroy", "restart", "oom", "health_status: unhealthy"] {
            #expect(DockerPlan.eventMatters(try event(action)), "\(action)")
        }
        for action in ["create", "attach", "exec_start: sh", "kill", "resize"] { #expect(!DockerPlan.eventMatters(try event(action)), "\(action)") }
        #expect(!DockerPlan.eventMatters(try event("die", type: "network")))
        #expect(!DockerPlan.eventMatters(try event("die", labels: ["io.vamp": "workflow", "io.vamp.namespace": "other"])))
        #expect(DockerPlan.eventMatters(try event("die", labels: ["io.vamp": "workflow", "io.vamp.namespace": "other"]), namespace: "other"))
        #expect(!DockerPlan.eventMatters(try event("die", labels: [:])))
        #expect(!DockerPlan.eventMatters("not json"))
        let filters = try JSONSerialization.jsonObject(with: Data(DockerPlan.eventFilters(namespace: "ns").utf8)) as? [String: [String]]
        #expect(filters == ["label": ["io.vamp", "io.vamp.namespace=ns"], "type": ["container"]])
    }

    @Test func defaultHostHonoursDockerHost() {
        #expect(DockerDriver.Configuration.defaultHost(environment: [:]) == "unix:///var/run/docker.sock")
        #expect(DockerDriver.Configuration.defaultHost(environment: ["DOCKER_HOST": "unix:///tmp/d.sock"]) == "unix:///tmp/d.sock")
    }
}
