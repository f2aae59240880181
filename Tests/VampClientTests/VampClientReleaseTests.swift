import Foundation
import Testing
import VampClient
import VampModel
import VampTesting

/// VampClient's release calls against a real `vamp-server` running `sava:1.0` with `sava:1.1` merged at 0%; the
/// releases' first step waits for approval, so they stand still without traffic.
@Suite("VampClient releases against a real vamp-server", .serialized)
struct VampClientReleaseTests {
    static func release(_ name: String) -> String {
        ReleaseDocuments.sava(name, """
            steps: [{weight: 20%, approval: true}, 50%, 100%]
            step: {minimum_duration: 1s, minimum_requests: 1}
            """)
    }

    /// Deploys `sava:1.0` and merges `sava:1.1`; returns once both are Done.
    static func deployQuickStart(_ vamp: VampClient) async throws {
        func breed(_ version: String) -> Breed {
            Breed(name: "sava:\(version)", deployable: Deployable(type: "command", definition: "sava --text sava:\(version)"),
                  ports: [BreedPort(name: "web", number: 8080, type: .http)])
        }
        let scale = Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1)
        let gatewayPort = try FreePort.next()
        var blueprint = Blueprint(name: "sava", clusters: [Cluster(name: "web", services: [Service(breed: .inline(breed("1.0")), scale: .inline(scale))])])
        blueprint.gateways = [Gateway(name: "\(gatewayPort)/http", port: GatewayPort(number: gatewayPort), routes: [Route(path: "web/web")])]
        try await vamp.deploy(blueprint, as: "sava")
        let canary = Blueprint(name: "sava", clusters: [Cluster(name: "web", services: [Service(breed: .inline(breed("1.1")), scale: .inline(scale))])])
        try await vamp.deploy(canary, as: "sava")
        try await VampClientServerTests.until("both Done") {
            try await vamp.deployment("sava")?.clusters.flatMap(\.services).filter { $0.status.phase.name == .done }.count == 2
        }
    }

    static func canaryWeight(_ vamp: VampClient) async throws -> Percentage? {
        try await vamp.gateway("sava/web/web")?.routes.first { $0.path.contains("sava:1.1") }?.weight
    }

    @Test("startRelease, release, releases, control: approve, abort to 0%, 409 and 404 as errors with the server's sentence")
    func lifecycle() async throws {
        let server = try await VampServerFixture(binaries: VampClientServerTests.bin)
        defer { server.tearDown() }
        let vamp = VampClient(host: server.host, token: VampServerFixture.adminToken)
        try await Self.deployQuickStart(vamp)

        // validate_only starts nothing.
        let checked = try await vamp.startRelease(Self.release("sava-1.1"), validateOnly: true)
        #expect(checked.release.name == "sava-1.1")
        #expect(try await vamp.release("sava-1.1") == nil)

        let started = try await vamp.startRelease(Self.release("sava-1.1"))
        #expect(started.release.canary == "sava:1.1" && started.release.steps.count == 3)
        let status = try #require(started.status, "the POST's answer has a status")
        #expect(status.state == .awaitingApproval && status.awaitingApproval == 1 && status.step == 1 && status.steps == 3)
        #expect(status.timeline.first?.decision == "started")

        // Read one, and the list.
        let read = try #require(try await vamp.release("sava-1.1"))
        #expect(read.status?.state == .awaitingApproval)
        #expect(try await vamp.releases().map(\.release.name) == ["sava-1.1"])
        #expect(try await vamp.release("nope") == nil)

        // A second release of the gateway: refused (409) with a sentence naming the running one.
        do {
            try await vamp.startRelease(Self.release("sava-1.1-again"))
            Issue.record("a second release of sava/web/web must be refused")
        } catch {
            #expect(error.code == .refused && error.status == 409 && error.message.contains("sava-1.1"), "\(error)")
        }

        // approve: the first step's weight is written.
        let approved = try await vamp.control(release: "sava-1.1", .approve)
        #expect(approved.status?.state == .progressing && approved.status?.weight == Percentage(20), "\(String(describing: approved.status))")
        #expect(approved.status?.timeline.map(\.decision).contains("approved") == true)
        try await VampClientServerTests.until("the canary at 20% in the gateway") { try await Self.canaryWeight(vamp) == Percentage(20) }

        // abort: 0% on the canary before the answer.
        let aborted = try await vamp.control(release: "sava-1.1", .abort)
        #expect(aborted.status?.state == .aborted && aborted.status?.weight == .zero)
        #expect(aborted.status?.timeline.last?.decision == "aborted")
        #expect(try await Self.canaryWeight(vamp) == .zero)

        // An action that does not apply: 409 with the server's sentence; an unknown release: 404.
        do {
            try await vamp.control(release: "sava-1.1", .pause)
            Issue.record("an aborted release cannot be paused")
        } catch {
            #expect(error.code == .refused && error.status == 409 && error.message.contains("sava-1.1") && error.isUserError, "\(error)")
        }
        do {
            try await vamp.control(release: "nope", .resume)
            Issue.record("there is no release 'nope'")
        } catch {
            #expect(error.code == .notFound, "\(error)")
        }
    }
}
