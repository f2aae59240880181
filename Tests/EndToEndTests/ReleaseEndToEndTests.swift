import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Releases end to end: the built `vamp-server` with its embedded gateway agent (real HAProxy), the local-process
/// driver running real `sava` processes, real traffic through the gateway, the figures the agent reads from HAProxy's
/// log, and the release driver deciding on them. Each test deploys `sava:1.0` and merges a canary (a good one, one
/// that answers 500 to half the requests, one 50 ms slower) at 0%, then lets a release move the weights.
@Suite("End to end: releases with real HAProxy, processes and traffic", .serialized)
struct ReleaseEndToEndTests {
    typealias Server = VampServerFixture
    let client = HTTPClient.shared

    // MARK: Fixture

    /// A server with `sava:1.0` deployed (one instance) behind a fresh gateway port and `canary` merged at 0%; the
    /// gateway port.
    /// With `merged` false, the canary's breed is only stored, for a release with `merge: true` to merge it.
    static func deploy(_ client: HTTPClient, _ server: Server, canary: String = "sava:1.1", flags: String = "", merged: Bool = true) async throws -> Int {
        let port = try FreePort.next()
        func breed(_ name: String, _ flags: String) -> String {
            "name: \(name)\ndeployable: {type: command, definition: \"sava --text \(name) \(flags)\"}\nports: {web: 8080/http}"
        }
        func service(_ name: String, _ flags: String) -> String {
            "      - breed: {\(breed(name, flags).replacingOccurrences(of: "\n", with: ", "))}\n        scale: {cpu: 0.1, memory: 64MB, instances: 1}"
        }
        let baseline = "name: sava\ngateways:\n  \(port)/http: web/web\nclusters:\n  web:\n    services:\n" + service("sava:1.0", "") + "\n"
        #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/deployments/sava", yaml: baseline).0 == 202)
        try await CanaryReleaseTests.eventually("sava:1.0 Done") { try await CanaryReleaseTests.allDone(client, server, "sava", ["sava:1.0"]) }
        guard merged else {
            let (code, body) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/breeds", yaml: breed(canary, flags))
            #expect(code == 201, "\(body)")
            try await CanaryReleaseTests.eventually("the gateway answers") { try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/").0 == 200 }
            return port
        }
        let merge = "name: sava\nclusters:\n  web:\n    services:\n" + service(canary, flags) + "\n"
        #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/deployments/sava", yaml: merge).0 == 202)
        try await CanaryReleaseTests.eventually("\(canary) Done") { try await CanaryReleaseTests.allDone(client, server, "sava", ["sava:1.0", canary]) }
        // The gateway serves the baseline before anything is measured.
        try await CanaryReleaseTests.eventually("the gateway answers") { try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/").0 == 200 }
        return port
    }

    /// A release of `canary` against `sava:1.0` on gateway `sava/web/web`, with the given extra lines.
    static func release(_ name: String, canary: String = "sava:1.1", _ lines: String) -> String {
        ReleaseDocuments.sava(name, canary: canary, lines)
    }

    /// The release's `status`.
    static func status(_ client: HTTPClient, _ server: Server, _ name: String) async throws -> [String: Any] {
        let (code, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/releases/\(name)")
        guard code == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let status = object["status"] as? [String: Any] else { throw FixtureError("GET release \(name): \(code) \(body)") }
        return status
    }

    /// Waits until the release's state is `state`; returns its status then.
    @discardableResult
    static func waitFor(_ state: String, _ client: HTTPClient, _ server: Server, _ name: String, timeout: Duration = .seconds(90)) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        do {
            try await CanaryReleaseTests.eventually("release \(name) \(state)", timeout: timeout) {
                last = try await status(client, server, name)
                return last["state"] as? String == state
            }
        } catch {
            throw FixtureError("release \(name) never reached \(state); its status: \(last)")
        }
        return last
    }

    static func timeline(_ status: [String: Any]) -> [[String: Any]] { status["timeline"] as? [[String: Any]] ?? [] }

    /// The share of `samples` requests through the gateway answered by `canary`; failures are counted as such.
    static func canaryShare(_ client: HTTPClient, port: Int, canary: String = "sava:1.1", samples: Int = 100) async throws -> (share: Double, failed: Int) {
        let bodies = try await CanaryReleaseTests.sample(client, port: port, requests: samples)
        let failed = bodies.filter { $0.key.hasPrefix("HTTP ") }.values.reduce(0, +)
        return (Double(bodies[canary] ?? 0) / Double(samples), failed)
    }

    /// Waits until HAProxy sends the canary nothing (20 requests in a row); returns how long that took.
    @discardableResult
    static func noCanary(_ client: HTTPClient, port: Int) async throws -> Duration {
        try await CanaryReleaseTests.eventually("HAProxy sends the canary nothing", timeout: .seconds(5)) {
            try await canaryShare(client, port: port, samples: 20).share == 0
        }
    }

    static func post(_ client: HTTPClient, _ server: Server, _ path: String) async throws -> (Int, String) {
        try await CanaryReleaseTests.call(client, .POST, "\(server.api)/\(path)")
    }

    // MARK: Tests

    @Test("a good canary, merged by the release, runs before its first step, goes through every step and is promoted; the baseline is removed; no request fails")
    func goodCanaryPromoted() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let port = try await Self.deploy(client, server, merged: false)
        let load = CanaryReleaseTests.Load(client: client, port: port)
        let (code, body) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("good", """
            merge: true
            steps: [20%, 50%, 100%]
            step: {minimum_duration: 2s, minimum_requests: 20}
            checks:
              error_rate: {max_increase: 5%}
              response_time: {percentile: 50, max_increase: 20ms}
            on_success: {remove_baseline: true}
            """))
        #expect(code == 201, "\(body)")
        #expect(body.contains("\"status\""), "the answer carries the started release's status: \(body)")
        let promoted = try await Self.waitFor("promoted", client, server, "good", timeout: .seconds(120))
        let decisions = Self.timeline(promoted).compactMap { $0["decision"] as? String }
        #expect(Array(decisions.prefix(3)) == ["started", "canary_deployed", "advanced"] && decisions.last == "promoted", "\(decisions)")
        #expect(decisions.filter { $0 == "advanced" }.count >= 3, "every step was entered and passed: \(decisions)")
        #expect(promoted["weight"] as? String == "100%")
        try await CanaryReleaseTests.eventually("sava:1.0 removed") { try await CanaryReleaseTests.allDone(client, server, "sava", ["sava:1.1"]) }
        #expect(try await Self.canaryShare(client, port: port, samples: 40).share == 1)
        await load.stop()
        let counts = load.snapshot
        #expect(counts.failures.isEmpty, "failed requests during the release: \(counts.failures.prefix(5)) of \(counts.total)")
        #expect(counts.bodies["sava:1.1", default: 0] > 0 && counts.bodies["sava:1.0", default: 0] > 0)
    }

    @Test("a canary answering 500 to half its requests is rolled back during its first step, its failed requests counted")
    func failingCanaryRolledBack() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let port = try await Self.deploy(client, server, canary: "sava:1.1", flags: "--errors 0.5")
        let load = CanaryReleaseTests.Load(client: client, port: port)
        #expect(try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("failing", """
            steps: [10%, 50%, 100%]
            step: {minimum_duration: 5m, minimum_requests: 20}
            checks:
              error_rate: {max_increase: 1%}
            """)).0 == 201)
        let rolledBack = try await Self.waitFor("rolled_back", client, server, "failing", timeout: .seconds(90))
        await load.stop()
        #expect(rolledBack["step"] as? Int == 1, "rolled back during the first step")
        #expect(rolledBack["weight"] as? String == "0%")
        let canary = (rolledBack["evidence"] as? [String: Any])?["canary"] as? [String: Any]
        let failed = canary?["errors"] as? Int ?? 0
        #expect(failed > 0, "the canary's failed requests are counted: \(canary ?? [:])")
        let last = Self.timeline(rolledBack).last ?? [:]
        let checks = last["checks"] as? [[String: Any]] ?? []
        #expect(last["decision"] as? String == "rolled_back")
        #expect(checks.contains { $0["check"] as? String == "error_rate" && $0["outcome"] as? String == "fail" }, "\(checks)")
        // The state is written before the gateway; HAProxy has the rollback a reload later.
        try await Self.noCanary(client, port: port)
        let after = try await Self.canaryShare(client, port: port, samples: 60)
        #expect(after.share == 0 && after.failed == 0, "the canary gets no request after the rollback: \(after)")
        print("release-e2e: 5xx canary rolled back with \(failed) failed canary requests of \(canary?["requests"] ?? 0)")
    }

    @Test("a canary 50 ms slower is rolled back on the p99 check")
    func slowCanaryRolledBack() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let port = try await Self.deploy(client, server, canary: "sava:1.1", flags: "--delay 50")
        let load = CanaryReleaseTests.Load(client: client, port: port)
        #expect(try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("slow", """
            steps: [20%, 100%]
            step: {minimum_duration: 5m, minimum_requests: 20}
            checks:
              response_time: {percentile: 99, max_increase: 20ms}
            """)).0 == 201)
        let rolledBack = try await Self.waitFor("rolled_back", client, server, "slow", timeout: .seconds(120))
        await load.stop()
        let checks = Self.timeline(rolledBack).last?["checks"] as? [[String: Any]] ?? []
        #expect(checks.contains { $0["check"] as? String == "response_time" && $0["outcome"] as? String == "fail" }, "\(checks)")
        try await Self.noCanary(client, port: port)
        #expect(try await Self.canaryShare(client, port: port, samples: 40).share == 0)
    }

    @Test("without traffic a release holds with insufficient data and never promotes; a webhook answering 500 halts another")
    func noTrafficHoldsAndWebhookHalts() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        _ = try await Self.deploy(client, server)
        #expect(try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("idle", """
            steps: [50%, 100%]
            step: {minimum_duration: 1s, minimum_requests: 20}
            insufficient_data: {after: 2s, then: hold}
            """)).0 == 201)
        let holding = try await Self.waitFor("holding", client, server, "idle", timeout: .seconds(30))
        let message = Self.timeline(holding).last?["message"] as? String ?? ""
        #expect(message.contains("insufficient data"), "\(message)")
        // Its wait (2 s) runs out and it keeps holding, saying so: many more looks, still at its first step, never promoted.
        var later: [String: Any] = [:]
        try await CanaryReleaseTests.eventually("release idle says it still holds", timeout: .seconds(30)) {
            later = try await Self.status(client, server, "idle")
            return Self.timeline(later).contains { ($0["message"] as? String ?? "").contains("still holding") }
        }
        #expect(later["state"] as? String == "holding" && later["step"] as? Int == 1, "\(later)")
        #expect(!Self.timeline(later).contains { $0["decision"] as? String == "promoted" })
        // One release per gateway: a second one is refused while this one runs.
        let (refused, why) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("second", "steps: [10%, 100%]"))
        #expect(refused == 409 && why.contains("one release per gateway"), "\(refused) \(why)")
        #expect(try await Self.post(client, server, "releases/idle/abort").0 == 200)

        let hook = try TestHTTPService(name: "hook", status: 500)
        defer { hook.stop() }
        #expect(try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("hooked", """
            steps: [10%, 100%]
            webhooks:
              - {url: "http://127.0.0.1:\(hook.port)/before", on: before_step, timeout: 5s}
            """)).0 == 201)
        let failed = try await Self.waitFor("failed", client, server, "hooked", timeout: .seconds(30))
        let halted = Self.timeline(failed).last?["message"] as? String ?? ""
        #expect(halted.contains("webhook") && halted.contains("500"), "\(halted)")
        #expect(hook.requests.contains { $0.path == "/before" }, "the webhook was called")
        #expect(failed["weight"] as? String == "0%")
    }

    @Test("a gate waits for approve; a manual weight change pauses; a restart resumes at the step; abort puts 0% on the canary at once")
    func gateRestartAbort() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let port = try await Self.deploy(client, server)
        #expect(try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: Self.release("gated", """
            steps: [{weight: 30%, approval: true}, 100%]
            step: {minimum_duration: 10m, minimum_requests: 20}
            """)).0 == 201)
        let waiting = try await Self.waitFor("awaiting_approval", client, server, "gated", timeout: .seconds(10))
        #expect(waiting["weight"] as? String == "0%" && waiting["awaiting_approval"] as? Int == 1, "\(waiting)")
        #expect(try await Self.canaryShare(client, port: port, samples: 30).share == 0, "nothing moves before the approval")
        let (wrong, why) = try await Self.post(client, server, "releases/gated/resume")
        #expect(wrong == 409 && why.contains("not paused"), "\(wrong) \(why)")
        #expect(try await Self.post(client, server, "releases/gated/approve").0 == 200)
        try await CanaryReleaseTests.eventually("HAProxy sends the canary its 30%") {
            let share = try await Self.canaryShare(client, port: port, samples: 100).share
            return share > 0.12 && share < 0.5
        }

        // A user moves the weights by hand: the release pauses and says why; resume sets its weights again.
        #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: CanaryReleaseTests.split(50, 50, port: port)).0 == 202)
        let paused = try await Self.waitFor("paused", client, server, "gated", timeout: .seconds(15))
        #expect((Self.timeline(paused).last?["message"] as? String ?? "").contains("by hand"), "\(Self.timeline(paused).last ?? [:])")
        #expect(try await Self.post(client, server, "releases/gated/resume").0 == 200)

        // A restart: the release is still at its step with its timeline, and the driver goes on with it.
        let before = try await Self.status(client, server, "gated")
        try await server.restart(signal: SIGTERM, log: "vamp-server-2.log")
        let after = try await Self.status(client, server, "gated")
        #expect(after["state"] as? String == "progressing" && after["step"] as? Int == 1 && after["weight"] as? String == "30%", "\(after)")
        #expect(Self.timeline(after).count == Self.timeline(before).count, "the timeline survived the restart")
        try await CanaryReleaseTests.eventually("HAProxy serves the step's 30% after the restart") {
            let share = try await Self.canaryShare(client, port: port, samples: 100).share
            return share > 0.12 && share < 0.5
        }

        // Abort: one gateway write before the answer; the canary gets nothing from then on.
        let start = ContinuousClock.now
        let (aborted, answer) = try await Self.post(client, server, "releases/gated/abort")
        let answered = ContinuousClock.now - start
        #expect(aborted == 200 && answer.contains("\"aborted\""), "\(aborted) \(answer)")
        let zero = try await Self.noCanary(client, port: port)
        print("release-e2e: abort answered in \(answered), canary at 0% in HAProxy \(zero) after the answer")
        #expect(try await Self.canaryShare(client, port: port, samples: 60).share == 0)
        let (again, refusal) = try await Self.post(client, server, "releases/gated/pause")
        #expect(again == 409 && refusal.contains("aborted"), "\(again) \(refusal)")
        // Over: the release can be deleted.
        #expect(try await CanaryReleaseTests.call(client, .DELETE, "\(server.api)/releases/gated").0 == 204)
    }
}
