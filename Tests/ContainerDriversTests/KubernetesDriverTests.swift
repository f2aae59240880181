@testable import ContainerDrivers
import Foundation
import Logging
import Testing
import VampModel
import VampTesting

/// ``KubernetesDriver`` against ``FakeKubernetesAPIServer``, a **fake** API server (no real Kubernetes can run here)
/// that follows the documented API: HTTPS with its own CA, a bearer token, apps/v1 Deployments with resourceVersion
/// conflicts, pods its fake ReplicaSets make, Services, Status errors.
@Suite("KubernetesDriver against the fake API server", .serialized)
struct KubernetesDriverTests {
    static func withFake(
        namespace: String = "default", token: String? = nil, _ body: (FakeKubernetesAPIServer, KubernetesDriver) async throws -> Void
    ) async throws {
        let fake = try await FakeKubernetesAPIServer.start()
        fake.readyDelay = .milliseconds(300)
        var logger = Logger(label: "kubernetes-driver-test")
        logger.logLevel = .debug
        do {
            let folder = fake.folder.url
            let tokenFile = folder.appendingPathComponent("token").path
            try (token ?? fake.token).write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let configuration = KubernetesDriver.Configuration(
                url: fake.url, tokenFile: tokenFile, caCertificateFile: fake.caCertificateFile, namespace: namespace,
                pollInterval: .milliseconds(200))
            let driver = try KubernetesDriver(configuration: configuration, logger: logger)
            try await withRunning(driver) { try await body(fake, $0) }
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    static func sava(instances: Int = 2, greeting: String = "hello", checks: [HealthCheck] = [], dialects: [String: JSONValue] = [:]) -> ServiceSpecification {
        ServiceSpecification(
            id: ServiceIdentity(deployment: "shop", cluster: "frontend", service: "sava:1.0"),
            breed: Breed(name: "sava:1.0", deployable: Deployable(type: "docker", definition: "magneticio/sava:1.0"), ports: [BreedPort(name: "web", number: 8080)]),
            scale: Scale(cpu: CPU(cores: 0.2)!, memory: Memory(megabytes: 64)!, instances: instances),
            environment: ["GREETING": greeting], healthChecks: checks, dialects: dialects)
    }

    static func eventually(within timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    static func service(_ driver: KubernetesDriver, _ id: ServiceIdentity) async throws -> RuntimeService? {
        try await driver.services().first { $0.id == id }
    }

    static func deployed(_ driver: KubernetesDriver, _ id: ServiceIdentity, _ count: Int, digest: String? = nil) async throws -> Bool {
        guard let service = try await service(driver, id) else { return false }
        return service.instances.count == count && service.instances.allSatisfy(\.deployed) && (digest == nil || service.digest == digest)
    }

    static func body(_ request: FakeKubernetesAPIServer.Request) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any] ?? [:]
    }

    @Test func deploysTwoReplicasThatBecomeInstancesOnceRunningAndReady() async throws {
        try await Self.withFake { fake, driver in
            let spec = Self.sava()
            let name = KubernetesPlan.deploymentName(spec.id)
            try await driver.deploy(spec, update: false)
            // Just created: the pods are Pending, so they are instances that are not deployed.
            let early = try #require(try await Self.service(driver, spec.id))
            #expect(early.instances.count == 2)
            #expect(early.instances.allSatisfy { !$0.deployed })
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 2) })
            let service = try #require(try await Self.service(driver, spec.id))
            #expect(service.digest == spec.digest)
            #expect(service.desiredInstances == 2)
            let pods = fake.pods()
            let podNames = pods.compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String }
            #expect(Set(service.instances.map(\.name)) == Set(podNames))
            let ips = pods.compactMap { ($0["status"] as? [String: Any])?["podIP"] as? String }
            #expect(Set(service.instances.map(\.host)) == Set(ips))
            #expect(service.instances.allSatisfy { $0.ports == ["web": 8080] })

            let posted = try #require(fake.requests.first { $0.method == "POST" && $0.path.hasSuffix("/deployments") })
            #expect(posted.path == "/apis/apps/v1/namespaces/default/deployments")
            #expect(posted.status == 201)
            let stored = try #require(fake.deployment(name))
            let metadata = try #require(stored["metadata"] as? [String: Any])
            #expect((metadata["labels"] as? [String: String])?["io.vamp"] == "deployment-service")
            #expect((metadata["labels"] as? [String: String])?["io.vamp.deployment-service"] == name)
            #expect((metadata["annotations"] as? [String: String])?["io.vamp.digest"] == spec.digest)
            let container = try #require((((stored["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]]).first
            #expect(container?["image"] as? String == "magneticio/sava:1.0")
            #expect((container?["env"] as? [[String: String]])?.contains(["name": "GREETING", "value": "hello"]) == true)
            // Every request carried the token, over HTTPS checked against the fake's CA.
            #expect(fake.requests.allSatisfy { $0.status != 401 })
            let info = try await driver.info()
            #expect(info.type == "kubernetes")
            #expect(info.details["version"] == .string("v1.30.0-fake"))
        }
    }

    @Test func createsTheNamespaceOfTheVampNamespace() async throws {
        try await Self.withFake(namespace: "team-a") { fake, driver in
            #expect(!fake.namespaceNames().contains("team-a"))
            let spec = Self.sava(instances: 1)
            try await driver.deploy(spec, update: false)
            #expect(fake.namespaceNames().contains("team-a"))
            #expect(fake.requests.contains { $0.method == "POST" && $0.path == "/api/v1/namespaces" && $0.status == 201 })
            #expect(fake.deploymentNames(namespace: "team-a") == [KubernetesPlan.deploymentName(spec.id)])
            #expect(fake.deploymentNames(namespace: "default").isEmpty)
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 1) })
        }
    }

    @Test func scalesReplacesOnADigestChangeAndUndeploys() async throws {
        try await Self.withFake { fake, driver in
            let spec = Self.sava(instances: 2)
            try await driver.deploy(spec, update: false)
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 2) })
            let first = Set(try #require(try await Self.service(driver, spec.id)).instances.map(\.name))

            // Scale to 3: the two pods stay, one is added.
            try await driver.deploy(Self.sava(instances: 3), update: true)
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 3) })
            let scaled = Set(try #require(try await Self.service(driver, spec.id)).instances.map(\.name))
            #expect(first.isSubset(of: scaled))
            let put = try #require(fake.requests.last { $0.method == "PUT" })
            #expect(((Self.body(put)["metadata"] as? [String: Any])?["resourceVersion"] as? String)?.isEmpty == false)
            #expect(put.status == 200)

            // Another greeting: another digest, every pod replaced.
            let changed = Self.sava(instances: 3, greeting: "bye")
            #expect(changed.digest != spec.digest)
            try await driver.deploy(changed, update: true)
            // While the old pods run, the service reports the old digest (the pods roll): not done yet.
            #expect(try await Self.service(driver, spec.id)?.digest == spec.digest)
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 3, digest: changed.digest) })
            let replaced = Set(try #require(try await Self.service(driver, spec.id)).instances.map(\.name))
            #expect(replaced.isDisjoint(with: scaled))

            // Deploying with update: false over an existing one: AlreadyExists, then replaced.
            try await driver.deploy(Self.sava(instances: 1, greeting: "bye"), update: false)
            #expect(fake.requests.contains { $0.method == "POST" && $0.status == 409 })
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 1) })

            try await driver.undeploy(spec.id)
            let delete = try #require(fake.requests.last { $0.method == "DELETE" })
            #expect(Self.body(delete)["propagationPolicy"] as? String == "Background")
            #expect(try await driver.services().isEmpty)
            #expect(fake.pods().isEmpty)
            // Undeploying what does not run is fine (404).
            try await driver.undeploy(spec.id)
            #expect(fake.requests.last?.status == 404)
        }
    }

    @Test func aStaleResourceVersionIsReadAgainAndRetried() async throws {
        try await Self.withFake { fake, driver in
            let spec = Self.sava(instances: 1)
            try await driver.deploy(spec, update: false)
            let name = KubernetesPlan.deploymentName(spec.id)
            fake.touchDeployment(name)
            fake.conflictOnNextPuts(2)
            try await driver.deploy(Self.sava(instances: 2), update: true)
            let puts = fake.requests.filter { $0.method == "PUT" }
            #expect(puts.map(\.status) == [409, 409, 200])
            let stored = try #require(fake.deployment(name))
            #expect((stored["spec"] as? [String: Any])?["replicas"] as? Int == 2)
            // A writer that always wins: a clear error after a few attempts.
            fake.conflictOnNextPuts(100)
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(Self.sava(instances: 3), update: true) }
            #expect(error?.message.contains("Conflict") == true)
            #expect(error?.permanent == false)
        }
    }

    @Test func aDeletedPodNoticesEveryListenerAndIsReplaced() async throws {
        try await Self.withFake { fake, driver in
            let spec = Self.sava(instances: 2)
            try await driver.deploy(spec, update: false)
            #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 2) })
            try await countingNotices(of: driver) { (first) async throws in
                try await countingNotices(of: driver) { (second) async throws in
                    try await Task.sleep(for: .milliseconds(600))
                    let before = (await first.count, await second.count)
                    let names = Set(try #require(try await Self.service(driver, spec.id)).instances.map(\.name))
                    let victim = try #require(names.sorted().first)
                    fake.deletePod(victim)
                    #expect(await Self.eventually {
                        let counts = (await first.count, await second.count)
                        return counts.0 > before.0 && counts.1 > before.1
                    })
                    #expect(try await Self.eventually { try await Self.deployed(driver, spec.id, 2) })
                    let after = Set(try #require(try await Self.service(driver, spec.id)).instances.map(\.name))
                    #expect(!after.contains(victim))
                    #expect(after.count == 2)
                }
            }
        }
    }

    /// The poll is the driver's only background work: it runs while run() does, and nothing calls the API after.
    @Test func thePollStopsWithRun() async throws {
        let fake = try await FakeKubernetesAPIServer.start()
        do {
            let driver = try KubernetesDriver(
                configuration: .init(url: fake.url, bearer: fake.token, caCertificateFile: fake.caCertificateFile, pollInterval: .milliseconds(50)),
                logger: Logger(label: "kubernetes-poll-test"))
            // Made, not run: nothing is called.
            try await Task.sleep(for: .milliseconds(200))
            #expect(fake.requests.isEmpty)
            try await withRunning(driver) { (_) async throws in
                #expect(await Self.eventually { fake.requests.count >= 6 })
            }
            let count = fake.requests.count
            // An absence: ten poll intervals without a request.
            try await Task.sleep(for: .milliseconds(500))
            #expect(fake.requests.count == count)
            var notices = driver.changeNotices().makeAsyncIterator()
            #expect(await notices.next() == nil, "the notices go on after run() ended")
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test func aWorkflowDaemonHasItsOwnNameAndLabelsAndIsNotMixedWithServices() async throws {
        try await Self.withFake { fake, driver in
            let service = Self.sava(instances: 1)
            let workflow = ServiceSpecification(
                id: .workflow("shop", breed: "sava:1.0"),
                breed: Breed(name: "sava:1.0", deployable: Deployable(type: "docker", definition: "magneticio/sava:1.0"), ports: [BreedPort(name: "web", number: 8080)]),
                scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 32)!, instances: 1))
            try await driver.deploy(service, update: false)
            try await driver.deploy(workflow, update: false)
            #expect(Set(fake.deploymentNames()) == ["vamp-workflow-shop", KubernetesPlan.deploymentName(service.id)])
            let stored = try #require(fake.deployment("vamp-workflow-shop"))
            let labels = (stored["metadata"] as? [String: Any])?["labels"] as? [String: String]
            #expect(labels?["io.vamp"] == "workflow")
            #expect(labels?["io.vamp.workflow"] == "vamp-workflow-shop")
            #expect(try await Self.eventually {
                let daemonUp = try await Self.deployed(driver, workflow.id, 1)
                let serviceUp = try await Self.deployed(driver, service.id, 1)
                return daemonUp && serviceUp
            })
            let services = try await driver.services()
            #expect(services.count == 2)
            let daemon = try #require(services.first { $0.id.kind == .workflow })
            let app = try #require(services.first { $0.id.kind == .service })
            #expect(daemon.id == workflow.id)
            #expect(Set(daemon.instances.map(\.name)).isDisjoint(with: app.instances.map(\.name)))
            #expect(daemon.instances.allSatisfy { $0.name.hasPrefix("vamp-workflow-shop-") })
            try await driver.undeploy(workflow.id)
            let left = try await driver.services()
            #expect(left.map(\.id) == [service.id])
        }
    }

    @Test func aWrongTokenIsAClearPermanentError() async throws {
        try await Self.withFake(token: "not-the-token") { fake, driver in
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(Self.sava(), update: false) }
            print("kubernetes: a wrong token: \(error?.message ?? "no error")")
            #expect(error?.permanent == true)
            #expect(error?.message.contains("401") == true)
            #expect(error?.message.contains("vamp.container-driver.kubernetes.token") == true)
            #expect(fake.deploymentNames().isEmpty)
            // The token file is read again after a 401: a rotated token is picked up.
            try fake.token.write(to: fake.folder.url.appendingPathComponent("token"), atomically: true, encoding: .utf8)
            try await driver.deploy(Self.sava(instances: 1), update: false)
            #expect(fake.deploymentNames().count == 1)
        }
    }

    @Test func anUntrustedCertificateIsRefused() async throws {
        let fake = try await FakeKubernetesAPIServer.start()
        do {
            let other = try await FakeKubernetesAPIServer.start()
            let driver = try KubernetesDriver(
                configuration: .init(url: fake.url, bearer: fake.token, caCertificateFile: other.caCertificateFile), logger: Logger(label: "test"))
            let untrusted = await #expect(throws: ContainerDriverError.self) { try await driver.info() }
            print("kubernetes: a certificate the CA did not sign: \(untrusted?.message ?? "no error")")
            #expect(untrusted?.permanent == true)
            #expect(untrusted?.message.contains(other.caCertificateFile) == true)
            await other.stop()
            let missing = #expect(throws: ContainerDriverError.self) {
                try KubernetesDriver(configuration: .init(url: fake.url, bearer: "x", caCertificateFile: "/nonexistent/ca.crt"), logger: Logger(label: "test"))
            }
            #expect(missing?.message.contains("/nonexistent/ca.crt") == true)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test func healthChecksBecomeAReadinessProbeAndTheDialectIsMerged() async throws {
        try await Self.withFake { fake, driver in
            let check = HealthCheck(path: "/health", port: "web", initialDelay: TimeValue(seconds: 3)!, timeout: TimeValue(seconds: 2)!, interval: TimeValue(seconds: 5)!, failures: 4)
            let spec = Self.sava(instances: 1, checks: [check], dialects: [
                "kubernetes": .object([
                    "serviceAccountName": .string("sava"),
                    "containers": .array([.object(["args": .array([.string("--port=8080")])])]),
                ]),
            ])
            try await driver.deploy(spec, update: false)
            let posted = try #require(fake.requests.first { $0.method == "POST" && $0.path.hasSuffix("/deployments") })
            let podSpec = try #require(((Self.body(posted)["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
            #expect(podSpec["serviceAccountName"] as? String == "sava")
            let container = try #require((podSpec["containers"] as? [[String: Any]])?.first)
            #expect(container["args"] as? [String] == ["--port=8080"])
            #expect(container["image"] as? String == "magneticio/sava:1.0")
            let probe = try #require(container["readinessProbe"] as? [String: Any])
            #expect((probe["httpGet"] as? [String: Any])?["path"] as? String == "/health")
            #expect((probe["httpGet"] as? [String: Any])?["port"] as? Int == 8080)
            #expect(probe["initialDelaySeconds"] as? Int == 3)
            #expect(probe["timeoutSeconds"] as? Int == 2)
            #expect(probe["periodSeconds"] as? Int == 5)
            #expect(probe["failureThreshold"] as? Int == 4)
        }
    }

    @Test func anInvalidDeploymentIsAPermanentErrorQuotingTheAPI() async throws {
        try await Self.withFake { fake, driver in
            // A dialect that names the container illegally: the API answers 422 Invalid.
            let spec = Self.sava(instances: 1, dialects: ["kubernetes": .object(["containers": .array([.object(["name": .string("Not_Legal")])])])])
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(spec, update: false) }
            print("kubernetes: an invalid deployment: \(error?.message ?? "no error")")
            #expect(error?.permanent == true)
            #expect(error?.message.contains("Invalid") == true)
            #expect(error?.message.contains("Not_Legal") == true)
            // An image that is not a Docker image.
            var command = Self.sava()
            command.breed.deployable = Deployable(type: "command", definition: "sava --port 8080")
            let refused = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(command, update: false) }
            #expect(refused?.permanent == true)
            #expect(fake.deploymentNames().isEmpty)
        }
    }

    @Test func gatewayServicesAreCreatedAndStaleOnesDeleted() async throws {
        try await Self.withFake { fake, driver in
            let web = DriverGateway(name: "shop/web", lookupName: SHA1.hex("shop/web"), port: 9050)
            let api = DriverGateway(name: "shop/api", lookupName: SHA1.hex("shop/api"), port: 9051)
            let addresses = try await driver.synchronizeGatewayServices([web, api])
            let services = fake.services()
            #expect(services.count == 2)
            let webName = KubernetesPlan.gatewayServiceName(lookupName: web.lookupName)
            let stored = try #require(services[webName])
            let spec = try #require(stored["spec"] as? [String: Any])
            #expect(spec["type"] as? String == "NodePort")
            #expect(spec["selector"] as? [String: String] == ["io.vamp": "vamp-gateway-agent"])
            #expect(((spec["ports"] as? [[String: Any]])?.first?["port"] as? Int) == 9050)
            #expect(((stored["metadata"] as? [String: Any])?["labels"] as? [String: String])?["io.vamp"] == "gateway")
            #expect(addresses.count == 2)
            #expect(addresses.allSatisfy { $0.clusterIP != nil && $0.nodePort != nil })
            let ip = spec["clusterIP"] as? String

            // api is gone and web moved: api's Service deleted, web's replaced on the new port with its cluster IP. Through
            // the protocol, as the server's DriverGatewaySynchronizer calls it.
            let moved = DriverGateway(name: "shop/web", lookupName: web.lookupName, port: 9060)
            let generic: any ContainerDriver = driver
            try await generic.synchronizeGateways([moved])
            let after = fake.services()
            #expect(after.keys.sorted() == [webName])
            let afterSpec = after[webName]?["spec"] as? [String: Any]
            #expect(((afterSpec?["ports"] as? [[String: Any]])?.first?["port"] as? Int) == 9060)
            #expect(afterSpec?["clusterIP"] as? String == ip)
            // Nothing changed: nothing written.
            let writes = fake.requests.filter { $0.method != "GET" }.count
            try await driver.synchronizeGatewayServices([moved])
            #expect(fake.requests.filter { $0.method != "GET" }.count == writes)
            try await generic.synchronizeGateways([])
            #expect(fake.services().isEmpty)
        }
    }
}
