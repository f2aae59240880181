@testable import ContainerDrivers
import Foundation
import Logging
import Testing
import VampModel
import VampTesting

/// ``DockerDriver`` after its server was killed with SIGKILL, on a real engine: the server is
/// `ContainerDriverCrashServer` running the driver, killed at random moments or at a crash point. A driver made
/// afterwards must see every container with Vamp's labels (so the reconciler adopts or removes it) and never make two
/// for one instance.
@Suite("DockerDriver crashes", .serialized)
struct DockerDriverCrashTests {
    static func driver(_ engine: DockerEngine) throws -> DockerDriver {
        var logger = Logger(label: "docker-crash-test")
        logger.logLevel = .debug
        return try DockerDriver(configuration: .init(host: engine.host, pollInterval: .milliseconds(200)), logger: logger)
    }

    static func withEngine(_ body: (DockerEngine) async throws -> Void) async throws {
        let engine = try await DockerEngine.start()
        do {
            try await body(engine)
        } catch {
            await engine.stop()
            throw error
        }
        await engine.stop()
    }

    /// Every container with the owner label on the engine: id, instance name and state.
    static func owned(_ engine: DockerEngine) throws -> [(id: String, service: ServiceIdentity?, index: String, state: String)] {
        let list = try #require(engine.get("/v1.41/containers/json?all=true"))
        let array = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
        return array.compactMap { object in
            let labels = object["Labels"] as? [String: String] ?? [:]
            guard labels["io.vamp"] != nil, let id = object["Id"] as? String else { return nil }
            return (id, OwnershipLabel.identity(labels), labels["io.vamp.instance"] ?? "?", object["State"] as? String ?? "?")
        }
    }

    /// The crash server's `serve` service, as `ContainerDriverCrashServer` builds it (the same digest).
    static func served(_ engine: DockerEngine, tag: String, command: String) -> ServiceSpecification {
        ServiceSpecification(
            id: ServiceIdentity(deployment: "crash", cluster: "c", service: "serve"),
            breed: Breed(name: "serve", deployable: Deployable(type: "docker", definition: engine.image), ports: [BreedPort(name: "web", number: 8080)]),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1),
            environment: ["CRASH_TEST_TAG": tag],
            dialects: ["docker": .object(["Cmd": .array(["/bin/sh", "-c", command].map { .string($0) })])])
    }

    /// Killed between creating a container and starting it: the next driver reports the service (a container it has
    /// no other record of is not left unseen), a deploy starts that very container rather than creating a second,
    /// and an undeploy removes it.
    @Test func aContainerCreatedAndNotStartedIsSeenAndStartedNotCreatedAgain() async throws {
        try await Self.withEngine { engine in
            let tag = UUID().uuidString
            let command = "exec /bin/httpd -f -p 8080 -h /www"
            let server = try CrashServer(
                ["docker", engine.host, "serve", "--tag", tag, "--image", engine.image, "--instances", "1", "--command", command, "--crash-at", "created"],
                output: engine.directory.url.appendingPathComponent("crash-server.log"))
            await server.waitForExit()
            #expect(server.killed, "the crash server did not die at its crash point: \(server.text.suffix(2000))")
            let left = try Self.owned(engine)
            #expect(left.map(\.state) == ["created"])
            let container = try #require(left.first)

            let spec = Self.served(engine, tag: tag, command: command)
            let driver = try Self.driver(engine)
            try await withRunning(driver) { (driver) async throws in
                let services = try await driver.services()
                #expect(services.map(\.id) == [spec.id], "the created container's service is not reported: \(services)")
                #expect(services.first?.digest == spec.digest)
                try await driver.deploy(spec, update: true)
                #expect(try await DockerDriverTests.eventually { try await DockerDriverTests.allDeployed(driver, 1) })
                let now = try Self.owned(engine)
                #expect(now.map(\.id) == [container.id], "not the container the killed server created: \(now)")
                #expect(now.map(\.state) == ["running"])
                let port = try #require(try await DockerDriverTests.instances(driver).first?.ports["web"])
                #expect(await DockerDriverTests.get(port) == "hello")
                try await driver.undeploy(spec.id)
                #expect(try Self.owned(engine).isEmpty)
            }
        }
    }

    /// Servers killed at random moments while services are deployed and undeployed (container creations and starts
    /// cut anywhere). After every kill, a driver made then reports every service that has a container with Vamp's
    /// labels (so the reconciler adopts or removes it) and no instance has two containers; at the end, undeploying what
    /// it reports leaves no container.
    @Test func aServerKilledAtRandomMomentsLeavesNoContainerUnseenOrDoubled() async throws {
        try await Self.withEngine { engine in
            let tag = UUID().uuidString
            var delays: [Int] = []
            var neverStarted = 0
            let started = ContinuousClock.now
            let driver = try Self.driver(engine)
            for round in 0..<10 {
                let server = try CrashServer(
                    ["docker", engine.host, "churn", "--tag", tag, "--image", engine.image],
                    output: engine.directory.url.appendingPathComponent("crash-server-\(round).log"))
                try await server.waitForLine("running")
                let delay = Int.random(in: 100...1200)
                delays.append(delay)
                try await Task.sleep(for: .milliseconds(delay))
                await server.kill()
                #expect(server.killed, "the crash server stopped by itself: \(server.text.suffix(2000))")

                // The driver's answer first: it removes containers that exited (one stopped by an undeploy the kill cut
                // short, before its removal) and reports every service of what is left.
                let reported = Set(try await driver.services().map(\.id))
                let left = try Self.owned(engine)
                neverStarted += left.filter { $0.state == "created" }.count
                // A container the driver's answer is removing (it had exited) is on its way out, not unseen.
                let onEngine = Set(left.filter { $0.state != "removing" }.compactMap(\.service))
                #expect(onEngine.subtracting(reported).isEmpty, "round \(round): services with containers the driver does not report: \(left)")
                let instances = left.filter { $0.state != "removing" }.map { "\($0.service.map(\.description) ?? "?")#\($0.index)" }
                #expect(instances.count == Set(instances).count, "round \(round): an instance with two containers: \(instances.sorted())")
            }
            print("docker crash test: 10 SIGKILLs in \(ContinuousClock.now - started), after \(delays) ms of work each; \(neverStarted) containers found created and never started")

            try await withRunning(driver) { (driver) async throws in
                // The engine finishes a creation a killed server had asked for even after the server is gone, and may
                // do so after the driver's last answer (seen: a container `created` after it): as the reconciler does,
                // undeploy what the driver reports until nothing is left.
                var remaining = try Self.owned(engine)
                for _ in 0..<20 {
                    for id in try await driver.services().map(\.id) { try await driver.undeploy(id) }
                    remaining = try Self.owned(engine)
                    if remaining.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(remaining.isEmpty, "left: \(remaining)")
            }
        }
    }
}
