import Foundation

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
    public static func check(_ configuration: String) throws -> (valid: Bool, output: String) {
        guard FileManager.default.isExecutableFile(atPath: executable) else { throw FixtureError("\(executable) not found. \(installHint)") }
        let directory = try TemporaryDirectory(prefix: "vhc")
        defer { directory.remove() }
        let file = directory.url.appendingPathComponent("check.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", "-f", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0, output)
    }

    /// Starts HAProxy on `configuration` in `directory` (see ``makeDirectory()``).
    public init(configuration: String, directory: TemporaryDirectory) throws {
        self.directory = directory
        let file = directory.url.appendingPathComponent("haproxy.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let check = try Self.check(configuration)
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
    public func currentWorker() throws -> Int32? {
        let text = try masterCommand("show proc")
        var inWorkers = false
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# workers") { inWorkers = true; continue }
            if line.hasPrefix("#") { inWorkers = false; continue }
            if inWorkers, let pid = line.split(separator: " ").first.flatMap({ Int32($0) }) { return pid }
        }
        return nil
    }

    /// Writes `configuration` and reloads seamlessly (master-worker `reload`), then waits for
    /// the new worker.
    public func reload(_ configuration: String, timeout: Duration = .seconds(10)) async throws {
        let check = try Self.check(configuration)
        guard check.valid else { throw FixtureError("haproxy -c rejected the configuration:\n\(check.output)") }
        let before = try currentWorker()
        try configuration.write(to: configurationFile, atomically: true, encoding: .utf8)
        kill(process.pid, SIGUSR2)
        try await waitUntil(timeout: timeout, "a new HAProxy worker after reload; log:\n\(process.logTail())") {
            guard let now = try self.currentWorker() else { return false }
            return now != before
        }
    }

    /// Sends one command to the master CLI and returns its answer.
    public func masterCommand(_ command: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket(AF_UNIX) failed") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(masterSocket.utf8CString)
        guard path.count <= MemoryLayout.size(ofValue: addr.sun_path) else { throw FixtureError("master socket path too long: \(masterSocket)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = UInt8(bitPattern: byte) }
        }
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard connected == 0 else { throw FixtureError("cannot connect to the master CLI \(masterSocket): errno \(errno)") }
        let line = command + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        shutdown(fd, Int32(SHUT_WR))
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var result = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            result += buffer[0..<n]
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// The end of HAProxy's own output, for failure messages.
    public func logTail() -> String { process.logTail() }

    /// Stops HAProxy and removes its folder.
    public func stop() {
        process.stop()
        directory.remove()
    }

    deinit { stop() }
}
