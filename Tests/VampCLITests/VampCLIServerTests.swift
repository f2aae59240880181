import Foundation
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp` against a real `vamp-server` (embedded gateway agent with real HAProxy, the local-process
/// driver running `sava`), started in a temporary folder on free ports as the end-to-end tests do.
@Suite("vamp CLI against a real vamp-server", .serialized)
struct VampCLIServerTests {
    static let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    static let repository = VampCLITests.repository
    static let golden = repository.appendingPathComponent("Tests/VampCLITests/Golden")

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// A running server; its environment points `vamp` at it (`VAMP_HOST`).
    typealias Server = VampServerFixture

    /// Runs `executable` (the built `vamp` by default) with `environment`, feeding `stdin`.
    static func run(
        _ arguments: [String], environment: [String: String], stdin: String? = nil, executable: String? = nil
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? bin.appendingPathComponent("vamp").path)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = repository
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Both pipes are drained together so that neither fills while the other is read.
        nonisolated(unsafe) var errData = Data()
        let errReader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errReader.isFinished { usleep(1000) }
        return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Compares `text` with `Golden/<name>.txt`, or records it there with `VAMP_RECORD_GOLDEN=1`.
    static func expectGolden(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let file = golden.appendingPathComponent("\(name).txt")
        if ProcessInfo.processInfo.environment["VAMP_RECORD_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(text == expected, "golden \(name).txt differs (VAMP_RECORD_GOLDEN=1 re-records):\n\(text)", sourceLocation: sourceLocation)
    }

    /// Ports (five digits: the free ports and the gateway range) as `NNNNN`, which keeps the columns aligned.
    static func normalised(_ text: String) -> String {
        text.replacing(/\b\d{5}\b/, with: "NNNNN")
    }

    /// The gateway's answer on `port` (curl, a new connection each time), or `nil`.
    static func answer(port: Int, cookie: String? = nil) -> String? {
        let arguments = ["-s", "--max-time", "2"] + (cookie.map { ["-b", $0] } ?? []) + ["http://127.0.0.1:\(port)/"]
        guard let output = try? run(arguments, environment: [:], executable: "/usr/bin/curl"), output.status == 0 else { return nil }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    /// `breed name → intention/phase` of a deployment read as JSON.
    static func phases(_ deployment: [String: Any]) -> [String: String] {
        var result: [String: String] = [:]
        for case let cluster as [String: Any] in (deployment["clusters"] as? [String: Any] ?? [:]).values {
            for case let service as [String: Any] in cluster["services"] as? [Any] ?? [] {
                let breed = (service["breed"] as? [String: Any])?["name"] as? String ?? "?"
                let status = service["status"] as? [String: Any]
                result[breed] = "\(status?["intention"] as? String ?? "?")/\((status?["phase"] as? [String: Any])?["name"] as? String ?? "?")"
            }
        }
        return result
    }

    /// Route path → weight of a gateway read as JSON.
    static func weights(_ gateway: [String: Any]) -> [String: String] {
        var result: [String: String] = [:]
        for (path, value) in gateway["routes"] as? [String: Any] ?? [:] {
            result[path] = ((value as? [String: Any])?["weight"] as? String) ?? "-"
        }
        return result
    }

    @Test("every command end to end: tables (golden), --wait, describe, diff, events, errors and exit codes")
    func commands() async throws {
        let server = try await Server(binaries: Self.bin)
        defer { server.tearDown() }
        let env = server.environment
        func vamp(_ arguments: String..., stdin: String? = nil) throws -> Output { try Self.run(arguments, environment: env, stdin: stdin) }
        let gatewayPort = try FreePort.next()
        let sava = try String(contentsOf: Self.repository.appendingPathComponent("Examples/sava.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "9050", with: String(gatewayPort))

        // create -f with documents of several kinds; the lists.
        let created = try vamp("create", "--stdin", stdin: sava)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout == "created breed sava:1.0\ncreated breed sava:1.1\ncreated blueprint sava\n")
        try Self.expectGolden(try vamp("list", "breeds").stdout, "list-breeds")
        try Self.expectGolden(Self.normalised(try vamp("list", "blueprints").stdout), "list-blueprints")

        // deploy --wait returns once every service is Done.
        let deployed = try vamp("deploy", "sava", "sava", "--wait")
        #expect(deployed.status == 0, "\(deployed.stderr)\n\(server.process.logTail())")
        #expect(deployed.stdout == "deployed sava\n")
        let described = try vamp("describe", "deployment", "sava", "-o", "json")
        #expect(described.status == 0)
        #expect(Self.phases(try Self.json(described.stdout)) == ["sava:1.0": "Deployment/Done"])
        try await waitUntil(timeout: .seconds(10), "sava 1.0 serves through the gateway") { Self.answer(port: gatewayPort) == "sava 1.0" }
        try Self.expectGolden(Self.normalised(try vamp("list", "deployments").stdout), "list-deployments")
        try Self.expectGolden(Self.normalised(try vamp("list", "gateways").stdout), "list-gateways")
        let asBlueprint = try vamp("describe", "deployment", "sava", "--as-blueprint")
        #expect(asBlueprint.stdout.hasPrefix("name: sava\nkind: blueprint\n"), "\(asBlueprint.stdout)")
        let inspected = try vamp("inspect", "gateway", "sava/web/web", "-o", "table")
        #expect(inspected.stdout.contains("sava/web/web") && inspected.stdout.contains("internal"))

        // merge the canary: 1.1 next to 1.0 at 0%.
        let merged = try vamp("merge", "--stdin", "sava", "--wait", stdin: "name: sava\nclusters:\n  web:\n    services:\n      - breed: sava:1.1\n        scale: {cpu: 0.1, memory: 64MB, instances: 1}\n")
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(Self.phases(try Self.json(try vamp("describe", "deployment", "sava", "-o", "json").stdout)) == ["sava:1.0": "Deployment/Done", "sava:1.1": "Deployment/Done"])

        // diff: what a file would change, with nothing applied; a refusal shows the server's message.
        let change = """
            ---
            kind: deployment
            name: sava
            clusters:
              web:
                services: [{breed: sava:1.0}, {breed: sava:1.1}]
                gateways:
                  web:
                    routes:
                      sava:1.0: {weight: 50%}
                      sava:1.1: {weight: 50%}
            ---
            kind: breed
            name: sava:1.2
            deployable: {type: command, definition: sava --text "sava 1.2"}
            ports: {web: 8080/http}
            """
        let diff = try vamp("diff", "--stdin", stdin: change)
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stdout.contains("~ deployment sava (changed)\n"), "\(diff.stdout)")
        #expect(diff.stdout.contains("gateway web/web route sava:1.0: weight 100% → 50%"), "\(diff.stdout)")
        #expect(diff.stdout.contains("gateway web/web route sava:1.1: weight 0% → 50%"), "\(diff.stdout)")
        #expect(diff.stdout.contains("+ breed sava:1.2 (added)\n"))
        #expect(diff.stdout.hasSuffix("1 added, 1 changed, 0 removed, 0 unchanged; nothing was applied\n"), "\(diff.stdout)")
        #expect(try vamp("describe", "breed", "sava:1.2").status == 1, "diff stored nothing")
        let refusedDiff = try vamp("diff", "--stdin", stdin: "kind: deployment\nname: sava\nclusters:\n  web:\n    services: [{breed: sava:9.9}]\n")
        #expect(refusedDiff.status == 1)
        #expect(refusedDiff.stderr.hasPrefix("vamp: ") && refusedDiff.stderr.split(separator: "\n").count == 1, "\(refusedDiff.stderr)")
        #expect(refusedDiff.stderr.contains("sava:9.9"), "\(refusedDiff.stderr)")

        // update-gateway --wait: the new weights are in the model when it returns; then a condition, then none.
        let split = try vamp("update-gateway", "sava/web/web", "--weights", "sava:1.0@90%,sava:1.1@10%", "--wait")
        #expect(split.status == 0, "\(split.stderr)")
        #expect(Self.weights(try Self.json(try vamp("describe", "gateway", "sava/web/web", "-o", "json").stdout))
            == ["sava/web/sava:1.0/web": "90%", "sava/web/sava:1.1/web": "10%"])
        let conditioned = try vamp("update-gateway", "sava/web/web", "--route", "sava:1.1", "--condition", "has cookie beta", "--strength", "100%", "--wait")
        #expect(conditioned.status == 0, "\(conditioned.stderr)")
        #expect(try vamp("describe", "gateway", "sava/web/web").stdout.contains("has cookie beta"))
        // --wait returned once HAProxy runs the change: every beta tester reaches 1.1 at once, with no waiting here.
        for _ in 0..<10 { #expect(Self.answer(port: gatewayPort, cookie: "beta=yes") == "sava 1.1") }
        let cleared = try vamp("update-gateway", "sava/web/web", "--route", "sava/web/sava:1.1/web", "--condition", "null", "--wait")
        #expect(cleared.status == 0, "\(cleared.stderr)")
        #expect(!(try vamp("describe", "gateway", "sava/web/web").stdout.contains("has cookie beta")))
        let unknownRoute = try vamp("update-gateway", "sava/web/web", "--weights", "nope@100%")
        #expect(unknownRoute.status == 1)
        #expect(unknownRoute.stderr.contains("has no route 'nope'"), "\(unknownRoute.stderr)")

        // Refusals: the server's message with the field and line, exit 1, one line on stderr.
        let refused = try vamp("create", "gateway", "--stdin", stdin: "name: g\nport: 80\nroutes:\n  a: {weight: 60%}\n")
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("vamp: gateway 'g', field routes, line 3"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
        let unweighted = try vamp("undeploy", "sava", "--service", "sava:1.1")
        #expect(unweighted.status == 1)
        #expect(unweighted.stderr.contains("weight"), "\(unweighted.stderr)")
        #expect(try vamp("describe", "deployment", "nope").stderr == "vamp: deployment 'nope' not found\n")
        #expect(try vamp("create", "breed", "-f", "no/such/file.yaml").status == 1)
        #expect(try vamp("list", "nothings").status == 1)
        #expect(try vamp("update-gateway", "sava/web/web").status == 1)

        // Events: emit, query, and follow live from the stream.
        let emitted = try vamp("emit", "{\"release\": \"1.1\"}", "--tags", "release,cli-test", "-o", "json")
        #expect(emitted.status == 0, "\(emitted.stderr)")
        #expect((try Self.json(emitted.stdout)["tags"] as? [String])?.sorted() == ["cli-test", "release"], "\(emitted.stdout)")
        let events = try vamp("events", "--tag", "cli-test")
        #expect(events.stdout.hasPrefix("TIMESTAMP"), "\(events.stdout)")
        #expect(events.stdout.contains("cli-test,release   {\"release\":\"1.1\"}"), "\(events.stdout)")
        try await Self.follow(env)

        // info and version.
        let info = try vamp("info", "-o", "json")
        #expect(try Self.json(info.stdout)["version"] is String)
        #expect(try vamp("info").stdout.contains("gateway_agent"))
        #expect(try vamp("version").stdout.hasPrefix("vamp 0.1.0\nvamp-server "))

        // Promote and undeploy 1.0, then the whole deployment: --wait returns when it is gone.
        #expect(try vamp("update-gateway", "sava/web/web", "--weights", "sava:1.0@0%,sava:1.1@100%", "--wait").status == 0)
        for _ in 0..<10 { #expect(Self.answer(port: gatewayPort) == "sava 1.1", "--wait returns once HAProxy serves the promotion") }
        let sliced = try vamp("undeploy", "sava", "--service", "sava:1.0", "--wait")
        #expect(sliced.status == 0, "\(sliced.stderr)")
        #expect(Self.phases(try Self.json(try vamp("describe", "deployment", "sava", "-o", "json").stdout)) == ["sava:1.1": "Deployment/Done"])
        let removed = try vamp("undeploy", "sava", "--wait")
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try vamp("describe", "deployment", "sava").status == 1)
        #expect(try vamp("list", "deployments").stdout == "NAME   CLUSTERS   PORTS   STATUS\n")

        // delete.
        #expect(try vamp("delete", "breed", "sava:1.0").stdout == "deleted breed sava:1.0\n")
        #expect(!(try vamp("list", "breeds").stdout.contains("sava:1.0")))
    }

    /// `vamp events --follow` prints an event published after it started.
    static func follow(_ environment: [String: String]) async throws {
        let process = Process()
        process.executableURL = bin.appendingPathComponent("vamp")
        process.arguments = ["events", "--follow", "--tag", "followed", "-o", "json"]
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        try await Task.sleep(for: .milliseconds(700))
        let emitted = try run(["emit", "live", "--tags", "followed"], environment: environment)
        #expect(emitted.status == 0, "\(emitted.stderr)")
        let line = try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                let data = out.fileHandleForReading.availableData
                return String(decoding: data, as: UTF8.self)
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                throw FixtureError("no event from vamp events --follow in 10 s")
            }
            defer { group.cancelAll() }
            return try await group.next() ?? ""
        }
        #expect(line.contains("\"value\":\"live\""), "\(line)")
    }

    @Test("tokens: --token wins over VAMP_TOKEN; a wrong or missing token is exit 1 with the server's message")
    func tokens() async throws {
        let server = try await Server(binaries: Self.bin)
        defer { server.tearDown() }
        var environment = server.environment
        let good = try Self.run(["list", "breeds"], environment: environment)
        #expect(good.status == 0, "\(good.stderr)")
        let wrong = try Self.run(["list", "breeds", "--token", "vamp_0123456789ab_wrong"], environment: environment)
        #expect(wrong.status == 1 && wrong.stderr.contains("not known to this server or has expired"), "\(wrong.stderr)")
        environment["VAMP_TOKEN"] = "vamp_0123456789ab_wrong"
        let flag = try Self.run(["list", "breeds", "--token", Server.adminToken], environment: environment)
        #expect(flag.status == 0, "--token wins: \(flag.stderr)")
        environment["VAMP_TOKEN"] = nil
        let none = try Self.run(["list", "breeds"], environment: environment)
        #expect(none.status == 1 && none.stderr.contains("token"), "\(none.stderr)")
    }

    @Test("the canary release of getting-started.md with the CLI alone: Examples/canary-cli.sh")
    func canaryScript() async throws {
        let server = try await Server(binaries: Self.bin)
        defer { server.tearDown() }
        var environment = server.environment
        environment["GATEWAY_PORT"] = String(try FreePort.next())
        let result = try Self.run([Self.repository.appendingPathComponent("Examples/canary-cli.sh").path], environment: environment, executable: "/bin/sh")
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.process.logTail())")
        #expect(result.stdout.contains("undeployed sava:1.0 of sava\n"))
        #expect(result.stdout.hasSuffix("undeployed sava\n"), "\(result.stdout)")
    }

    @Test("no server: exit 2 with one line on stderr")
    func noServer() throws {
        let port = try FreePort.next()
        var environment = ProcessInfo.processInfo.environment
        environment["VAMP_HOST"] = "http://127.0.0.1:\(port)"
        for arguments in [["list", "gateways"], ["describe", "deployment", "d"], ["deploy", "b", "d", "--host", "127.0.0.1:\(port)"], ["info"]] {
            let result = try Self.run(arguments, environment: environment)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr == "vamp: cannot reach vamp-server at 127.0.0.1:\(port): connection refused (is vamp-server running?)\n", "\(result.stderr)")
        }
    }

    @Test("--help shows an example for every command; shell completion is generated")
    func help() throws {
        let environment = ProcessInfo.processInfo.environment
        for command in ["list", "describe", "create", "update", "delete", "deploy", "merge", "undeploy", "update-gateway", "emit", "events", "info", "version", "diff", "release"] {
            let result = try Self.run([command, "--help"], environment: environment)
            #expect(result.status == 0)
            #expect(result.stdout.contains("Example: vamp "), "\(command) --help:\n\(result.stdout)")
        }
        let bash = try Self.run(["--generate-completion-script", "bash"], environment: environment)
        #expect(bash.status == 0)
        #expect(bash.stdout.contains("update-gateway"))
    }
}
