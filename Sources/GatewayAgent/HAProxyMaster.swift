import Foundation
import HAProxyControl
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// HAProxy in master-worker mode (`-W`): a reload is `SIGUSR2` to the master, which starts a
/// new worker with the listening sockets of the old one (no dropped connections; never `-st`).
/// Also validates configurations with `haproxy -c` and talks to the master CLI.
actor HAProxyMaster {
    let executable: String
    let configurationFile: URL
    let masterSocket: String
    let output: URL?
    let logger: Logger
    private var process: Process?

    init(executable: String, configurationFile: URL, masterSocket: String, output: URL?, logger: Logger) {
        self.executable = executable
        self.configurationFile = configurationFile
        self.masterSocket = masterSocket
        self.output = output
        self.logger = logger
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// Starts the master on the configuration file.
    func start() throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw GatewayAgentError("HAProxy not found at \(executable); install it (apt-get install haproxy) or pass --haproxy")
        }
        try? FileManager.default.removeItem(atPath: masterSocket)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-W", "-db", "-f", configurationFile.path, "-S", masterSocket]
        if let output {
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
        }
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        logger.info("started HAProxy", metadata: ["vamp.haproxy.pid": "\(process.processIdentifier)"])
    }

    /// Waits until the master CLI answers and lists a worker.
    func waitForWorker(otherThan previous: Int32?, timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !isRunning { return nil }
            if let worker = await currentWorker(), worker != previous { return worker }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Sends `SIGUSR2`: the master re-reads the file and starts a new worker.
    func signalReload() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGUSR2)
    }

    /// Stops the master and its workers (SIGTERM, then SIGKILL after 5 s), waiting without
    /// blocking a thread.
    func stop() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    /// The pid of the current worker from the master CLI's `show proc`.
    func currentWorker() async -> Int32? { await HAProxyControl.currentWorker(masterSocket: masterSocket) }

    /// Runs `haproxy -c -f file`: nil when valid, else HAProxy's alerts.
    nonisolated func validate(_ file: URL) async throws -> String? {
        try await HAProxyControl.check(file, executable: executable)
    }
}

/// An error of the gateway agent, with what to do.
public struct GatewayAgentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
