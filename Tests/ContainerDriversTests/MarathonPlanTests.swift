@testable import ContainerDrivers
import Foundation
import Testing
import VampModel

/// ``MarathonPlan`` with plain values: ids, app definitions, update diffs, the reading of Marathon's JSON.
@Suite("MarathonPlan")
struct MarathonPlanTests {
    static func spec(
        type: String = "container/docker", definition: String = "magneticio/sava:1.0.0", instances: Int = 2,
        ports: [BreedPort] = [BreedPort(name: "web", number: 8080)], checks: [HealthCheck] = [],
        arguments: [RunArgument] = [], dialects: [String: JSONValue] = [:], id: ServiceIdentity? = nil
    ) -> ServiceSpecification {
        ServiceSpecification(
            id: id ?? ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava:1.0"),
            breed: Breed(name: "sava:1.0", deployable: Deployable(type: type, definition: definition), ports: ports),
            scale: Scale(cpu: CPU(cores: 0.2)!, memory: Memory(megabytes: 256)!, instances: instances),
            environment: ["GREETING": "hi"], arguments: arguments, healthChecks: checks, dialects: dialects)
    }

    static func object(_ value: JSONValue?) -> [String: JSONValue] {
        if case .object(let object)? = value { return object }
        return [:]
    }

    @Test func legalSegmentsFollowMarathonsPattern() {
        for legal in ["shop", "a", "sava-1", "sava.1.0", "0day", "a-b.c-d"] { #expect(MarathonPlan.isLegalSegment(legal), "\(legal)") }
        for illegal in ["", "Shop", "sava:1.0", "-a", "a-", "a..b", ".a", "a.", "a_b", "a/b", "a-.b", "ü"] {
            #expect(!MarathonPlan.isLegalSegment(illegal), "\(illegal)")
        }
    }

    @Test func appIDsOfServicesAndWorkflowsWithIllegalNamesHashed() {
        let service = ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava")
        #expect(MarathonPlan.appID(service, namespace: "default") == "/default/deployment-shop-service-sava")
        let versioned = ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava:1.0")
        let hash = String(SHA1.hex("sava:1.0").prefix(20))
        #expect(MarathonPlan.appID(versioned, namespace: "team-a") == "/team-a/deployment-shop-service-\(hash)")
        #expect(MarathonPlan.appID(.workflow("health", breed: "vamp-workflow:1"), namespace: "default") == "/default/workflow-health")
        #expect(MarathonPlan.segment(String(repeating: "a", count: 64)) == String(SHA1.hex(String(repeating: "a", count: 64)).prefix(20)))
        // Every id the plan makes passes Marathon's pattern, segment by segment.
        for id in [versioned, .workflow("Upper Case", breed: "x")] {
            let segments = MarathonPlan.appID(id, namespace: "Name Space").split(separator: "/").map(String.init)
            #expect(segments.count == 2 && segments.allSatisfy(MarathonPlan.isLegalSegment))
        }
    }

    @Test func dockerAppBody() throws {
        let spec = Self.spec(
            ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "admin_port", number: 9090), BreedPort(name: "later", number: nil)],
            arguments: [RunArgument(key: "privileged", value: "true"), RunArgument(key: "log-driver", value: "json-file")])
        let app = try MarathonPlan.app(spec, options: .init(namespace: "default", constraints: [["hostname", "UNIQUE"]]))
        let body = Self.object(app)
        #expect(body["id"] == .string(MarathonPlan.appID(spec.id, namespace: "default")))
        #expect(body["instances"] == .number(2))
        #expect(body["cpus"]?.doubleValue == 0.2)
        #expect(body["mem"] == .number(256))
        #expect(body["env"] == .object(["GREETING": .string("hi")]))
        #expect(body["cmd"] == nil)
        #expect(body["constraints"] == .array([.array([.string("hostname"), .string("UNIQUE")])]))
        let labels = try #require(MarathonPlan.stringMap(body["labels"]))
        #expect(labels == [
            "io.vamp": "deployment-service", "io.vamp.deployment": "shop", "io.vamp.cluster": "frontend", "io.vamp.service": "sava:1.0",
            "io.vamp.digest": spec.digest, "io.vamp.ports": "web,admin_port",
        ])
        let docker = Self.object(app.value(atPath: "container.docker"))
        #expect(app.value(atPath: "container.type") == .string("DOCKER"))
        #expect(docker["image"] == .string("magneticio/sava:1.0.0"))
        #expect(docker["network"] == .string("BRIDGE"))
        #expect(docker["privileged"] == .bool(true))
        #expect(docker["parameters"] == .array([.object(["key": .string("log-driver"), "value": .string("json-file")])]))
        #expect(docker["portMappings"] == .array([
            .object(["containerPort": .number(8080), "hostPort": .number(0), "protocol": .string("tcp"), "name": .string("web")]),
            // `admin_port` is not a legal Marathon port name: the mapping is there, unnamed.
            .object(["containerPort": .number(9090), "hostPort": .number(0), "protocol": .string("tcp")]),
        ]))
    }

    @Test func commandAppBodyUsesCmdAndPortDefinitions() throws {
        let spec = Self.spec(
            type: "cmd", definition: "sava --port $PORT0 --text \"$GREETING\"",
            ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "metrics", number: nil)])
        let body = Self.object(try MarathonPlan.app(spec, options: .init()))
        #expect(body["cmd"] == .string("sava --port $PORT0 --text \"$GREETING\""))
        #expect(body["container"] == nil)
        #expect(body["portDefinitions"] == .array([
            .object(["port": .number(0), "protocol": .string("tcp"), "name": .string("web")]),
            .object(["port": .number(0), "protocol": .string("tcp"), "name": .string("metrics")]),
        ]))
        #expect(MarathonPlan.stringMap(body["labels"])?["io.vamp.ports"] == "web,metrics")
    }

    @Test func healthChecksAreMapped() throws {
        let check = HealthCheck(
            path: "health", port: "admin", initialDelay: TimeValue(seconds: 30)!, timeout: TimeValue(seconds: 4)!,
            interval: TimeValue(seconds: 10)!, failures: 5, protocol: .https)
        let spec = Self.spec(ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "admin", number: 8081)], checks: [check])
        let app = try MarathonPlan.app(spec, options: .init())
        #expect(app.value(atPath: "healthChecks") == .array([.object([
            "protocol": .string("HTTPS"), "path": .string("/health"), "portIndex": .number(1), "gracePeriodSeconds": .number(30),
            "intervalSeconds": .number(10), "timeoutSeconds": .number(4), "maxConsecutiveFailures": .number(5),
        ])]))
        var wrong = check
        wrong.port = "nope"
        let error = #expect(throws: ContainerDriverError.self) { try MarathonPlan.app(Self.spec(checks: [wrong]), options: .init()) }
        #expect(error?.permanent == true)
        #expect(error?.message.contains("'nope'") == true)
    }

    @Test func dialectIsMergedDeeply() throws {
        let dialect: JSONValue = .object([
            "container": .object(["docker": .object(["forcePullImage": .bool(true), "network": .string("HOST")])]),
            "labels": .object(["HAPROXY_GROUP": .string("external")]),
            "instances": .number(5),
        ])
        let app = try MarathonPlan.app(Self.spec(dialects: ["marathon": dialect]), options: .init())
        #expect(app.value(atPath: "container.docker.forcePullImage") == .bool(true))
        #expect(app.value(atPath: "container.docker.network") == .string("HOST"))
        #expect(app.value(atPath: "container.docker.image") == .string("magneticio/sava:1.0.0"))
        #expect(app.value(atPath: "labels.HAPROXY_GROUP") == .string("external"))
        #expect(MarathonPlan.stringMap(app.value(atPath: "labels"))?["io.vamp"] == "deployment-service")
        #expect(app.value(atPath: "instances") == .number(5))
        let error = #expect(throws: ContainerDriverError.self) {
            try MarathonPlan.app(Self.spec(dialects: ["marathon": .string("nope")]), options: .init())
        }
        #expect(error?.permanent == true)
    }

    @Test func changedFieldsIgnoreMarathonsDefaultsAndSeeRemovals() throws {
        let desired = try MarathonPlan.app(Self.spec(), options: .init())
        // What Marathon reports: the same app with defaults and runtime fields added, numbers as floats.
        var current = Self.object(desired)
        current["version"] = .string("2026-12-02T06:00:00.000Z")
        current["disk"] = .number(0)
        current["cpus"] = .number("0.20")
        current["tasks"] = .array([])
        var docker = Self.object(desired.value(atPath: "container.docker"))
        docker["forcePullImage"] = .bool(false)
        docker["portMappings"] = .array([.object([
            "containerPort": .number(8080), "hostPort": .number(0), "protocol": .string("tcp"), "name": .string("web"), "servicePort": .number(10000),
        ])])
        current["container"] = .object(["type": .string("DOCKER"), "docker": .object(docker), "volumes": .array([])])
        #expect(MarathonPlan.changedFields(current: .object(current), desired: desired).isEmpty)

        var scaled = Self.spec()
        scaled.scale.instances = 3
        #expect(MarathonPlan.changedFields(current: .object(current), desired: try MarathonPlan.app(scaled, options: .init())) == ["instances": .number(3)])

        // A variable that is gone is a change, so is a label; the whole field is sent.
        var extra = current
        extra["env"] = .object(["GREETING": .string("hi"), "OLD": .string("x")])
        let changes = MarathonPlan.changedFields(current: .object(extra), desired: desired)
        #expect(changes == ["env": .object(["GREETING": .string("hi")])])

        var changed = Self.spec()
        changed.environment["GREETING"] = "bye"
        let digestChange = MarathonPlan.changedFields(current: .object(current), desired: try MarathonPlan.app(changed, options: .init()))
        #expect(Set(digestChange.keys) == ["env", "labels"])
        #expect(MarathonPlan.stringMap(digestChange["labels"])?["io.vamp.digest"] == changed.digest)
    }

    @Test func assignedPortsAreNotChanges() throws {
        let desired = try MarathonPlan.app(Self.spec(type: "cmd", definition: "sava"), options: .init())
        var current = Self.object(desired)
        current["portDefinitions"] = .array([.object(["port": .number(10000), "protocol": .string("tcp"), "name": .string("web"), "labels": .object([:])])])
        #expect(MarathonPlan.changedFields(current: .object(current), desired: desired).isEmpty)
        current["portDefinitions"] = .array([])
        #expect(Set(MarathonPlan.changedFields(current: .object(current), desired: desired).keys) == ["portDefinitions"])
    }

    @Test func runtimeServiceFromAnAppOfTheList() {
        let app: JSONValue = .object([
            "id": .string("/default/deployment-shop-service-sava"),
            "instances": .number(3),
            "labels": .object([
                "io.vamp": .string("deployment-service"), "io.vamp.deployment": .string("shop"), "io.vamp.cluster": .string("frontend"),
                "io.vamp.service": .string("sava"), "io.vamp.digest": .string("abc"), "io.vamp.ports": .string("web,admin"),
            ]),
            "healthChecks": .array([.object(["protocol": .string("HTTP")])]),
            "tasks": .array([
                .object([
                    "id": .string("t1"), "host": .string("10.0.0.1"), "ports": .array([.number(31000), .number(31001)]),
                    "state": .string("TASK_RUNNING"), "startedAt": .string("2026-12-02T06:00:00.000Z"),
                    "healthCheckResults": .array([.object(["alive": .bool(true)])]),
                ]),
                .object(["id": .string("t2"), "host": .string("10.0.0.2"), "ports": .array([.number(31002), .number(31003)]), "state": .string("TASK_STAGING")]),
                .object([
                    "id": .string("t3"), "host": .string("10.0.0.3"), "ports": .array([.number(31004), .number(31005)]),
                    "state": .string("TASK_RUNNING"), "startedAt": .string("2026-12-02T06:00:00.000Z"),
                    "healthCheckResults": .array([.object(["alive": .bool(false)])]),
                ]),
            ]),
        ])
        let service = MarathonPlan.runtimeService(app, namespace: "default")
        #expect(service?.id == ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava"))
        #expect(service?.digest == "abc")
        #expect(service?.desiredInstances == 3)
        #expect(service?.instances == [
            Instance(name: "t1", host: "10.0.0.1", ports: ["web": 31000, "admin": 31001], deployed: true),
            Instance(name: "t2", host: "10.0.0.2", ports: ["web": 31002, "admin": 31003], deployed: false),
            Instance(name: "t3", host: "10.0.0.3", ports: ["web": 31004, "admin": 31005], deployed: false),
        ])
        // Another namespace's app, or one without Vamp's labels, is not a service.
        #expect(MarathonPlan.runtimeService(app, namespace: "other") == nil)
        guard case .object(var bare) = app else { return }
        bare["labels"] = .object([:])
        #expect(MarathonPlan.runtimeService(.object(bare), namespace: "default") == nil)

        let workflow = OwnershipLabel.identity(["io.vamp": "workflow", "io.vamp.workflow": "health", "io.vamp.breed": "agent"])
        #expect(workflow == .workflow("health", breed: "agent"))
        #expect(workflow?.kind == .workflow)
    }

    @Test func errorBodiesAreQuoted() {
        let invalid = Data(#"{"message":"Object is not valid","details":[{"path":"/id","errors":["bad id","too long"]},{"path":"/mem","errors":["error.min"]}]}"#.utf8)
        #expect(MarathonPlan.errorMessage(invalid) == "Object is not valid (/id: bad id, too long; /mem: error.min)")
        #expect(MarathonPlan.errorMessage(Data(#"{"message":"App '/x' does not exist"}"#.utf8)) == "App '/x' does not exist")
        #expect(MarathonPlan.errorMessage(Data("<html>Bad Gateway</html>\n".utf8)) == "<html>Bad Gateway</html>")
        let locked = Data(#"{"message":"App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.","deployments":[{"id":"97c1"}]}"#.utf8)
        #expect(MarathonPlan.isLocked(locked))
        #expect(!MarathonPlan.isLocked(Data(#"{"message":"An app with id [/x] already exists."}"#.utf8)))
    }

    @Test func taskCountsFromTaskStats() {
        let app: JSONValue = .object(["taskStats": .object(["totalSummary": .object(["stats": .object(["counts": .object([
            "staged": .number(1), "running": .number(2), "healthy": .number(2), "unhealthy": .number(0),
        ])])])])])
        #expect(MarathonPlan.taskCounts(app) == ServiceHealth(staged: 1, running: 2, healthy: 2, unhealthy: 0))
        #expect(MarathonPlan.taskCounts(.object([:])) == ServiceHealth(staged: 0, running: 0, healthy: 0, unhealthy: 0))
    }
}
