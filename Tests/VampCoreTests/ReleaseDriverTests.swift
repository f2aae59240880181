import Foundation
import HAProxyConfigGen
import Persistence
import Synchronization
import Testing
import VampConcurrency
import VampCore
import VampDSL
import VampModel
import VampPulse
import VampReleases
import VampStatistics
import VampTesting

/// Releases in the coordinator, on the test clock over in-memory stores (no HAProxy: the figures are Pulse buckets
/// made by the test): what a write of a release is checked for, the start, the driver's looks at exact figures, a
/// rollback, a manual change, a webhook, an abort, and a second facade on the same store going on from the record.
@Suite("Releases: the driver and the operations")
struct ReleaseDriverTests {
    static let blueprint = """
        name: sava
        clusters:
          web:
            services:
              - breed: {name: "sava:1.0", deployable: {type: command, definition: "sava"}, ports: {web: 8080/http}}
              - breed: {name: "sava:1.1", deployable: {type: command, definition: "sava"}, ports: {web: 8080/http}}
            gateways:
              web:
                routes:
                  sava:1.0: {weight: 100%}
                  sava:1.1: {weight: 0%}
        """

    static func release(_ name: String = "r", canary: String = "sava:1.1", _ extra: String = "") -> String {
        ReleaseDocuments.sava(name, canary: canary, """
            steps: [20%, 100%]
            step: {minimum_duration: 10s, minimum_requests: 50}
            checks: {error_rate: {max_increase: 1%}}
            \(extra)
            """)
    }

    /// Webhook calls made, and the answer they get.
    final class Hooks: Sendable {
        let state = Mutex<(calls: [String], succeed: Bool)>(([], true))
        var calls: [String] { state.withLock { $0.calls } }
        func call(_ url: String, _ body: Data, _ timeout: Duration) -> (succeeded: Bool, message: String) {
            state.withLock { state in
                state.calls.append(url)
                return (state.succeed, state.succeed ? "HTTP 200" : "HTTP 500: no")
            }
        }
    }

    struct Setup {
        let clock = TestClock()
        let store = InMemoryArtifactStore()
        let hooks = Hooks()
        let vamp: Vamp
        let driver: ReleaseDriver

        init() async throws {
            vamp = Vamp(artifacts: store, configuration: .init(clock: clock))
            let hooks = self.hooks
            driver = ReleaseDriver(vamp: vamp, configuration: .init(holder: "test", webhook: { hooks.call($0, $1, $2) }))
            _ = try await vamp.deploy(try DeploymentRequest.read(ReleaseDriverTests.blueprint))
        }

        func store(_ text: String) async throws -> [StoredArtifact] { try await vamp.apply(try DSLReader.read(text)) }

        func status(_ name: String = "r") async throws -> ReleaseRecord { try #require(try await vamp.release(named: name)?.record) }

        /// The canary's weight in the stored gateway.
        func canaryWeight() async throws -> Int {
            let gateway = try #require(try await vamp.allGateways().first { $0.name == "sava/web/web" })
            return try #require(gateway.routes.first { $0.path == "sava/web/sava:1.1/web" }?.weight?.value)
        }

        /// Both routes' figures of one second, `seconds` ago, and the clock moved on by `advance`.
        func traffic(second: Int64, baseline: (Int, Int), canary: (Int, Int)) async throws {
            await vamp.pulse.update(names: PulseNames(try await vamp.allGateways()))
            func figures(_ counts: (Int, Int)) -> PulseFigures {
                var figures = PulseFigures()
                figures.requests = UInt64(counts.0)
                figures.statuses = [0, UInt64(counts.0 - counts.1), 0, 0, UInt64(counts.1)]
                figures.totalTime.record(milliseconds: 10, count: UInt64(counts.0))
                return figures
            }
            func key(_ service: String) -> PulseKey {
                PulseKey(frontend: HAProxyConfigurationGenerator.routeID(gateway: "sava/web/web", route: "sava/web/\(service)/web"), backend: "b", server: "s")
            }
            let bucket = PulseBucket(agent: "a", second: second, entries: [
                .init(key: key("sava:1.0"), figures: figures(baseline)), .init(key: key("sava:1.1"), figures: figures(canary)),
            ])
            let (accepted, _) = await vamp.pulse.receive([bucket])
            #expect(accepted == 1)
        }

        var second: Int64 { Int64(clock.now.timeIntervalSince1970.rounded(.down)) }
    }

    @Test("a release naming what does not exist, a second one on the same gateway, a change or a deletion while it runs: refused, with the field")
    func writesChecked() async throws {
        let setup = try await Setup()
        for (text, words) in [
            (Self.release(canary: "sava:1.2"), ["field canary", "no service 'sava:1.2'", "sava:1.0, sava:1.1"]),
            (Self.release().replacingOccurrences(of: "cluster: web", with: "cluster: api"), ["field cluster", "no cluster 'api'"]),
            (Self.release().replacingOccurrences(of: "port: web", with: "port: admin"), ["field port", "no gateway for port 'admin'"]),
            (Self.release().replacingOccurrences(of: "deployment: sava", with: "deployment: shop"), ["field deployment", "no deployment 'shop'"]),
        ] {
            do {
                _ = try await setup.store(text)
                Issue.record("stored: \(text)")
            } catch let error as OperationError {
                #expect(error.code == .invalid)
                for word in words { #expect(error.message.contains(word), "\(error.message)") }
            }
            #expect(try await setup.vamp.read(.release, name: "r") == nil, "nothing stored")
        }
        _ = try await setup.store(Self.release())
        #expect(try await setup.status().state.phase == .progressing)
        #expect(try await setup.canaryWeight() == 20, "the first step's weight is in the gateway when the write returns")
        await #expect(throws: OperationError.self) { _ = try await setup.store(Self.release("other")) }
        do {
            _ = try await setup.store(Self.release("other"))
        } catch let error as OperationError {
            #expect(error.code == .conflict && error.message.contains("release 'r' is progressing on gateway 'sava/web/web'"), "\(error.message)")
        }
        do {
            _ = try await setup.store(Self.release().replacingOccurrences(of: "[20%, 100%]", with: "[30%, 100%]"))
            Issue.record("a running release was changed")
        } catch let error as OperationError {
            #expect(error.code == .conflict && error.message.contains("cannot be changed while it runs"), "\(error.message)")
        }
        await #expect(throws: OperationError.self) { try await setup.vamp.delete(.release, name: "r") }
        _ = try await setup.vamp.releaseCommand(.abort, release: "r")
        try await setup.vamp.delete(.release, name: "r")
        #expect(try await setup.vamp.release(named: "r") == nil)
    }

    @Test("the driver counts every second once, advances, and rolls back on errors at once; the events carry the figures")
    func figuresAndRollback() async throws {
        let setup = try await Setup()
        _ = try await setup.store(Self.release())
        let start = setup.second
        await setup.clock.advance(by: .seconds(12))
        // Seconds up to 2 s behind the clock are read: start+1 ... start+10.
        for offset in 1...10 { try await setup.traffic(second: start + Int64(offset), baseline: (40, 0), canary: (10, 0)) }
        try await setup.traffic(second: start + 11, baseline: (40, 0), canary: (10, 0))   // too recent for this look
        await setup.driver.pass()
        var record = try await setup.status()
        #expect(record.state.evidence.canary.requests == 100 && record.state.evidence.baseline.requests == 400, "\(record.state.evidence)")
        #expect(record.state.step == 1 && record.state.weight.value == 100, "step 1 passed after 10 s and 100 requests: \(record.state.timeline.map(\.message))")
        #expect(try await setup.canaryWeight() == 100)
        await setup.clock.advance(by: .seconds(1))
        await setup.driver.pass()
        record = try await setup.status()
        #expect(record.state.evidence.canary.requests == 110, "second start+11 counted once, at the next look")
        await setup.driver.pass()
        #expect(try await setup.status().state.evidence.canary.requests == 110, "a look without new seconds adds nothing")

        // Errors: rolled back at the next look, the canary back to 0% in the gateway.
        await setup.clock.advance(by: .seconds(1))
        try await setup.traffic(second: start + 12, baseline: (0, 0), canary: (40, 30))
        await setup.driver.pass()
        record = try await setup.status()
        #expect(record.state.phase == .rolledBack, "\(record.state.timeline.last?.message ?? "")")
        #expect(try await setup.canaryWeight() == 0)
        let events = try await setup.vamp.events.events(matching: EventQuery(tags: ["releases:r"]), page: PageRequest(page: 1, perPage: 100)).items
        let rolledBack = try #require(events.first { $0.tags.contains("release:rolled_back") })
        #expect(rolledBack.type == "release" && rolledBack.tags.contains("deployments:sava"))
        guard case .object(let value)? = rolledBack.value, case .array(let checks)? = value["checks"] else {
            Issue.record("the event has the decision's checks: \(String(describing: rolledBack.value))")
            return
        }
        #expect(checks.contains { if case .object(let check) = $0 { check["outcome"] == .string("fail") && check["check"] == .string("error_rate") } else { false } })
    }

    @Test("a cohort step: only requests matching its condition go to the canary, at the step's weight; the next step clears it")
    func cohortStep() async throws {
        let setup = try await Setup()
        _ = try await setup.store(Self.release().replacingOccurrences(of: "steps: [20%, 100%]", with: "steps: [{weight: 50%, condition: has cookie beta}, 100%]")
            .replacingOccurrences(of: "minimum_requests: 50", with: "minimum_requests: 1"))
        func canary() async throws -> Route {
            try #require(try await setup.vamp.allGateways().first { $0.name == "sava/web/web" }?.routes.first { $0.path == "sava/web/sava:1.1/web" })
        }
        var route = try await canary()
        #expect(route.weight?.value == 0 && route.conditionStrength?.value == 50)
        guard case .inline(let condition)? = route.condition else { Issue.record("no condition: \(route)"); return }
        #expect(condition.definition == "has cookie beta")
        let start = setup.second
        await setup.clock.advance(by: .seconds(13))
        for offset in 1...10 { try await setup.traffic(second: start + Int64(offset), baseline: (40, 0), canary: (5, 0)) }
        await setup.driver.pass()
        #expect(try await setup.status().state.phase == .progressing, "its own condition is no change by hand")
        route = try await canary()
        #expect(route.weight?.value == 100 && route.condition == nil && route.conditionStrength == nil, "\(route)")
    }

    @Test("a release whose canary was taken out of the deployment fails at the next look, and sets no weight")
    func routeGone() async throws {
        let setup = try await Setup()
        _ = try await setup.store(Self.release())
        _ = try await setup.vamp.releaseCommand(.pause, release: "r")
        // Paused, the weights back to 100/0 by a merge of the blueprint; then the canary is sliced out.
        _ = try await setup.vamp.deploy(try DeploymentRequest.read(Self.blueprint))
        try await setup.vamp.slice(try DeploymentRequest.read("""
            name: sava
            clusters:
              web:
                services: [{breed: "sava:1.1"}]
            """), name: "sava")
        await setup.driver.pass()
        let record = try await setup.status()
        #expect(record.state.phase == .failed && record.state.timeline.last?.message.contains("no route of sava:1.1") == true,
                "\(record.state.timeline.last?.message ?? "")")
        #expect(!record.weightsPending)
        await setup.driver.pass()
        #expect(try await setup.status() == record, "nothing more to do")
    }

    @Test("a manual weight change pauses; resume sets the step's weights again; abort is one write; a final release takes no action")
    func manualChangeAndAbort() async throws {
        let setup = try await Setup()
        _ = try await setup.store(Self.release())
        let port = try #require(try await setup.vamp.allGateways().first { $0.name == "sava/web/web" }).port.number
        _ = try await setup.vamp.apply(try DSLReader.read("""
            kind: gateway
            name: sava/web/web
            port: \(port)/http
            routes:
              sava/web/sava:1.0/web: {weight: 50%}
              sava/web/sava:1.1/web: {weight: 50%}
            """), intent: .replace, expectedName: "sava/web/web")
        await setup.clock.advance(by: .seconds(1))
        await setup.driver.pass()
        var record = try await setup.status()
        #expect(record.state.phase == .paused && record.state.timeline.last?.message.contains("sava:1.1 at 50%, the release set 20%") == true,
                "\(record.state.timeline.last?.message ?? "")")
        record = try await setup.vamp.releaseCommand(.resume, release: "r")
        #expect(record.state.phase == .progressing)
        #expect(try await setup.canaryWeight() == 20, "resume sets the step's weight again")
        await setup.driver.pass()
        #expect(try await setup.status().state.phase == .progressing, "its own weights are no change by hand")
        await #expect(throws: OperationError.self) { _ = try await setup.vamp.releaseCommand(.approve, release: "r") }
        record = try await setup.vamp.releaseCommand(.abort, release: "r")
        #expect(record.state.phase == .aborted && record.state.weight == .zero)
        #expect(try await setup.canaryWeight() == 0)
        #expect(record.weightsPending == false)
        do {
            _ = try await setup.vamp.releaseCommand(.resume, release: "r")
            Issue.record("a final release resumed")
        } catch {
            #expect(error.code == .conflict && error.message.contains("is aborted"), "\(error.message)")
        }
    }

    @Test("a before_step webhook that answers 500 fails the release; the rollback hook is told; a second facade on the same store goes on from the record")
    func webhooksAndRestart() async throws {
        let setup = try await Setup()
        setup.hooks.state.withLock { $0.succeed = false }
        _ = try await setup.store(Self.release("hooked", """
            webhooks:
              - {url: "http://hooks.example/before", on: before_step}
              - {url: "http://hooks.example/rollback", on: rollback}
            """))
        #expect(try await setup.status("hooked").state.pendingWebhook?.moment == .beforeStep)
        #expect(try await setup.canaryWeight() == 0, "no weight before the hook answered")
        await setup.driver.pass()
        #expect(try await setup.status("hooked").state.phase == .failed)
        await setup.driver.pass()
        #expect(setup.hooks.calls == ["http://hooks.example/before", "http://hooks.example/rollback"])
        #expect(try await setup.status("hooked").notifications.isEmpty, "the end's hook is called once")

        // A second facade (a restarted server) on the same store: the record is there, and its driver goes on.
        _ = try await setup.store(Self.release())
        let start = setup.second
        let restarted = Vamp(artifacts: setup.store, configuration: .init(clock: setup.clock))
        let driver = ReleaseDriver(vamp: restarted, configuration: .init(holder: "second", webhook: { _, _, _ in (true, "") }))
        #expect(try await restarted.release(named: "r")?.record?.state.weight.value == 20)
        await setup.clock.advance(by: .seconds(4))
        await restarted.pulse.update(names: PulseNames(try await restarted.allGateways()))
        await restarted.pulse.receive([PulseBucket(agent: "a", second: start + 1, entries: [.init(
            key: PulseKey(frontend: HAProxyConfigurationGenerator.routeID(gateway: "sava/web/web", route: "sava/web/sava:1.1/web"), backend: "b", server: "s"),
            figures: { var figures = PulseFigures(); figures.requests = 7; figures.statuses = [0, 7, 0, 0, 0]; return figures }()),
        ])])
        await driver.pass()
        #expect(try await restarted.release(named: "r")?.record?.state.evidence.canary.requests == 7)
    }
}
