import AsyncHTTPClient
@testable import ContainerDrivers
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// ``DockerDriver`` against a real Docker Engine (Debian's `dockerd`, started by ``DockerEngine``) and a busybox image
/// imported from `busybox-static`: real containers, real HTTP requests to their published ports.
@Suite("DockerDriver", .serialized)
struct DockerDriverTests {
    /// The engine for one test, stopped (with every container) whatever the test did.
    static func withEngine(_ body: (DockerEngine, DockerDriver) async throws -> Void) async throws {
        let engine = try await DockerEngine.start()
        var logger = Logger(label: "docker-driver-test")
        logger.logLevel = .debug
        do {
            let driver = try DockerDriver(configuration: .init(host: engine.host, pollInterval: .milliseconds(200)), logger: logger)
            try await withRunning(driver) { try await body(engine, $0) }
        } catch {
            await engine.stop()
            throw error
        }
        await engine.stop()
    }

    static func httpd(image: String, instances: Int = 2, greeting: String = "hello") -> ServiceSpecification {
        ServiceSpecification(
            id: ServiceIdentity(deployment: "shop", cluster: "frontend", service: "httpd:1.0"),
            breed: Breed(name: "httpd:1.0", deployable: Deployable(type: "docker", definition: image), ports: [BreedPort(name: "web", number: 8080)]),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: instances),
            environment: ["GREETING": greeting],
            dialects: ["docker": .object(["Cmd": .array(["/bin/httpd", "-f", "-p", "8080", "-h", "/www"].map { .string($0) })])])
    }

    static func get(_ port: Int) async -> String? {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(2))
            let body = try await response.body.collect(upTo: 1 << 16)
            return response.status.code == 200 ? String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines) : nil
        } catch {
            return nil
        }
    }

    static func eventually(within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    static func instances(_ driver: DockerDriver) async throws -> [Instance] {
        try await driver.services().first?.instances ?? []
    }

    static func allDeployed(_ driver: DockerDriver, _ count: Int) async throws -> Bool {
        let instances = try await instances(driver)
        return instances.count == count && instances.allSatisfy(\.deployed)
    }

    /// The owned containers on the engine, straight from the API: id and labels.
    static func containers(_ engine: DockerEngine) throws -> [(id: String, labels: [String: String], env: [String])] {
        let list = try #require(engine.get("/v1.41/containers/json?all=true"))
        let array = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
        return try array.map { object in
            let id = try #require(object["Id"] as? String)
            let inspect = try #require(engine.get("/v1.41/containers/\(id)/json"))
            let details = try JSONSerialization.jsonObject(with: Data(inspect.body.utf8)) as? [String: Any]
            let env = (details?["Config"] as? [String: Any])?["Env"] as? [String] ?? []
            return (id, object["Labels"] as? [String: String] ?? [:], env)
        }
    }

    @Test func deploysTwoContainersThatServeOnTheirPublishedPorts() async throws {
        try await Self.withEngine { engine, driver in
            let spec = Self.httpd(image: engine.image)
            try await driver.deploy(spec, update: false)
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
            let services = try await driver.services()
            #expect(services.count == 1)
            let service = try #require(services.first)
            #expect(service.id == spec.id)
            #expect(service.digest == spec.digest)
            #expect(service.desiredInstances == 2)
            let ports = service.instances.compactMap { $0.ports["web"] }
            #expect(Set(ports).count == 2)
            for instance in service.instances { #expect(instance.host == "127.0.0.1") }
            for port in ports { #expect(await Self.get(port) == "hello") }

            let containers = try Self.containers(engine)
            #expect(containers.count == 2)
            for container in containers {
                #expect(container.labels["io.vamp"] == "deployment-service")
                #expect(container.labels["io.vamp.deployment"] == "shop")
                #expect(container.labels["io.vamp.cluster"] == "frontend")
                #expect(container.labels["io.vamp.service"] == "httpd:1.0")
                #expect(container.labels["io.vamp.digest"] == spec.digest)
                #expect(container.labels["io.vamp.scale"] == "2")
                #expect(container.env.contains("GREETING=hello"))
                #expect(container.env.contains("PORT=8080"))
                #expect(container.env.contains("PORT_WEB=8080"))
            }
            #expect(Set(containers.compactMap { $0.labels["io.vamp.instance"] }) == ["0", "1"])
            let info = try await driver.info()
            #expect(info.type == "docker")
            #expect(info.details["running"] == .number(2))
        }
    }

    @Test func anImageThatCannotBePulledFailsNamingIt() async throws {
        try await Self.withEngine { engine, driver in
            let spec = Self.httpd(image: "vamp-test-no-such-image/nothing:1.0")
            let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(spec, update: false) }
            print("docker: an image that cannot be pulled: \(error?.message ?? "no error")")
            #expect(error?.permanent == true)
            #expect(error?.message.contains("vamp-test-no-such-image/nothing:1.0") == true)
            let remaining = try Self.containers(engine)
            #expect(remaining.isEmpty)
        }
    }

    @Test func scalesReplacesWhatDisappearedOrExitedReplacesOnDigestChangeAndUndeploys() async throws {
        try await Self.withEngine { engine, driver in
            try await countingNotices(of: driver) { (ticks) async throws in
                var spec = Self.httpd(image: engine.image)
                try await driver.deploy(spec, update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })

                // Scale to 3.
                spec.scale.instances = 3
                try await driver.deploy(spec, update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })
                #expect(try await driver.services().first?.desiredInstances == 3)
                #expect(try Self.containers(engine).count == 3)

                // A container removed behind the driver's back: 2 are seen (of 3 wanted), a change ticks, deploy brings 3.
                let before = await ticks.count
                let victim = try #require(try Self.containers(engine).first { $0.labels["io.vamp.instance"] == "1" })
                try engine.removeContainer(victim.id)
                #expect(try await Self.instances(driver).count == 2)
                #expect(try await driver.services().first?.desiredInstances == 3)
                #expect(await Self.eventually(within: .seconds(10)) { await ticks.count > before })
                try await driver.deploy(spec, update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })

                // A container that exits (killed inside the engine): not an instance any more, and removed when seen.
                let exited = try #require(try Self.containers(engine).first { $0.labels["io.vamp.instance"] == "0" })
                #expect(engine.post("/v1.41/containers/\(exited.id)/kill")?.status == 204)
                #expect(try await Self.eventually(within: .seconds(10)) { try await Self.instances(driver).count == 2 })
                #expect(try Self.containers(engine).allSatisfy { $0.id != exited.id })
                try await driver.deploy(spec, update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })

                // A digest change replaces every container.
                let oldIDs = Set(try Self.containers(engine).map(\.id))
                spec.environment["GREETING"] = "changed"
                try await driver.deploy(spec, update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })
                let now = try Self.containers(engine)
                #expect(now.count == 3)
                #expect(Set(now.map(\.id)).isDisjoint(with: oldIDs))
                #expect(now.allSatisfy { $0.labels["io.vamp.digest"] == spec.digest && $0.env.contains("GREETING=changed") })
                #expect(try await driver.services().first?.digest == spec.digest)

                // Scale down to 1: highest numbers go.
                spec.scale.instances = 1
                try await driver.deploy(spec, update: true)
                #expect(try await Self.instances(driver).count == 1)
                #expect(try await driver.services().first?.desiredInstances == 1)

                // Undeploy removes all; twice is fine.
                try await driver.undeploy(spec.id)
                try await driver.undeploy(spec.id)
                #expect(try await driver.services().isEmpty)
                #expect(try Self.containers(engine).isEmpty)
            }
        }
    }

    /// The main process of a container as the host sees it (`State.Pid`), 0 when it does not run.
    static func mainPid(_ engine: DockerEngine, _ id: String) throws -> (pid: Int32, restarts: Int) {
        let inspect = try #require(engine.get("/v1.41/containers/\(id)/json"))
        let object = try JSONSerialization.jsonObject(with: Data(inspect.body.utf8)) as? [String: Any]
        let state = object?["State"] as? [String: Any]
        return (Int32(state?["Pid"] as? Int ?? 0), object?["RestartCount"] as? Int ?? 0)
    }

    @Test func aWorkflowDaemonIsReportedAsAWorkflowRestartedWhenKilledAndLeavesADeploymentOfItsNameAlone() async throws {
        try await Self.withEngine { engine, driver in
            let service = Self.httpd(image: engine.image, instances: 1)
            var workflow = Self.httpd(image: engine.image, instances: 1, greeting: "daemon")
            workflow.id = .workflow("shop", breed: "httpd:1.0")
            try await driver.deploy(service, update: false)
            try await driver.deploy(workflow, update: false)
            #expect(try await Self.eventually {
                let services = try await driver.services()
                return services.count == 2 && services.allSatisfy { $0.instances.count == 1 && $0.instances.allSatisfy(\.deployed) }
            })
            let services = try await driver.services()
            #expect(Set(services.map(\.id)) == [service.id, workflow.id])
            let daemon = try #require(services.first { $0.id.kind == .workflow })
            #expect(daemon.id.workflow == "shop")
            #expect(daemon.id.service == "httpd:1.0")
            #expect(daemon.digest == workflow.digest)
            #expect(daemon.instances.map(\.name) == ["workflow-shop-0"])
            let port = try #require(daemon.instances.first?.ports["web"])
            #expect(await Self.get(port) == "hello")

            let containers = try Self.containers(engine)
            let daemonContainer = try #require(containers.first { $0.labels["io.vamp"] == "workflow" })
            #expect(daemonContainer.labels["io.vamp.workflow"] == "shop")
            #expect(daemonContainer.labels["io.vamp.breed"] == "httpd:1.0")
            #expect(daemonContainer.labels["io.vamp.deployment"] == nil)
            #expect(daemonContainer.env.contains("GREETING=daemon"))
            let serviceContainer = try #require(containers.first { $0.labels["io.vamp"] == "deployment-service" })
            #expect(serviceContainer.labels["io.vamp.deployment"] == "shop")

            // The daemon's process killed from the host: the engine restarts the same container, which serves again.
            let before = try Self.mainPid(engine, daemonContainer.id)
            #expect(before.pid > 1)
            #expect(kill(before.pid, SIGKILL) == 0)
            #expect(try await Self.eventually {
                let now = try Self.mainPid(engine, daemonContainer.id)
                guard now.pid > 1, now.pid != before.pid, now.restarts > before.restarts else { return false }
                let daemon = try await driver.services().first { $0.id == workflow.id }
                return daemon?.instances.first?.deployed == true
            })
            let restartedPort = try #require(try await driver.services().first { $0.id == workflow.id }?.instances.first?.ports["web"])
            #expect(await Self.get(restartedPort) == "hello")

            // Undeploying the workflow removes its container only; undeploying the deployment's service leaves no
            // workflow container behind it either.
            try await driver.undeploy(workflow.id)
            let left = try Self.containers(engine)
            #expect(left.map(\.id) == [serviceContainer.id])
            #expect(try await driver.services().map(\.id) == [service.id])
            try await driver.deploy(workflow, update: false)
            try await driver.undeploy(service.id)
            #expect(try Self.containers(engine).allSatisfy { $0.labels["io.vamp"] == "workflow" })
            #expect(try await driver.services().map(\.id) == [workflow.id])
            try await driver.undeploy(workflow.id)
            #expect(try Self.containers(engine).isEmpty)
        }
    }

    @Test func theEventStreamTicksAtOnceWhenAContainerDiesOrGoes() async throws {
        let engine = try await DockerEngine.start()
        do {
            // A poll once an hour: a notice within seconds can only come from the event stream.
            let driver = try DockerDriver(
                configuration: .init(host: engine.host, pollInterval: .seconds(3600), followsEvents: true), logger: Logger(label: "docker-events-test"))
            try await withRunning(driver) { (driver) async throws in
                try await countingNotices(of: driver) { (ticks) async throws in
                    let spec = Self.httpd(image: engine.image, instances: 2)
                    try await driver.deploy(spec, update: false)
                    #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                    try await Task.sleep(for: .milliseconds(300))

                    let containers = try Self.containers(engine)
                    var before = await ticks.count
                    var started = ContinuousClock.now
                    try engine.removeContainer(containers[0].id)
                    #expect(await Self.eventually(within: .seconds(3)) { await ticks.count > before })
                    print("docker: a container removed behind the driver's back to its change notice: \(ContinuousClock.now - started)")

                    before = await ticks.count
                    started = ContinuousClock.now
                    #expect(engine.post("/v1.41/containers/\(containers[1].id)/kill")?.status == 204)
                    #expect(await Self.eventually(within: .seconds(3)) { await ticks.count > before })
                    print("docker: a container killed to its change notice: \(ContinuousClock.now - started)")
                    try await driver.undeploy(spec.id)
                }
            }
        } catch {
            await engine.stop()
            throw error
        }
        await engine.stop()
    }
}
