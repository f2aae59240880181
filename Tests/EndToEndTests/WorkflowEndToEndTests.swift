import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// Workflows end to end: the built `vamp-server` with its local process driver runs `time` and `event` workflows
/// whose breed is a shell script that calls the API back through `VAMP_URL` with its `VAMP_API_TOKEN`.
@Suite("End to end: workflows on a schedule and on events, as local processes", .serialized)
struct WorkflowEndToEndTests {
    typealias E2E = CanaryReleaseTests

    /// A script that posts an event tagged `tick:<workflow>` and says so.
    static func tickScript(_ server: VampServerFixture) throws -> String {
        let path = server.folder.url.appendingPathComponent("tick.sh").path
        try """
        #!/bin/sh
        curl -sf -X POST -H "Authorization: Bearer $VAMP_API_TOKEN" -H 'Content-Type: application/json' \\
          -d "{\\"tags\\":[\\"tick:$VAMP_WORKFLOW_NAME\\"],\\"value\\":\\"$VAMP_WORKFLOW_EXECUTION_PERIOD\\"}" \\
          "$VAMP_URL/api/v1/events" > /dev/null || { echo "curl failed: $?"; exit 3; }
        echo "ticked $VAMP_WORKFLOW_NAME in $VAMP_NAMESPACE"

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func events(_ client: HTTPClient, _ server: VampServerFixture, tag: String) async throws -> [[String: Any]] {
        let (_, body) = try await E2E.call(client, .GET, "\(server.api)/events?tag=\(tag)&per_page=200")
        return (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]) ?? []
    }

    static func runs(_ client: HTTPClient, _ server: VampServerFixture, _ workflow: String) async throws -> [String: Any] {
        let (status, body) = try await E2E.call(client, .GET, "\(server.api)/workflows/\(workflow)/runs")
        guard status == 200 else { throw FixtureError("GET runs: \(status) \(body)") }
        return (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
    }

    static func status(_ client: HTTPClient, _ server: VampServerFixture, _ workflow: String) async throws -> String {
        try await E2E.call(client, .GET, "\(server.api)/workflows/\(workflow)/status").1
    }

    @Test("a time workflow every 2 s calls the API back at each slot; suspended it stops, resumed it runs again; events scheduled/unscheduled")
    func timeWorkflow() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let script = try Self.tickScript(server)
        let (breed, breedBody) = try await E2E.call(client, .POST, "\(server.api)/breeds", yaml: """
            name: tick
            deployable: {type: command, definition: "sh \(script)"}
            """)
        #expect(breed == 201, "\(breedBody)")
        let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
            name: ticker
            breed: tick
            schedule: {time: {period: PT2S}}
            """)
        #expect(created == 202, "\(body)")
        let start = ContinuousClock.now
        try await E2E.eventually("4 ticks\n\(server.process.logTail())", timeout: .seconds(20)) {
            try await Self.events(client, server, tag: "tick:ticker").count >= 4
        }
        let took = ContinuousClock.now - start
        // Slots at 0, 2, 4 and 6 s: the fourth tick comes after about 6 s, not before 5.
        #expect(took > .seconds(5) && took < .seconds(10), "4 runs took \(took)")
        let ticks = try await Self.events(client, server, tag: "tick:ticker")
        #expect(ticks.allSatisfy { ($0["value"] as? String) == "2" }, "VAMP_WORKFLOW_EXECUTION_PERIOD: \(ticks)")
        let history = try await Self.runs(client, server, "ticker")
        let runs = history["runs"] as? [[String: Any]] ?? []
        #expect(runs.count >= 4)
        let ended = runs.filter { $0["outcome"] as? String != "running" }
        #expect(!ended.isEmpty && ended.allSatisfy { $0["outcome"] as? String == "succeeded" && $0["exit_status"] as? Int == 0 }, "\(runs)")
        #expect(ended.allSatisfy { ($0["output"] as? String)?.contains("ticked ticker in") == true }, "\(runs)")
        let slots = runs.compactMap { $0["slot"] as? Int }
        #expect(Set(slots).count == slots.count, "no slot twice: \(slots)")
        #expect((history["schedule"] as? [String: Any])?["next_run"] != nil, "\(history)")
        #expect(try await Self.status(client, server, "ticker") == "\"running\"")
        #expect(try await !Self.events(client, server, tag: "workflows:ticker&tag=scheduled").isEmpty)

        // Suspended: no run any more.
        let (suspended, suspendBody) = try await E2E.call(client, .PUT, "\(server.api)/workflows/ticker/status", yaml: "suspended")
        #expect(suspended == 202, "\(suspendBody)")
        try await E2E.eventually("suspended") { try await Self.status(client, server, "ticker") == "\"suspended\"" }
        try await E2E.eventually("unscheduled event") { try await !Self.events(client, server, tag: "workflows:ticker&tag=unscheduled").isEmpty }
        let before = try await Self.events(client, server, tag: "tick:ticker").count
        try await Task.sleep(for: .seconds(4.5))
        #expect(try await Self.events(client, server, tag: "tick:ticker").count == before, "a suspended workflow ran")

        // Resumed: runs again.
        let (resumed, _) = try await E2E.call(client, .PUT, "\(server.api)/workflows/ticker/status", yaml: "running")
        #expect(resumed == 202)
        try await E2E.eventually("ticks again", timeout: .seconds(10)) { try await Self.events(client, server, tag: "tick:ticker").count > before }
        #expect(try await Self.status(client, server, "ticker") == "\"running\"")
    }

    @Test("a workflow of another namespace calls its own namespace back: $VAMP_URL/api/v1 is /<namespace>/api/v1")
    func otherNamespace() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let script = try Self.tickScript(server)
        let team = "\(server.host.absoluteString)/team/api/v1"
        let (created, body) = try await E2E.call(client, .POST, "\(team)/workflows", yaml: """
            name: ticker
            breed: {name: tick, deployable: {type: command, definition: "sh \(script)"}}
            schedule: {time: {period: PT1H}}
            """)
        #expect(created == 202, "\(body)")
        try await E2E.eventually("a tick in namespace team\n\(server.process.logTail())", timeout: .seconds(20)) {
            let (_, events) = try await E2E.call(client, .GET, "\(team)/events?tag=tick:ticker")
            return events.contains("tick:ticker")
        }
        let (_, inDefault) = try await E2E.call(client, .GET, "\(server.api)/events?tag=tick:ticker")
        #expect(!inDefault.contains("tick:ticker"), "the event went to the default namespace: \(inDefault)")
    }

    @Test("a run past VAMP_WORKFLOW_EXECUTION_TIMEOUT is stopped and recorded as timed out")
    func timeout() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
            name: sleeper
            breed:
              name: sleeper
              deployable: {type: command, definition: "sleep 60"}
            schedule: {time: {period: PT1H}}
            environment_variables:
              VAMP_WORKFLOW_EXECUTION_TIMEOUT: 1
            """)
        #expect(created == 202, "\(body)")
        try await E2E.eventually("a timed-out run\n\(server.process.logTail())", timeout: .seconds(20)) {
            let runs = try await Self.runs(client, server, "sleeper")["runs"] as? [[String: Any]] ?? []
            return runs.first?["outcome"] as? String == "timed-out"
        }
        let run = (try await Self.runs(client, server, "sleeper")["runs"] as? [[String: Any]] ?? []).first ?? [:]
        let duration = run["duration"] as? Double ?? 0
        #expect(duration >= 1 && duration < 8, "stopped after \(duration) s: \(run)")
    }

    @Test("an event workflow runs for each matching event and gets the event; other events start nothing")
    func eventWorkflow() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let out = server.folder.url.appendingPathComponent("events.txt").path
        let script = server.folder.url.appendingPathComponent("record.sh").path
        try "#!/bin/sh\necho \"$VAMP_WORKFLOW_EVENT\" >> \(out)\n".write(toFile: script, atomically: true, encoding: .utf8)
        let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
            name: recorder
            breed:
              name: recorder
              deployable: {type: command, definition: "sh \(script)"}
            schedule: {event: [release, deployments:shop]}
            """)
        #expect(created == 202, "\(body)")
        try await E2E.eventually("scheduled") { try await !Self.events(client, server, tag: "workflows:recorder&tag=scheduled").isEmpty }
        let (other, _) = try await E2E.call(client, .POST, "\(server.api)/events", yaml: "tags: [release]\nvalue: not-this-one")
        #expect(other == 201)
        let (posted, postBody) = try await E2E.call(client, .POST, "\(server.api)/events", yaml: "tags: [release, deployments:shop]\nvalue: v1.1")
        #expect(posted == 201, "\(postBody)")
        try await E2E.eventually("the run got the event\n\(server.process.logTail())", timeout: .seconds(15)) {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("v1.1")
        }
        try await Task.sleep(for: .seconds(1))
        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.count == 1, "\(lines)")
        #expect(!lines.joined().contains("not-this-one"))
        let event = try JSONSerialization.jsonObject(with: Data(lines.joined().utf8)) as? [String: Any]
        #expect((event?["tags"] as? [String])?.contains("deployments:shop") == true, "\(lines)")
    }

    @Test("a daemon killed behind Vamp's back is started again; after a server restart a time schedule resumes once, no slot twice")
    func daemonAndRestart() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let pidFile = server.folder.url.appendingPathComponent("daemon.pid").path
        let script = server.folder.url.appendingPathComponent("daemon.sh").path
        try "#!/bin/sh\necho $$ > \(pidFile)\nexec sleep 1000\n".write(toFile: script, atomically: true, encoding: .utf8)
        let tick = try Self.tickScript(server)
        for yaml in [
            "name: keeper\nbreed: {name: keeper, deployable: {type: command, definition: \"sh \(script)\"}}\nschedule: daemon",
            "name: ticker\nbreed: {name: tick, deployable: {type: command, definition: \"sh \(tick)\"}}\nschedule: {time: {period: PT2S}}",
        ] {
            let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: yaml)
            #expect(created == 202, "\(body)")
        }
        func pid() -> Int32? { (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
        try await E2E.eventually("the daemon runs\n\(server.process.logTail())") { pid().map { kill($0, 0) == 0 } ?? false }
        let first = pid()!
        kill(first, SIGKILL)
        try await E2E.eventually("the daemon runs again\n\(server.process.logTail())", timeout: .seconds(30)) {
            guard let again = pid(), again != first else { return false }
            return kill(again, 0) == 0
        }

        try await E2E.eventually("2 ticks") { try await Self.events(client, server, tag: "tick:ticker").count >= 2 }
        try await server.restart(signal: SIGTERM, log: "after-restart.log")
        let restarted = Date()
        try await Task.sleep(for: .seconds(5))
        let runs = try await Self.runs(client, server, "ticker")["runs"] as? [[String: Any]] ?? []
        let slots = runs.compactMap { $0["slot"] as? Int }
        #expect(Set(slots).count == slots.count, "a slot ran twice: \(slots)")
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let startsAfter = runs.compactMap { ($0["started"] as? String).flatMap { try? Date($0, strategy: style) } }.filter { $0 >= restarted }.sorted()
        #expect(!startsAfter.isEmpty, "the schedule did not resume: \(runs)")
        // Once at the restart, then every 2 s: never two runs within a second of each other.
        for (earlier, later) in zip(startsAfter, startsAfter.dropFirst()) {
            #expect(later.timeIntervalSince(earlier) > 1, "two runs at once after the restart: \(startsAfter)")
        }
    }

    @Test("Pulse's health, metrics and allocation are workflows: DELETE /workflows/metrics stops the metrics events, creating it again starts them")
    func builtInJobs() async throws {
        let server = try await VampServerFixture.start(extraEnvironment: ["VAMP_PULSE_PERIOD": "1"])
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let port = try FreePort.next()
        let (gateway, gatewayBody) = try await E2E.call(client, .POST, "\(server.api)/gateways", yaml: """
            name: pulse-\(port)
            port: \(port)/http
            routes:
              "[127.0.0.1:1]": {weight: 100%}
            """)
        #expect(gateway == 202, "\(gatewayBody)")
        for name in ["health", "metrics", "allocation"] {
            try await E2E.eventually("workflow \(name) running") { try await Self.status(client, server, name) == "\"running\"" }
        }
        let rate = "gateways:pulse-\(port)&tag=metrics:rate"
        try await E2E.eventually("metrics events\n\(server.process.logTail())") { try await !Self.events(client, server, tag: rate).isEmpty }

        let (deleted, deleteBody) = try await E2E.call(client, .DELETE, "\(server.api)/workflows/metrics")
        #expect(deleted == 202, "\(deleteBody)")
        try await Task.sleep(for: .seconds(1.5))
        let before = try await Self.events(client, server, tag: rate).count
        try await Task.sleep(for: .seconds(3))
        #expect(try await Self.events(client, server, tag: rate).count == before, "metrics events without the metrics workflow")
        let health = try await Self.events(client, server, tag: "gateways:pulse-\(port)&tag=health").count
        #expect(health > 0, "health goes on")

        let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: "name: metrics\nbreed: metrics\nschedule: daemon")
        #expect(created == 202, "\(body)")
        try await E2E.eventually("metrics events again") { try await Self.events(client, server, tag: rate).count > before }
    }

    /// The weight of `service`'s route in the cluster gateway `sava/web/web`, read as the example script reads it.
    static func weight(_ client: HTTPClient, _ server: VampServerFixture, _ service: String) async throws -> Int? {
        let (_, body) = try await E2E.call(client, .GET, "\(server.api)/gateways/sava/web/web")
        let routes = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["routes"] as? [String: Any] ?? [:]
        guard let route = routes.first(where: { $0.key == service || $0.key.contains("/\(service)/") })?.value as? [String: Any] else { return nil }
        return (route["weight"] as? String).flatMap { Int($0.dropLast()) }
    }

    @Test("Examples/canary-step.yaml: the workflow moves sava:1.1 up a step every period while its error rate is low, as getting-started.md shows")
    func canaryStepExample() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let port = try FreePort.next()
        let sava = try String(contentsOf: repository.appendingPathComponent("Examples/sava.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "9050", with: String(port))
        let (stored, storedBody) = try await E2E.call(client, .POST, server.api, yaml: sava)
        #expect(stored == 202 || stored == 201, "\(storedBody)")
        let (deployed, deployBody) = try await E2E.call(client, .PUT, "\(server.api)/deployments/sava", yaml: "sava")
        #expect(deployed == 202, "\(deployBody)")
        let (merged, mergeBody) = try await E2E.call(client, .PUT, "\(server.api)/deployments/sava", yaml: """
            name: sava
            clusters:
              web:
                services:
                  - breed: sava:1.1
                    scale: {cpu: 0.1, memory: 64MB, instances: 1}
            """)
        #expect(merged == 202, "\(mergeBody)")
        try await E2E.eventually("sava 1.0 and 1.1 Done\n\(server.process.logTail())") {
            try await E2E.allDone(client, server, "sava", ["sava:1.0", "sava:1.1"])
        }
        #expect(try await Self.weight(client, server, "sava:1.1") == 0)

        // The example, with its script by its path and a 2 s period instead of 30 s.
        let example = try String(contentsOf: repository.appendingPathComponent("Examples/canary-step.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "definition: vamp-canary-step", with: "definition: \(repository.appendingPathComponent("Examples/vamp-canary-step").path)")
            .replacingOccurrences(of: "PT30S", with: "PT2S")
        let (created, body) = try await E2E.call(client, .POST, server.api, yaml: example)
        #expect(created == 202 || created == 201, "\(body)")
        try await E2E.eventually("sava:1.1 at 20 %\n\(server.process.logTail())", timeout: .seconds(20)) {
            try await (Self.weight(client, server, "sava:1.1") ?? 0) >= 20
        }
        #expect(try await Self.weight(client, server, "sava:1.0").map { $0 <= 80 } == true)
        let runs = try await Self.runs(client, server, "sava-canary")["runs"] as? [[String: Any]] ?? []
        #expect(runs.contains { ($0["output"] as? String)?.contains("sava:1.1: 0 % -> 10 %") == true }, "\(runs)")
        #expect(try await E2E.get(client, "http://127.0.0.1:\(port)/").0 == 200)
    }

    @Test("bad workflows are refused with the field named and nothing stored: a bad period, a JavaScript breed, a missing breed, a status nobody may set")
    func badInput() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let cases: [(String, String)] = [
            ("name: w1\nbreed: {name: b1, deployable: {type: command, definition: \"true\"}}\nschedule: {time: {period: PT0S}}", "schedule.time.period"),
            ("name: w2\nbreed: {name: b2, deployable: {type: command, definition: \"true\"}}\nschedule: {time: {period: often}}", "schedule.time.period"),
            ("name: w3\nbreed: {name: b3, deployable: {type: application/javascript, definition: \"run()\"}}\nschedule: daemon", "breed.deployable.type"),
            ("name: w4\nbreed: nowhere\nschedule: daemon", "breed"),
            ("name: w5\nbreed: {name: b5, deployable: {type: command, definition: \"true\"}}\nschedule: {tomorrow: yes}", "schedule"),
        ]
        for (index, (yaml, field)) in cases.enumerated() {
            let (status, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: yaml)
            #expect(status == 400, "\(yaml): \(status) \(body)")
            #expect(body.contains(field), "\(yaml): \(body)")
            let (read, _) = try await E2E.call(client, .GET, "\(server.api)/workflows/w\(index + 1)")
            #expect(read == 404, "w\(index + 1) was stored")
        }
        let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
            name: fine
            breed: {name: fine, deployable: {type: command, definition: "true"}}
            schedule: {time: {period: PT1H}}
            """)
        #expect(created == 202, "\(body)")
        let (refused, refusal) = try await E2E.call(client, .PUT, "\(server.api)/workflows/fine/status", yaml: "flying")
        #expect(refused == 400 && refusal.contains("running, suspended, restarting"), "\(refusal)")
        #expect(try await Self.status(client, server, "fine") != "\"flying\"")
    }
}
