import Foundation
import Testing
import VampClient
import VampModel
import VampTesting

/// VampClient's typed methods against a real `vamp-server` (embedded agent with HAProxy, `sava` processes).
@Suite("VampClient against a real vamp-server", .serialized)
struct VampClientServerTests {
    static let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()

    static func until(_ what: String, _ condition: () async throws -> Bool) async throws {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(30) {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FixtureError("timed out: \(what)")
    }

    @Test("deploy a Blueprint value, merge, change weights, slice, undeploy; validate_only stores nothing; refusals and stream")
    func lifecycle() async throws {
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let vamp = VampClient(host: server.host, token: VampServerFixture.adminToken)
        let gatewayPort = try FreePort.next()
        func breed(_ version: String) -> Breed {
            Breed(name: "sava:\(version)", deployable: Deployable(type: "command", definition: "sava --text sava:\(version)"),
                  ports: [BreedPort(name: "web", number: 8080, type: .http)])
        }
        let scale = Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1)
        var blueprint = Blueprint(name: "sava", clusters: [Cluster(name: "web", services: [Service(breed: .inline(breed("1.0")), scale: .inline(scale))])])
        blueprint.gateways = [Gateway(name: "\(gatewayPort)/http", port: GatewayPort(number: gatewayPort), routes: [Route(path: "web/web")])]

        // validate_only: the would-be result, nothing stored.
        try await vamp.deploy(blueprint, as: "sava", validateOnly: true)
        #expect(try await vamp.deployment("sava") == nil)

        // A live subscription sees the deployment's events.
        let stream = vamp.eventStream(tags: ["deployments:sava", "synchronization:deployed"])
        let firstEvent = Task { () -> Event? in
            for try await event in stream { return event }
            return nil
        }
        try await Task.sleep(for: .milliseconds(300))

        try await vamp.deploy(blueprint, as: "sava")
        try await Self.until("sava:1.0 Done") {
            try await vamp.deployment("sava")?.clusters.flatMap(\.services).map { "\($0.breed.name) \($0.status.phase.name.rawValue)" } == ["sava:1.0 Done"]
        }
        let event = try await firstEvent.value
        #expect(event?.tags.contains("synchronization:deployed") == true, "\(String(describing: event))")
        #expect(try await vamp.deployments().map(\.name) == ["sava"])
        #expect(try await vamp.gateways().map(\.name).sorted() == ["sava/\(gatewayPort)", "sava/web/web"])

        // Merge 1.1 (0%), then 80/20 through the cluster gateway.
        let canary = Blueprint(name: "sava", clusters: [Cluster(name: "web", services: [Service(breed: .inline(breed("1.1")), scale: .inline(scale))])])
        try await vamp.deploy(canary, as: "sava")
        try await Self.until("both Done") {
            try await vamp.deployment("sava")?.clusters.flatMap(\.services).filter { $0.status.phase.name == .done }.count == 2
        }
        var gateway = try #require(try await vamp.gateway("sava/web/web"))
        #expect(gateway.routes.map(\.weight) == [Percentage(100), Percentage(0)])
        gateway.routes[0].weight = Percentage(80)
        gateway.routes[1].weight = Percentage(20)
        try await vamp.updateGateway(gateway)
        #expect(try await vamp.gateway("sava/web/web")?.routes.map(\.weight) == [Percentage(80), Percentage(20)])

        // Refusals are the caller's errors, with the server's message.
        do {
            try await vamp.undeploy("sava", services: ["sava:1.1"])
            Issue.record("a slice leaving 80% must be refused")
        } catch {
            #expect(error.code == .refused && error.isUserError && error.message.contains("weight"), "\(error)")
        }
        do {
            try await vamp.create(.gateway, document: "name: g\nport: 80\nroutes:\n  a: {weight: 60%}\n")
            Issue.record("a gateway of 60% must be refused")
        } catch {
            #expect(error.code == .refused && error.message.contains("line 3"), "\(error)")
        }
        #expect(try await vamp.read(.breed, name: "nope") == nil)

        // Promote, slice 1.0, remove the rest.
        gateway.routes[0].weight = Percentage(0)
        gateway.routes[1].weight = Percentage(100)
        try await vamp.updateGateway(gateway)
        try await vamp.undeploy("sava", services: ["sava:1.0"])
        try await Self.until("only 1.1 left") {
            try await vamp.deployment("sava")?.clusters.flatMap(\.services).map(\.breed.name) == ["sava:1.1"]
        }
        try await vamp.undeploy("sava")
        try await Self.until("the deployment gone") { try await vamp.deployment("sava") == nil }

        // Events and info.
        let published = try await vamp.publish(Event(tags: ["client-test"], value: .string("hello")))
        #expect(published.id != nil)
        #expect(try await vamp.events(tags: ["client-test"]).map(\.value) == [.string("hello")])
        #expect(try await vamp.info()["version"] != nil)
    }

    @Test("no server: a connection error, not the user's")
    func noServer() async throws {
        let vamp = VampClient(host: URL(string: "http://127.0.0.1:\(try FreePort.next())")!)
        do {
            _ = try await vamp.info()
            Issue.record("no server answers")
        } catch {
            #expect(error.code == .connection && !error.isUserError, "\(error)")
        }
    }
}
