import ContainerDrivers
import Foundation
import Logging
import Persistence
import Testing
import VampConcurrency
import VampCore
import VampDSL
import VampModel
import VampReleases
import VampTesting

/// A release that merges its canary (`merge: true`), over the real local-process driver and the reconciler: the
/// stored breed is merged into the cluster in the release's own write, at 0%, and the first step comes only when it
/// runs; a canary that never runs fails the release.
@Suite("Releases: a canary merged by the release")
struct ReleaseMergeTests {
    static let blueprint = """
        name: sava
        clusters:
          web:
            services:
              - breed: {name: "sava:1.0", deployable: {type: command, definition: "exec sleep 300"}, ports: {web: 8080/http}}
                scale: {cpu: 0.1, memory: 64MB, instances: 1}
            gateways:
              web:
                routes:
                  sava:1.0: {weight: 100%}
        """

    static func breed(_ name: String, _ command: String, port: String = "web") -> String {
        "kind: breed\nname: \(name)\ndeployable: {type: command, definition: \"\(command)\"}\nports: {\(port): 8080/http}\n"
    }

    static func release(_ name: String, canary: String, _ extra: String = "") -> String {
        ReleaseDocuments.sava(name, canary: canary, """
            merge: true
            steps: [20%, 100%]
            step: {minimum_duration: 10s, minimum_requests: 50}
            \(extra)
            """)
    }

    @Test("merge: true merges the stored breed at 0% in the release's write, waits for it to run, then takes the first step; a canary that never runs fails the release; a missing breed or port is refused")
    func mergedCanary() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-release-merge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock()
        let processes = LocalProcessDriver(directory: folder, logger: Logger(label: "test.driver"))
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(clock: clock))
        let reconciler = Reconciler(vamp: vamp, driver: processes)
        let driver = ReleaseDriver(vamp: vamp, configuration: .init(holder: "test", webhook: { _, _, _ in (true, "HTTP 200") }))
        func store(_ text: String) async throws { _ = try await vamp.apply(try DSLReader.read(text)) }
        func refused(_ text: String) async -> OperationError? {
            do { try await store(text) } catch let error as OperationError { return error } catch { return nil }
            return nil
        }
        func services() async throws -> [DeploymentService] {
            try #require(try await vamp.deployment(named: "sava")?.clusters.first?.services)
        }
        func weights() async throws -> [String: Int] {
            let gateway = try #require(try await vamp.allGateways().first { $0.name == "sava/web/web" })
            return Dictionary(uniqueKeysWithValues: gateway.routes.map { ($0.path, $0.weight?.value ?? -1) })
        }
        func state(_ name: String) async throws -> ReleaseState { try #require(try await vamp.release(named: name)?.record).state }
        let identities = ["sava:1.0", "sava:1.1", "sava:1.2"].map { ServiceIdentity(deployment: "sava", cluster: "web", service: $0) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await processes.run() }
            defer { group.cancelAll() }
            do {
                _ = try await vamp.deploy(try DeploymentRequest.read(Self.blueprint))

                // Refused, naming the field: no such breed; a breed without the release's port; no merge asked.
                let missing = await refused(Self.release("r0", canary: "sava:1.1"))
                #expect(missing?.code == .invalid)
                #expect(missing?.message.contains("field canary: there is no stored breed 'sava:1.1'") == true, "\(missing?.message ?? "stored")")
                try await store(Self.breed("sava:0.9", "exec sleep 300", port: "admin"))
                let portless = await refused(Self.release("r0", canary: "sava:0.9"))
                #expect(portless?.message.contains("breed 'sava:0.9' has no port 'web'") == true, "\(portless?.message ?? "stored")")
                let unmerged = await refused(ReleaseDocuments.sava("r0", canary: "sava:1.1", "steps: [20%, 100%]"))
                #expect(unmerged?.message.contains("set `merge: true`") == true, "\(unmerged?.message ?? "stored")")
                #expect(try await services().map(\.breed.name) == ["sava:1.0"], "nothing merged by a refused release")
                #expect(try await vamp.release(named: "r0") == nil)

                // A canary that never runs: the release waits at 0%, and fails after `insufficient_data.after`, even
                // with `then: hold` (holding is for a lack of requests).
                try await store(Self.breed("sava:1.2", "exit 3"))
                try await store(Self.release("r1", canary: "sava:1.2", "insufficient_data: {after: 1m, then: hold}"))
                #expect(try await services().map(\.breed.name) == ["sava:1.0", "sava:1.2"])
                #expect(try await weights() == ["sava/web/sava:1.0/web": 100, "sava/web/sava:1.2/web": 0])
                var r1 = try await state("r1")
                #expect(r1.phase == .progressing && r1.waitingForCanarySince != nil && r1.weight == .zero)
                #expect(r1.timeline.last?.message.contains("the first step comes when it runs") == true, "\(r1.timeline.last?.message ?? "")")
                for command in [ReleaseCommand.promote, .approve] {
                    await #expect(throws: OperationError.self, "\(command) before the first step") { try await vamp.releaseCommand(command, release: "r1") }
                }
                _ = await reconciler.pass()
                await clock.advance(by: .seconds(30))
                await driver.pass()
                #expect(try await state("r1").waitingForCanarySince != nil, "still waiting after 30 s")
                // The driver counts time up to its `settle` (2 s) ago.
                await clock.advance(by: .seconds(33))
                await driver.pass()
                r1 = try await state("r1")
                #expect(r1.phase == .failed)
                #expect(r1.timeline.last?.message.contains("sava:1.2, merged by the release, did not run within 1m") == true, "\(r1.timeline.last?.message ?? "")")
                #expect(try await weights()["sava/web/sava:1.2/web"] == 0)

                // A canary that runs: merged, waited for, then the first step.
                // Up once its port accepts connections.
                try await store(Self.breed("sava:1.1", "exec python3 -m http.server $PORT --bind 127.0.0.1"))
                try await store(Self.release("r2", canary: "sava:1.1"))
                #expect(try await services().map(\.breed.name).contains("sava:1.1"))
                #expect(try await weights()["sava/web/sava:1.1/web"] == 0)
                #expect(try await state("r2").waitingForCanarySince != nil)
                var running = false
                for _ in 0..<300 where !running {
                    _ = await reconciler.pass()
                    let canary = try await services().first { $0.breed.name == "sava:1.1" }
                    running = canary?.status.phase.name == .done && canary?.instances.contains(where: \.deployed) == true
                    if !running { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(running, "the merged canary runs")
                await driver.pass()
                let r2 = try await state("r2")
                #expect(r2.phase == .progressing && r2.waitingForCanarySince == nil && r2.step == 0 && r2.weight == Percentage(20))
                try #require(r2.timeline.map(\.kind) == [.started, .canaryDeployed, .advanced], "\(r2.timeline.map(\.message))")
                #expect(r2.timeline[1].message.contains("sava:1.1 runs (1 of 1 instance)"), "\(r2.timeline[1].message)")
                #expect(try await weights()["sava/web/sava:1.1/web"] == 20)
            } catch {
                for identity in identities { try? await processes.undeploy(identity) }
                throw error
            }
            for identity in identities { try? await processes.undeploy(identity) }
        }
    }
}
