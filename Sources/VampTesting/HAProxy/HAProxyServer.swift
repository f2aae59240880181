import Foundation
import HAProxyControl

#if canImport(Glibc)
import Glibc
#endif

/// A real HAProxy (Debian `haproxy`, 2.6) in master-worker mode, started by a test with its
/// own folder for the configuration, the unix sockets and the master CLI.
public final class HAProxyServer: @unchecked Sendable {
    /// The haproxy binary.
    public static let executable = "/usr/sbin/haproxy"
    static let installHint = "Install it with: apt-get install haproxy (Scripts/test does this)."

    /// Folder with `haproxy.cfg`, the master socket and the gateways' unix sockets.
    public let directory: TemporaryDirectory
    /// Where the gateways' unix sockets go (pass it to the generator).
    public var socketDirectory: String { directory.url.path + "/run" }
    /// The master CLI socket.
    public var masterSocket: String { directory.url.path + "/master.sock" }
    private let process: ExternalProcess
    private var configurationFile: URL { directory.url.appendingPathComponent("haproxy.cfg") }

    /// A folder for a server's files (short path: unix socket paths are limited to 107 bytes).
    public static func makeDirectory() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory(prefix: "vh")
        try FileManager.default.createDirectory(at: directory.url.appendingPathComponent("run"), withIntermediateDirectories: true)
        return directory
    }

    /// Runs `haproxy -c` on `configuration`: whether HAProxy accepts it, and what it said.
    public static func check(_ configuration: String) async throws -> (valid: Bool, output: String) {
        guard FileManager.default.isExecutableFile(atPath: executable) else { throw FixtureError("\(executable) not found. \(installHint)") }
        let directory = try TemporaryDirectory(prefix: "vhc")
        defer { directory.remove() }
        let file = directory.url.appendingPathComponent("check.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let alerts = try await HAProxyControl.check(file, executable: executable)
        return (alerts == nil, alerts ?? "")
    }

    /// Starts HAProxy on `configuration` in `directory` (see ``makeDirectory()``).
    public init(configuration: String, directory: TemporaryDirectory) async throws {
        self.directory = directory
        let file = directory.url.appendingPathComponent("haproxy.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let check = try await Self.check(configuration)
        guard check.valid else { throw FixtureError("haproxy -c rejected the configuration:\n\(check.output)") }
        process = try ExternalProcess(
            executable: Self.executable,
            arguments: ["-W", "-db", "-f", file.path, "-S", directory.url.path + "/master.sock"],
            logFile: directory.url.appendingPathComponent("haproxy.log"), installHint: Self.installHint)
    }

    /// Waits until something accepts connections on each of `ports`.
    public func waitUntilListening(_ ports: [Int], timeout: Duration = .seconds(10)) async throws {
        for port in ports {
            try await waitUntil(timeout: timeout, "HAProxy to listen on port \(port); log:\n\(process.logTail())") {
                guard self.process.isRunning else { throw FixtureError("HAProxy exited; log:\n\(self.process.logTail())") }
                return FreePort.isAccepting(port)
            }
        }
    }

    /// The pid of the current worker, from the master CLI's `show proc`.
    public func currentWorker() async -> Int32? { await HAProxyControl.currentWorker(masterSocket: masterSocket) }

    /// Writes `configuration` and reloads seamlessly (master-worker `reload`), then waits for
    /// the new worker.
    public func reload(_ configuration: String, timeout: Duration = .seconds(10)) async throws {
        let check = try await Self.check(configuration)
        guard check.valid else { throw FixtureError("haproxy -c rejected the configuration:\n\(check.output)") }
        let before = await currentWorker()
        try configuration.write(to: configurationFile, atomically: true, encoding: .utf8)
        kill(process.pid, SIGUSR2)
        try await waitUntil(timeout: timeout, "a new HAProxy worker after reload; log:\n\(process.logTail())") {
            guard let now = await self.currentWorker() else { return false }
            return now != before
        }
    }

    /// Sends one command to the master CLI and returns its answer.
    public func masterCommand(_ command: String) async throws -> String { try await MasterCLI.send(command, to: masterSocket) }

    /// The end of HAProxy's own output, for failure messages.
    public func logTail() -> String { process.logTail() }

    /// Stops HAProxy and removes its folder.
    public func stop() {
        process.stop()
        directory.remove()
    }

    deinit { stop() }
}
