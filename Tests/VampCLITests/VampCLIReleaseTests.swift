import Foundation
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// `vamp release …` against a real `vamp-server` running the quick start with its canary merged: releases whose
/// first step waits for approval, so that they stand still without traffic.
@Suite("vamp release against a real vamp-server", .serialized)
struct VampCLIReleaseTests {
    typealias Output = VampCLIServerTests.Output

    /// A release of the quick start's gateway `sava/web/web` whose first step (20%) waits for approval.
    static func release(_ name: String) -> String {
        ReleaseDocuments.sava(name, """
            steps: [{weight: 20%, approval: true}, 100%]
            step: {minimum_duration: 1s, minimum_requests: 1}
            """)
    }

    /// The server with `sava` deployed and `sava:1.1` merged at 0%, through the CLI.
    static func quickStart(_ vamp: (_ arguments: [String], _ stdin: String?) throws -> Output) throws {
        let gatewayPort = try FreePort.next()
        let sava = try String(contentsOf: VampCLIServerTests.repository.appendingPathComponent("Examples/sava.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "9050", with: String(gatewayPort))
        #expect(try vamp(["create", "--stdin"], sava).status == 0)
        let deployed = try vamp(["deploy", "sava", "sava", "--wait"], nil)
        #expect(deployed.status == 0, "\(deployed.stderr)")
        let merged = try vamp(["merge", "--stdin", "sava", "--wait"], "name: sava\nclusters:\n  web:\n    services:\n      - breed: sava:1.1\n        scale: {cpu: 0.1, memory: 64MB, instances: 1}\n")
        #expect(merged.status == 0, "\(merged.stderr)")
    }

    /// The canary's weight in the gateway `sava/web/web`, as `vamp describe` shows it.
    static func canaryWeight(_ vamp: (_ arguments: [String], _ stdin: String?) throws -> Output) throws -> String? {
        let gateway = try VampCLIServerTests.json(try vamp(["describe", "gateway", "sava/web/web", "-o", "json"], nil).stdout)
        return VampCLIServerTests.weights(gateway)["sava/web/sava:1.1/web"]
    }

    @Test("start, status (table, json), approve, abort to 0%, refusals with the server's sentence, --watch exit codes, list")
    func lifecycle() async throws {
        let server = try await VampServerFixture(binaries: VampCLIServerTests.bin)
        defer { server.tearDown() }
        let env = server.environment
        func vamp(_ arguments: [String], _ stdin: String? = nil) throws -> Output {
            try VampCLIServerTests.run(arguments, environment: env, stdin: stdin)
        }
        try Self.quickStart(vamp)

        // start: stored and started; the first step waits for approval.
        let started = try vamp(["release", "start", "--stdin"], Self.release("sava-1.1"))
        #expect(started.status == 0, "\(started.stderr)\n\(server.process.logTail())")
        #expect(started.stdout.hasPrefix("started release sava-1.1: awaiting_approval, step 1/2, canary 0%"), "\(started.stdout)")

        // A second release of the same gateway is refused while the first runs: exit 1, the server's sentence.
        let second = try vamp(["release", "start", "--stdin"], Self.release("sava-1.1-again"))
        #expect(second.status == 1, "\(second.stdout)")
        #expect(second.stderr.hasPrefix("vamp: ") && second.stderr.contains("sava-1.1") && second.stderr.split(separator: "\n").count == 1, "\(second.stderr)")

        // status: the header and the timeline; -o json is the document with its status.
        let status = try vamp(["release", "status", "sava-1.1"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("\nSTATE      awaiting_approval (step 1 waits for approval)\n"), "\(status.stdout)")
        #expect(status.stdout.contains("\nSTEP       1/2"), "\(status.stdout)")
        #expect(status.stdout.contains("\nTIME                       DECISION          STEP    WEIGHT   MESSAGE\n"), "\(status.stdout)")
        #expect(status.stdout.contains("   started           1/2     "), "\(status.stdout)")
        #expect(status.stdout.contains("   approval_needed   1/2 "), "\(status.stdout)")
        let json = try VampCLIServerTests.json(try vamp(["release", "status", "sava-1.1", "-o", "json"]).stdout)
        #expect(json["canary"] as? String == "sava:1.1")
        #expect((json["status"] as? [String: Any])?["state"] as? String == "awaiting_approval")
        #expect(try vamp(["release", "status", "nope"]).stderr == "vamp: release 'nope' not found\n")
        // -o yaml is a document that reads back (its status ignored), for GET → edit → PUT; the generic commands work too.
        let yaml = try vamp(["release", "status", "sava-1.1", "-o", "yaml"])
        #expect(yaml.stdout.contains("\nstatus:\n  awaiting_approval: 1\n"), "\(yaml.stdout)")
        let validated = try vamp(["validate", "--kind", "release", "-"], yaml.stdout)
        #expect(validated.stdout == "ok release sava-1.1 (-)\n", "\(validated.stderr)")
        #expect(try vamp(["describe", "release", "sava-1.1"]).stdout.hasPrefix("name: sava-1.1\nkind: release\n"))
        #expect(try vamp(["list", "releases"]).stdout.contains("sava-1.1   sava/web/web   sava:1.0   sava:1.1   20%,100%"))

        // A watcher follows it from now on.
        let watcher = try Watcher(["release", "status", "sava-1.1", "--watch"], environment: env)

        // approve: the first step's weight goes to the canary.
        let approved = try vamp(["release", "approve", "sava-1.1"])
        #expect(approved.status == 0, "\(approved.stderr)")
        #expect(approved.stdout.hasPrefix("approved release sava-1.1: "), "\(approved.stdout)")
        try await waitUntil(timeout: .seconds(10), "the canary at 20%") { try Self.canaryWeight(vamp) == "20%" }
        let again = try vamp(["release", "approve", "sava-1.1"])
        #expect(again.status == 1 && again.stderr.hasPrefix("vamp: ") && again.stderr.contains("approval"), "409 with its sentence: \(again.stderr)")

        // abort: 0% on the canary in the answer and in the gateway.
        let aborted = try vamp(["release", "abort", "sava-1.1"])
        #expect(aborted.status == 0, "\(aborted.stderr)")
        #expect(aborted.stdout == "aborted release sava-1.1: aborted, step 1/2, canary 0%\n", "\(aborted.stdout)")
        #expect(try Self.canaryWeight(vamp) == "0%")
        let paused = try vamp(["release", "pause", "sava-1.1"])
        #expect(paused.status == 1, "\(paused.stdout)")
        #expect(paused.stderr.contains("aborted") && paused.stderr.contains("paus"), "the server's sentence: \(paused.stderr)")
        #expect(try vamp(["release", "resume", "nope"]).status == 1)

        // The watcher printed the decisions as they came and exits 4 (aborted).
        let watched = try await watcher.finish(timeout: .seconds(10))
        #expect(watched.status == 4, "\(watched.stdout)\n\(watched.stderr)")
        #expect(watched.stdout.contains("   approved   "), "\(watched.stdout)")
        #expect(watched.stdout.contains("   aborted   "), "\(watched.stdout)")
        #expect(watched.stdout.hasSuffix("release sava-1.1 aborted at 0%\n"), "\(watched.stdout)")
        #expect(try vamp(["release", "status", "sava-1.1", "--watch"]).status == 4, "a final release: --watch ends at once")

        // Once the first is final, another release of the gateway starts; promote ends it with the canary at 100%
        // (at the last step: the rest is skipped).
        let next = try vamp(["release", "start", "-f", "-"], Self.release("sava-1.1-b"))
        #expect(next.status == 0, "\(next.stderr)")
        let promoted = try vamp(["release", "promote", "sava-1.1-b"])
        #expect(promoted.stdout == "promoted release sava-1.1-b: promoted, step 2/2, canary 100%\n", "\(promoted.stdout)\n\(promoted.stderr)")
        #expect(try Self.canaryWeight(vamp) == "100%")
        #expect(try vamp(["release", "status", "sava-1.1-b", "--watch"]).status == 0)

        // list: both, with their states.
        let list = try vamp(["release", "list"])
        #expect(list.stdout.hasPrefix("NAME         GATEWAY        BASELINE   CANARY     STATE      STEP   WEIGHT   UPDATED\n"), "\(list.stdout)")
        #expect(list.stdout.contains("sava-1.1     sava/web/web   sava:1.0   sava:1.1   aborted    1/2    0%  "), "\(list.stdout)")
        #expect(list.stdout.contains("sava-1.1-b   sava/web/web   sava:1.0   sava:1.1   promoted   2/2    100%"), "\(list.stdout)")
    }

    @Test("start --watch follows a canary answering 500 to half its requests until it is rolled back: exit 3, 0% on it")
    func rolledBack() async throws {
        let server = try await VampServerFixture(binaries: VampCLIServerTests.bin)
        defer { server.tearDown() }
        let env = server.environment
        func vamp(_ arguments: [String], _ stdin: String? = nil) throws -> Output {
            try VampCLIServerTests.run(arguments, environment: env, stdin: stdin)
        }
        let gatewayPort = try FreePort.next()
        let sava = try String(contentsOf: VampCLIServerTests.repository.appendingPathComponent("Examples/sava.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "9050", with: String(gatewayPort))
            .replacingOccurrences(of: #"sava --text "sava 1.1""#, with: #"sava --text "sava 1.1" --errors 0.5"#)
        #expect(try vamp(["create", "--stdin"], sava).status == 0)
        #expect(try vamp(["deploy", "sava", "sava", "--wait"]).status == 0)
        let merged = try vamp(["merge", "--stdin", "sava", "--wait"], "name: sava\nclusters:\n  web:\n    services:\n      - breed: sava:1.1\n        scale: {cpu: 0.1, memory: 64MB, instances: 1}\n")
        #expect(merged.status == 0, "\(merged.stderr)")
        let file = server.folder.url.appendingPathComponent("failing.yaml")
        try """
            kind: release
            name: failing
            deployment: sava
            cluster: web
            port: web
            baseline: sava:1.0
            canary: sava:1.1
            steps: [10%, 50%, 100%]
            step: {minimum_duration: 5m, minimum_requests: 20}
            checks:
              error_rate: {max_increase: 1%}
            """.write(to: file, atomically: true, encoding: .utf8)

        let load = Load(port: gatewayPort)
        defer { load.stop() }
        let watcher = try Watcher(["release", "start", "-f", file.path, "--watch"], environment: env)
        let watched = try await watcher.finish(timeout: .seconds(120))
        #expect(watched.status == 3, "\(watched.stdout)\n\(watched.stderr)\n\(server.process.logTail())")
        #expect(watched.stdout.hasPrefix("started release failing: progressing, step 1/3, canary 10%\nTIME "), "\(watched.stdout)")
        #expect(watched.stdout.contains("   rolled_back       1/3     0%       "), "\(watched.stdout)")
        #expect(watched.stdout.hasSuffix("release failing rolled_back at 0%\n"), "\(watched.stdout)")
        // The record says rolled back one write before the gateway does.
        var weight = try Self.canaryWeight(vamp)
        for _ in 0..<40 where weight != "0%" {
            try await Task.sleep(for: .milliseconds(50))
            weight = try Self.canaryWeight(vamp)
        }
        #expect(weight == "0%")
        let status = try vamp(["release", "status", "failing"])
        #expect(status.stdout.contains("\nCHECKS     error_rate fail: canary "), "\(status.stdout)")
    }

    @Test("--help of every release command has an example and says the exit codes of --watch")
    func help() throws {
        let environment = ProcessInfo.processInfo.environment
        for command in ["start", "status", "list", "pause", "resume", "approve", "promote", "abort"] {
            let result = try VampCLIServerTests.run(["release", command, "--help"], environment: environment)
            #expect(result.status == 0)
            #expect(result.stdout.contains("Example: vamp release \(command)"), "\(command) --help:\n\(result.stdout)")
        }
        let status = try VampCLIServerTests.run(["release", "status", "--help"], environment: environment)
        let words = status.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("Exit codes with --watch: 0 promoted, 3 rolled back, 4 aborted, 5 failed"), "\(status.stdout)")
    }
}

/// A `vamp` running in the background (`--watch`), its output collected until it exits.
final class Watcher: @unchecked Sendable {
    let process = Process()
    let out = Pipe(), err = Pipe()

    init(_ arguments: [String], environment: [String: String]) throws {
        process.executableURL = VampCLIServerTests.bin.appendingPathComponent("vamp")
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    /// Waits until the process exits (killed after `timeout`), then returns what it printed.
    func finish(timeout: Duration) async throws -> VampCLIServerTests.Output {
        let process = self.process
        do {
            try await waitUntil(timeout: timeout, "vamp \(process.arguments ?? []) exits") { !process.isRunning }
        } catch {
            process.terminate()
            process.waitUntilExit()
            throw error
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        return .init(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// Requests through a gateway, one after another on a thread of their own, until stopped.
final class Load: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    init(port: Int) {
        Thread { [self] in
            while !isStopped { _ = VampCLIServerTests.answer(port: port) }
        }.start()
    }

    var isStopped: Bool { lock.withLock { stopped } }

    func stop() { lock.withLock { stopped = true } }
}
