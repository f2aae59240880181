@testable import ContainerDrivers
import Foundation
import Logging
import Testing
import VampModel
import VampTesting

/// ``MarathonDriver`` against ``FakeMarathonServer``, a FAKE Marathon that follows the REST API v2 documentation (no
/// Marathon can be installed here): real HTTP, the documented bodies, error shapes, locks and task life cycle. What
/// these tests cannot show is how a real Marathon and Mesos schedule and run the apps.
@Suite("MarathonDriver against a fake Marathon", .serialized)
struct MarathonDriverTests {
    static func withFake(
        credentials: FakeMarathonServer.Credentials = .none, driverCredentials: MarathonDriver.Configuration.Credentials? = nil,
        namespace: String = "default", _ body: (FakeMarathonServer, MarathonDriver) async throws -> Void
    ) async throws {
        let fake = try await FakeMarathonServer.start(credentials: credentials)
        fake.startDelay = 0.1
        var logger = Logger(label: "marathon-driver-test")
        logger.logLevel = .debug
        let given: MarathonDriver.Configuration.Credentials
        switch (driverCredentials, credentials) {
        case (let explicit?, _): given = explicit
        case (nil, .none): given = .none
        case (nil, .basic(let user, let password)): given = .basic(user: user, password: password)
        case (nil, .token(let token)): given = .token(token)
        }
        do {
            let driver = try MarathonDriver(
                configuration: .init(url: fake.url + "/", credentials: given, namespace: namespace, pollInterval: .milliseconds(200)), logger: logger)
            try await withRunning(driver) { try await body(fake, $0) }
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    static func sava(
        instances: Int = 2, greeting: String = "hello", type: String = "container/docker",
        definition: String = "magneticio/sava:1.0.0", checks: [HealthCheck] = [], dialects: [String: JSONValue] = [:]
    ) -> ServiceSpecification {
        ServiceSpecification(
            id: ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava:1.0"),
            breed: Breed(
                name: "sava:1.0", deployable: Deployable(type: type, definition: definition),
                ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "admin", number: 8081)]),
            scale: Scale(cpu: CPU(cores: 0.2)!, memory: Memory(megabytes: 128)!, instances: instances),
            environment: ["GREETING": greeting], healthChecks: checks, dialects: dialects)
    }

    static let appID = MarathonPlan.appID(ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava:1.0"), namespace: "default")

    static func eventually(within timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    static func allDeployed(_ driver: MarathonDriver, _ count: Int) async throws -> Bool {
        let instances = try await driver.services().first?.instances ?? []
        return instances.count == count && instances.allSatisfy(\.deployed)
    }

    @Test func deploysTwoInstancesReportedWithTheFakesTasks() async throws {
        try await Self.withFake { fake, driver in
            // Long enough that the staged tasks are seen before they start, even on a loaded machine.
            fake.startDelay = 1.5
            let spec = Self.sava()
            try await driver.deploy(spec, update: false)
            #expect(fake.appIDs == [Self.appID])
            let posted = try #require(fake.requests("POST").first?.json)
            #expect(posted["id"] as? String == Self.appID)
            #expect(posted["instances"] as? Int == 2)
            #expect((posted["labels"] as? [String: String])?["io.vamp.digest"] == spec.digest)

            // Staged first: reported, not deployed.
            let staged = try await driver.services()
            #expect(staged.first?.instances.count == 2)
            #expect(staged.first?.instances.allSatisfy { !$0.deployed } == true)
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })

            let service = try #require(try await driver.services().first)
            #expect(service.id == spec.id)
            #expect(service.id.kind == .service)
            #expect(service.digest == spec.digest)
            #expect(service.desiredInstances == 2)
            let tasks = fake.tasks(of: Self.appID)
            #expect(Set(service.instances.map(\.name)) == Set(tasks.map(\.id)))
            for instance in service.instances {
                let task = try #require(tasks.first { $0.id == instance.name })
                #expect(instance.host == "127.0.0.1")
                #expect(instance.ports == ["web": task.ports[0], "admin": task.ports[1]])
            }
            #expect(Set(service.instances.flatMap { $0.ports.values }).count == 4)

            // The list call is the documented one.
            let list = try #require(fake.requests("GET").last { $0.path == "/v2/apps" })
            #expect(list.query.filter { $0.name == "embed" }.map(\.value) == ["apps.tasks", "apps.taskStats"])
            #expect(list.query.first { $0.name == "label" }?.value == "io.vamp")

            let info = try await driver.info()
            #expect(info.type == "marathon")
            #expect(info.details["version"] == .string("1.10.17-fake"))
            #expect(info.details["apps"] == .number(1))
            #expect(info.details["tasks"]?.value(atPath: "running") == .number(2))
        }
    }

    @Test func scalesWithInstancesAloneReplacesOnDigestChangeAndSendsNothingWhenUnchanged() async throws {
        try await Self.withFake { fake, driver in
            var spec = Self.sava()
            try await driver.deploy(spec, update: false)
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
            let firstTasks = Set(fake.tasks(of: Self.appID).map(\.id))

            // An unchanged redeploy: a GET, no PUT.
            fake.clearRequests()
            try await driver.deploy(spec, update: true)
            #expect(fake.requests("PUT").isEmpty)
            #expect(fake.requests("POST").isEmpty)
            // update: false on an app that exists: the 409 "already exists" becomes an update, which is empty too.
            try await driver.deploy(spec, update: false)
            #expect(fake.requests("POST").count == 1)
            #expect(fake.requests("POST").first?.status == 409)
            #expect(fake.requests("PUT").isEmpty)

            // Scale to 3: a PUT with only `instances`; the two tasks stay.
            fake.clearRequests()
            spec.scale.instances = 3
            try await driver.deploy(spec, update: true)
            let puts = fake.requests("PUT")
            #expect(puts.count == 1)
            #expect(puts.first?.path == "/v2/apps" + Self.appID)
            #expect(puts.first.map { String(decoding: $0.body, as: UTF8.self) } == #"{"instances":3}"#)
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })
            #expect(firstTasks.isSubset(of: Set(fake.tasks(of: Self.appID).map(\.id))))
            #expect(try await driver.services().first?.desiredInstances == 3)

            // A digest change: the changed fields with the new digest label; every task replaced.
            fake.clearRequests()
            spec.environment["GREETING"] = "changed"
            try await driver.deploy(spec, update: true)
            let change = try #require(fake.requests("PUT").first?.json)
            #expect(Set(change.keys) == ["env", "labels"])
            #expect((change["env"] as? [String: String]) == ["GREETING": "changed"])
            #expect((change["labels"] as? [String: String])?["io.vamp.digest"] == spec.digest)
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })
            #expect(Set(fake.tasks(of: Self.appID).map(\.id)).isDisjoint(with: firstTasks))
            #expect(try await driver.services().first?.digest == spec.digest)
        }
    }

    @Test func aKilledTaskIsReplacedAndNoticesEveryListener() async throws {
        try await Self.withFake { fake, driver in
            try await countingNotices(of: driver) { (first) async throws in
                try await countingNotices(of: driver) { (second) async throws in
                    try await driver.deploy(Self.sava(), update: false)
                    #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                    try await Task.sleep(for: .milliseconds(500))
                    let before = (await first.count, await second.count)
                    let victim = try #require(fake.tasks(of: Self.appID).first)
                    #expect(fake.killTask(victim.id))
                    let instances = try await driver.services().first?.instances ?? []
                    #expect(instances.count == 2)
                    #expect(!instances.contains { $0.name == victim.id })
                    #expect(instances.contains { !$0.deployed })
                    #expect(await Self.eventually(within: .seconds(5)) {
                        let counts = (await first.count, await second.count)
                        return counts.0 > before.0 && counts.1 > before.1
                    })
                    #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                }
            }
        }
    }

    /// The poll is the driver's only background work: it runs while run() does, and Marathon hears nothing after.
    @Test func thePollStopsWithRun() async throws {
        let fake = try await FakeMarathonServer.start()
        do {
            let driver = try MarathonDriver(configuration: .init(url: fake.url, pollInterval: .milliseconds(50)), logger: Logger(label: "marathon-poll-test"))
            // Made, not run: nothing is called.
            try await Task.sleep(for: .milliseconds(200))
            #expect(fake.requests.isEmpty)
            let notices = try await withRunning(driver) { (driver) async throws in
                #expect(await Self.eventually { fake.requests.count >= 3 })
                return driver.changeNotices()
            }
            let count = fake.requests.count
            // An absence: ten poll intervals without a request.
            try await Task.sleep(for: .milliseconds(500))
            #expect(fake.requests.count == count)
            var iterator = notices.makeAsyncIterator()
            #expect(await iterator.next() == nil, "the notices go on after run() ended")
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test func aLockedAppIsForcedAndTheChangeReported() async throws {
        try await Self.withFake { fake, driver in
            fake.lockDuration = 30
            var spec = Self.sava()
            try await driver.deploy(spec, update: false)
            fake.clearRequests()
            spec.scale.instances = 3
            try await driver.deploy(spec, update: true)
            let puts = fake.requests("PUT")
            #expect(puts.map(\.status) == [409, 200])
            #expect(puts.first?.query.isEmpty == true)
            #expect(puts.last?.query.map(\.name) == ["force"])
            #expect(puts.last?.query.first?.value == "true")
            #expect(fake.tasks(of: Self.appID).count == 3)

            // Undeploy of a locked app: forced too.
            fake.clearRequests()
            try await driver.undeploy(spec.id)
            #expect(fake.requests("DELETE").map(\.status) == [409, 200])
            #expect(fake.appIDs.isEmpty)
        }
    }

    @Test func undeployTwiceIsFine() async throws {
        try await Self.withFake { fake, driver in
            let spec = Self.sava()
            try await driver.deploy(spec, update: false)
            try await driver.undeploy(spec.id)
            #expect(fake.appIDs.isEmpty)
            try await driver.undeploy(spec.id)
            #expect(fake.requests("DELETE").map(\.status) == [200, 404])
            #expect(try await driver.services().isEmpty)
        }
    }

    @Test func aWorkflowDaemonHasItsOwnIdAndLabels() async throws {
        try await Self.withFake { fake, driver in
            let service = Self.sava()
            try await driver.deploy(service, update: false)
            var daemon = Self.sava(instances: 1, type: "command", definition: "vamp-workflow-agent --port $PORT0")
            daemon.id = .workflow("health", breed: "vamp-workflow-agent:1.0")
            try await driver.deploy(daemon, update: false)
            #expect(fake.appIDs == ["/default/deployment-shop-service-\(MarathonPlan.segment("sava:1.0"))", "/default/workflow-health"])
            let labels = try #require(fake.app("/default/workflow-health")?["labels"] as? [String: String])
            #expect(labels["io.vamp"] == "workflow")
            #expect(labels["io.vamp.workflow"] == "health")
            #expect(labels["io.vamp.breed"] == "vamp-workflow-agent:1.0")
            #expect(labels["io.vamp.deployment"] == nil)

            #expect(try await Self.eventually { try await driver.services().allSatisfy { $0.instances.allSatisfy(\.deployed) } })
            let services = try await driver.services()
            #expect(services.count == 2)
            let workflow = try #require(services.first { $0.id.kind == .workflow })
            #expect(workflow.id == daemon.id)
            #expect(workflow.id.workflow == "health")
            #expect(workflow.instances.count == 1)
            #expect(workflow.digest == daemon.digest)
            let deployment = try #require(services.first { $0.id.kind == .service })
            #expect(deployment.id == service.id)
            #expect(deployment.instances.count == 2)

            try await driver.undeploy(daemon.id)
            #expect(fake.appIDs == [Self.appID])
            #expect(try await driver.services().map(\.id) == [service.id])
        }
    }

    @Test func anotherNamespacesAppsAreNotSeen() async throws {
        try await Self.withFake(namespace: "team-a") { fake, driver in
            try await driver.deploy(Self.sava(), update: false)
            #expect(fake.appIDs.first?.hasPrefix("/team-a/") == true)
            let other = try MarathonDriver(configuration: .init(url: fake.url, namespace: "team-b"), logger: Logger(label: "other"))
            #expect(try await other.services().isEmpty)
            #expect(try await driver.services().count == 1)
        }
    }

    @Test func wrongCredentialsFailPermanentlyNamingThem() async throws {
        try await Self.withFake(credentials: .basic(user: "vamp", password: "secret"), driverCredentials: .basic(user: "vamp", password: "wrong")) { fake, driver in
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(Self.sava(), update: false) }
            print("marathon: wrong credentials: \(error?.message ?? "no error")")
            #expect(error?.permanent == true)
            #expect(error?.message.contains("user 'vamp'") == true)
            #expect(error?.message.contains("401") == true)
            #expect(error?.message.contains("Invalid username or password.") == true)
            #expect(fake.appIDs.isEmpty)
            await #expect(throws: ContainerDriverError.self) { try await driver.services() }
        }
        try await Self.withFake(credentials: .token("t0k3n"), driverCredentials: .token("other")) { _, driver in
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.services() }
            #expect(error?.permanent == true)
            #expect(error?.message.contains("DC/OS token") == true)
        }
        // The right ones work, both kinds; the fake checked the header.
        try await Self.withFake(credentials: .basic(user: "vamp", password: "secret")) { fake, driver in
            try await driver.deploy(Self.sava(), update: false)
            #expect(fake.appIDs.count == 1)
        }
        try await Self.withFake(credentials: .token("t0k3n")) { fake, driver in
            try await driver.deploy(Self.sava(), update: false)
            #expect(fake.appIDs.count == 1)
        }
    }

    @Test func healthChecksAreSentAndGateDeployed() async throws {
        try await Self.withFake { fake, driver in
            let check = HealthCheck(
                path: "/health", port: "admin", initialDelay: TimeValue(seconds: 15)!, timeout: TimeValue(seconds: 3)!,
                interval: TimeValue(seconds: 5)!, failures: 4)
            fake.healthy = false
            try await driver.deploy(Self.sava(checks: [check]), update: false)
            let posted = try #require(fake.requests("POST").first?.json)
            let checks = try #require(posted["healthChecks"] as? [[String: Any]])
            #expect(checks.count == 1)
            #expect(checks.first?["protocol"] as? String == "HTTP")
            #expect(checks.first?["path"] as? String == "/health")
            #expect(checks.first?["portIndex"] as? Int == 1)
            #expect(checks.first?["gracePeriodSeconds"] as? Int == 15)
            #expect(checks.first?["intervalSeconds"] as? Int == 5)
            #expect(checks.first?["timeoutSeconds"] as? Int == 3)
            #expect(checks.first?["maxConsecutiveFailures"] as? Int == 4)
            // Started but unhealthy: not deployed.
            #expect(await Self.eventually { fake.tasks(of: Self.appID).allSatisfy(\.started) })
            #expect(try await driver.services().first?.instances.allSatisfy { !$0.deployed } == true)
            fake.healthy = true
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
        }
    }

    @Test func theMarathonDialectIsMergedIntoTheApp() async throws {
        try await Self.withFake { fake, driver in
            let dialect: JSONValue = .object([
                "container": .object(["docker": .object(["forcePullImage": .bool(true)])]),
                "labels": .object(["HAPROXY_GROUP": .string("external")]),
                "acceptedResourceRoles": .array([.string("slave_public")]),
            ])
            try await driver.deploy(Self.sava(dialects: ["marathon": dialect]), update: false)
            let posted = try #require(fake.requests("POST").first?.json)
            let docker = try #require((posted["container"] as? [String: Any])?["docker"] as? [String: Any])
            #expect(docker["forcePullImage"] as? Bool == true)
            #expect(docker["image"] as? String == "magneticio/sava:1.0.0")
            #expect(docker["network"] as? String == "BRIDGE")
            let labels = try #require(posted["labels"] as? [String: String])
            #expect(labels["HAPROXY_GROUP"] == "external")
            #expect(labels["io.vamp"] == "deployment-service")
            #expect(posted["acceptedResourceRoles"] as? [String] == ["slave_public"])
            // Redeploying the same dialect changes nothing.
            fake.clearRequests()
            try await driver.deploy(Self.sava(dialects: ["marathon": dialect]), update: true)
            #expect(fake.requests("PUT").isEmpty)
        }
    }

    @Test func aCommandBreedRunsAsCmdWithPortDefinitions() async throws {
        try await Self.withFake { fake, driver in
            try await driver.deploy(Self.sava(type: "cmd", definition: "sava --port $PORT_WEB --text \"$GREETING\""), update: false)
            let posted = try #require(fake.requests("POST").first?.json)
            #expect(posted["cmd"] as? String == "sava --port $PORT_WEB --text \"$GREETING\"")
            #expect(posted["container"] == nil)
            let definitions = try #require(posted["portDefinitions"] as? [[String: Any]])
            #expect(definitions.map { $0["port"] as? Int } == [0, 0])
            #expect(definitions.map { $0["name"] as? String } == ["web", "admin"])
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
            let instance = try #require(try await driver.services().first?.instances.first)
            #expect(Set(instance.ports.keys) == ["web", "admin"])
            // The fake shows the service ports it assigned (10000, 10001) where port 0 was asked: not a change.
            fake.clearRequests()
            try await driver.deploy(Self.sava(type: "cmd", definition: "sava --port $PORT_WEB --text \"$GREETING\""), update: true)
            #expect(fake.requests("PUT").isEmpty)
        }
    }

    @Test func marathonsValidationErrorsArePermanentAndQuoted() async throws {
        try await Self.withFake { fake, driver in
            // An app the fake refuses the way Marathon would (422 with details): a dialect that breaks the id.
            let error = await #expect(throws: ContainerDriverError.self) {
                try await driver.deploy(Self.sava(dialects: ["marathon": .object(["id": .string("/Bad_Id")])]), update: false)
            }
            print("marathon: 422: \(error?.message ?? "no error")")
            #expect(error?.permanent == true)
            #expect(error?.message.contains("422") == true)
            #expect(error?.message.contains("Object is not valid (/id:") == true)
            #expect(fake.appIDs.isEmpty)

            // A breed the driver does not run.
            let unsupported = await #expect(throws: ContainerDriverError.self) {
                try await driver.deploy(Self.sava(type: "application/javascript", definition: "x"), update: false)
            }
            #expect(unsupported?.permanent == true)
        }
    }

    @Test func anAppWithTheIdThatIsNotVampsIsLeftAlone() async throws {
        try await Self.withFake { fake, driver in
            // Someone else's app on the service's id (created behind Vamp's back).
            var other = Self.sava()
            other.id = ServiceIdentity(deployment: "shop", cluster: "other-cluster", service: "sava:1.0")
            try await driver.deploy(other, update: false)
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(Self.sava(), update: true) }
            #expect(error?.permanent == true)
            #expect(error?.message.contains(Self.appID) == true)
            #expect(fake.requests("PUT").isEmpty)
        }
    }

    @Test func marathonThatCannotBeReachedIsATransientError() async throws {
        let port = try FreePort.next()
        let driver = try MarathonDriver(configuration: .init(url: "http://127.0.0.1:\(port)", requestTimeout: .seconds(2)), logger: Logger(label: "unreachable"))
        let error = await #expect(throws: ContainerDriverError.self) { try await driver.services() }
        #expect(error?.permanent == false)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(error?.cause != nil, "the connection's error is kept")
        let bad = #expect(throws: ContainerDriverError.self) { try MarathonDriver(configuration: .init(url: "marathon:8080"), logger: Logger(label: "bad")) }
        #expect(bad?.permanent == true)
    }
}
