import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ContainerDriverCrashServer` (Tests/ContainerDriverCrashServer), run as the "server" that a crash test kills with
/// SIGKILL: its output goes to a file the test reads line by line.
final class CrashServer: @unchecked Sendable {
    let process = Process()
    let output: URL

    /// The executable, built by SwiftPM next to the test bundle.
    static func executable() throws -> URL {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let server = folder.appendingPathComponent("ContainerDriverCrashServer")
        guard FileManager.default.isExecutableFile(atPath: server.path) else {
            throw CrashServerError("\(server.path) is missing: build it with `swift build --build-tests` first")
        }
        return server
    }

    /// Starts it with `arguments`, its output (standard output and error) in `output`.
    init(_ arguments: [String], output: URL) throws {
        self.output = output
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = try Self.executable()
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// A server still running when the test lets go of it (a failed wait threw) is killed: it must not go on working.
    deinit {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// Its output so far.
    var text: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// Waits until a line of its output starts with `prefix`; throws when it exits or the time is up first.
    func waitForLine(_ prefix: String, within timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if text.split(separator: "\n").contains(where: { $0.hasPrefix(prefix) }) { return }
            guard process.isRunning else { throw CrashServerError("the crash server exited before `\(prefix)`: \(text.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw CrashServerError("no `\(prefix)` from the crash server within \(timeout): \(text.suffix(2000))")
    }

    /// Kills it with SIGKILL and waits for its end.
    func kill() async {
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        await waitForExit()
    }

    /// Waits until it has exited (at most 60 s).
    func waitForExit() async {
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }

    /// True when it ended by SIGKILL (from the test or its own crash point).
    var killed: Bool { !process.isRunning && process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL }
}

struct CrashServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The processes of a crash test, found by the variable the test gave its services (`CRASH_TEST_TAG=<tag>`) in
/// `/proc/<pid>/environ`, not by anything the driver writes: pid → session. Zombies are left out.
func taggedProcesses(_ tag: String) -> [Int32: Int32] {
    let needle = Array("CRASH_TEST_TAG=\(tag)".utf8)
    var found: [Int32: Int32] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), let environ = readProcFile("/proc/\(pid)/environ"),
            environ.split(separator: 0).contains(where: { Array($0) == needle }),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 3, fields[0] != "Z", fields[0] != "X", let session = Int32(fields[3]) else { continue }
        found[pid] = session
    }
    return found
}

/// A `/proc` file's bytes (it reports no size, so it is read to its end); nil when it cannot be opened.
func readProcFile(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(descriptor, &chunk, chunk.count)
        guard count > 0 else { break }
        bytes += chunk[0..<count]
    }
    return bytes
}

/// Kills every process of a crash test (teardown, whatever the test did).
func killTaggedProcesses(_ tag: String) {
    for pid in taggedProcesses(tag).keys { _ = kill(pid, SIGKILL) }
}
