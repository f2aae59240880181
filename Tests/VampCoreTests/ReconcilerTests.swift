import ContainerDrivers
import Foundation
import Logging
import Persistence
import Testing
import VampCore
import VampConcurrency
import VampModel
import VampTesting

/// The reconciler's executor over the real local-process driver: what a user sees in the deployment when the driver
/// refuses a service or a service never comes up.
@Suite("Reconciler with the local-process driver")
struct ReconcilerTests {
    static func blueprint(_ deployable: Deployable) -> Blueprint {
        Blueprint(name: "shop", clusters: [Cluster(name: "web", services: [
            Service(
                breed: .inline(Breed(name: "web:1.0", deployable: deployable, ports: [BreedPort(name: "web", number: 8080)])),
                scale: .inline(Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1))),
        ])])
    }

    static func withReconciler(
        timeout: Duration = .seconds(600), clock: any VampClock = SystemClock(), _ body: (Vamp, Reconciler) async throws -> Void
    ) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-reconciler-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = LocalProcessDriver(directory: folder, logger: Logger(label: "test.driver"))
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(clock: clock))
        let reconciler = Reconciler(vamp: vamp, driver: driver, configuration: .init(planner: .init(deploymentTimeout: timeout)))
        try await running(driver) {
            do {
                try await body(vamp, reconciler)
            } catch {
                try? await driver.undeploy(ServiceIdentity(deployment: "shop", cluster: "web", service: "web:1.0"))
                throw error
            }
            try? await driver.undeploy(ServiceIdentity(deployment: "shop", cluster: "web", service: "web:1.0"))
        }
    }

    /// Runs the driver's background work (its `run()`, as the server's ServiceGroup does) while `body` runs.
    static func running(_ driver: LocalProcessDriver, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await driver.run() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    static func status(_ vamp: Vamp) async throws -> ServiceStatus? {
        try await vamp.deployment(named: "shop")?.clusters.first?.services.first?.status
    }

    @Test("a breed the driver cannot run is Failed at once, and the notification says why")
    func refusedForGood() async throws {
        try await Self.withReconciler { vamp, reconciler in
            _ = try await vamp.deploy(.blueprint(Self.blueprint(Deployable(type: "container/docker", definition: "acme/web:1.0"))))
            await reconciler.pass()
            let status = try #require(try await Self.status(vamp))
            #expect(status.phase.name == .failed)
            #expect(status.phase.notification?.contains("web:1.0") == true, "\(status.phase.notification ?? "")")
            #expect(status.phase.notification?.contains("container/docker") == true, "\(status.phase.notification ?? "")")
        }
    }

    @Test("a service that never comes up is Failed after the timeout (Vamp's 600 s, on a test clock), naming how many instances are up")
    func timeout() async throws {
        let clock = TestClock()
        try await Self.withReconciler(clock: clock) { vamp, reconciler in
            _ = try await vamp.deploy(.blueprint(Self.blueprint(Deployable(type: "command", definition: "exit 3"))))
            await reconciler.pass()
            #expect(try await Self.status(vamp)?.phase.name == .updating)
            await clock.advance(by: .seconds(599))
            await reconciler.pass()
            #expect(try await Self.status(vamp)?.phase.name == .updating, "not before the timeout")
            await clock.advance(by: .seconds(2))
            await reconciler.pass()
            let status = try #require(try await Self.status(vamp))
            #expect(status.phase.name == .failed)
            #expect(status.phase.notification?.contains("0 of 1 instances up") == true, "\(status.phase.notification ?? "")")
        }
    }

    @Test("a workflow's daemon the reconciler does not know is left running, beside a deployment of the same name")
    func leavesWorkflowsAlone() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-reconciler-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = LocalProcessDriver(directory: folder, logger: Logger(label: "test.driver"))
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let reconciler = Reconciler(vamp: vamp, driver: driver)
        // Named like the deployment, running the same breed name: only its kind tells it apart.
        let workflow = ServiceSpecification(
            id: .workflow("shop", breed: "web:1.0"),
            breed: Breed(name: "web:1.0", deployable: Deployable(type: "command", definition: "exec sleep 300")),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1))
        let service = ServiceIdentity(deployment: "shop", cluster: "web", service: "web:1.0")
        try await Self.running(driver) {
            do {
                try await driver.deploy(workflow, update: false)
                // No deployment at all: an owned service would be removed as a leftover; the daemon is not.
                await reconciler.pass()
                #expect(try await driver.services().map(\.id) == [workflow.id])

                // A deployment of the same name is deployed beside it and undeployed without touching it.
                _ = try await vamp.deploy(.blueprint(Self.blueprint(Deployable(type: "command", definition: "exec sleep 300"))))
                await reconciler.pass()
                #expect(Set(try await driver.services().map(\.id)) == [workflow.id, service])
                try await vamp.slice(.blueprint(Self.blueprint(Deployable(type: "command", definition: "exec sleep 300"))), name: "shop")
                for _ in 0..<20 where try await driver.services().count > 1 {
                    await reconciler.pass()
                    try await Task.sleep(for: .milliseconds(100))
                }
                let left = try await driver.services()
                #expect(left.map(\.id) == [workflow.id])
                #expect(left.first?.instances.count == 1)
            } catch {
                try? await driver.undeploy(service)
                try? await driver.undeploy(workflow.id)
                throw error
            }
            try? await driver.undeploy(service)
            try? await driver.undeploy(workflow.id)
        }
    }
}
