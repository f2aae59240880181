import Foundation
import HAProxyControl
import Logging
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// HAProxy in master-worker mode (`-W`): a reload is `SIGUSR2` to the master, which starts a
/// new worker with the listening sockets of the old one (no dropped connections; never `-st`).
/// The master runs through swift-subprocess, which waits for its exit without holding a thread;
/// its pid is kept in `haproxy.pid` in the work folder so an agent started after a crash finds a
/// master left behind. Also validates configurations with `haproxy -c` and talks to the master CLI.
final class HAProxyMaster: Sendable {
    let executable: String
    let configurationFile: URL
    let masterSocket: String
    let pidFile: URL
    let output: URL?
    let logger: Logger
    /// The running master's pid and whether its first worker is up.
    private let state = Mutex<(pid: Int32?, ready: Bool)>((nil, false))

    init(executable: String, configurationFile: URL, masterSocket: String, pidFile: URL, output: URL?, logger: Logger) {
        self.executable = executable
        self.configurationFile = configurationFile
        self.masterSocket = masterSocket
        self.pidFile = pidFile
        self.output = output
        self.logger = logger
    }

    /// Whether a master started by this agent runs.
    var isRunning: Bool { state.withLock { $0.pid != nil } }

    /// Whether the master runs and its first worker came up (it then handles `SIGUSR2`).
    var isReady: Bool { state.withLock { $0.pid != nil && $0.ready } }

    /// Runs one master until it exits, returning how it ended. `ready` is called once its first
    /// worker serves. Cancelling the task stops it: SIGTERM, then SIGKILL after 5 s.
    func run(ready: @Sendable (Int32) -> Void) async throws -> TerminationStatus {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw GatewayAgentError("HAProxy not found at \(executable); install it (apt-get install haproxy) or pass --haproxy")
        }
        try? FileManager.default.removeItem(atPath: masterSocket)
        var options = PlatformOptions()
        options.teardownSequence = [.send(signal: .terminate, allowedDurationToNextStep: .seconds(5))]
        let configuration = Configuration(
            executable: .path(FilePath(executable)),
            arguments: Arguments(["-W", "-db", "-f", configurationFile.path, "-S", masterSocket]),
            platformOptions: options)
        let descriptor: FileDescriptor
        if let output {
            descriptor = try FileDescriptor.open(
                FilePath(output.path), .writeOnly, options: [.create, .append], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } else {
            descriptor = try FileDescriptor.standardError.duplicate()
        }
        let result = try await Subprocess.run(
            configuration, input: .none, output: .fileDescriptor(descriptor, closeAfterSpawningProcess: true), error: .combinedWithOutput
        ) { execution in
            let pid = execution.processIdentifier.value
            state.withLock { $0 = (pid, false) }
            try? Data("\(pid)\n".utf8).write(to: pidFile, options: .atomic)
            logger.info("started HAProxy", metadata: ["vamp.haproxy.pid": "\(pid)"])
            if await waitForWorker(otherThan: nil, timeout: .seconds(10)) != nil {
                state.withLock { $0.ready = true }
                ready(pid)
            } else if Self.isAlive(pid) {
                logger.error("HAProxy's first worker did not come up within 10 s", metadata: ["vamp.haproxy.pid": "\(pid)"])
            }
        }
        let pid = state.withLock { state in
            defer { state = (nil, false) }
            return state.pid
        }
        if let pid, Self.pid(in: pidFile) == pid { try? FileManager.default.removeItem(at: pidFile) }
        return result.terminationStatus
    }

    /// Waits until the master CLI answers and lists a worker other than `previous`.
    func waitForWorker(otherThan previous: Int32?, timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let pid = state.withLock({ $0.pid }), Self.isAlive(pid) else { return nil }
            if let worker = await currentWorker(), worker != previous { return worker }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// How a reload ended.
    enum ReloadOutcome: Equatable {
        /// A new worker serves the new file.
        case newWorker
        /// The master refused the file (its failed-reload count grew); the old workers serve on.
        case refused
        /// Neither within the timeout, or the master went away.
        case noAnswer
    }

    /// The current worker and the failed-reload count, from one `show proc`.
    func masterState() async -> (worker: Int32?, failedReloads: Int?)? {
        await HAProxyControl.masterState(masterSocket: masterSocket)
    }

    /// Waits until a worker other than `previous` is listed, or the master's failed-reload count
    /// moves from `failedBefore`.
    func waitForReload(previous: Int32?, failedBefore: Int?, timeout: Duration) async -> ReloadOutcome {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let pid = state.withLock({ $0.pid }), Self.isAlive(pid) else { return .noAnswer }
            if let now = await masterState() {
                if let worker = now.worker, worker != previous { return .newWorker }
                if let failed = now.failedReloads, let failedBefore, failed != failedBefore { return .refused }
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return .noAnswer
    }

    /// Sends runtime commands to the current worker through the master CLI (`@!<pid>`); true when
    /// each answered with nothing but a newline (HAProxy's success).
    func setWeights(_ commands: [String]) async -> Bool {
        guard let worker = await currentWorker() else { return false }
        for command in commands {
            guard let answer = try? await MasterCLI.send("@!\(worker) \(command)", to: masterSocket),
                  answer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            else { return false }
        }
        return true
    }

    /// Waits until the master is ready (after a start or restart), or the task is cancelled.
    func waitUntilReady() async {
        while !isReady && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
    }

    /// Sends `SIGUSR2`: the master re-reads the file and starts a new worker.
    func signalReload() {
        guard let pid = state.withLock({ $0.pid }) else { return }
        kill(pid, SIGUSR2)
    }

    /// The pid of the current worker from the master CLI's `show proc`.
    func currentWorker() async -> Int32? { await HAProxyControl.currentWorker(masterSocket: masterSocket) }

    /// Runs `haproxy -c -f file`: nil when valid, else HAProxy's alerts.
    func validate(_ file: URL) async throws -> String? {
        try await HAProxyControl.check(file, executable: executable)
    }

    // MARK: A master left behind

    /// The pid in a pid file, if it holds one.
    static func pid(in file: URL) -> Int32? {
        (try? String(contentsOf: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Whether `pid` runs (exists and is not a zombie).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
    }

    /// The master a previous agent with this work folder left running: the pid file names a live
    /// process whose command line is HAProxy on this folder's configuration file (so a reused pid
    /// is never signalled).
    func leftBehindMaster() -> Int32? {
        guard let pid = Self.pid(in: pidFile), pid > 0, pid != getpid(), Self.isAlive(pid),
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return nil }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let program = arguments.first, program.hasSuffix("haproxy") || program == executable,
            arguments.contains(configurationFile.path)
        else { return nil }
        return pid
    }

    /// Retires a master left behind once ours serves: `SIGUSR1` (soft stop: its workers stop
    /// listening and finish their connections), then SIGTERM after `grace`, SIGKILL 5 s later.
    func retire(_ pid: Int32, grace: Duration) async {
        logger.warning("stopping the HAProxy master a previous agent left running", metadata: ["vamp.haproxy.pid": "\(pid)"])
        kill(pid, SIGUSR1)
        for (signal, wait) in [(SIGTERM, grace), (SIGKILL, Duration.seconds(5))] {
            let deadline = ContinuousClock.now + wait
            while Self.isAlive(pid) && ContinuousClock.now < deadline {
                do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
            }
            guard Self.isAlive(pid) else { return }
            kill(pid, signal)
        }
    }
}

/// An error of the gateway agent, with what to do.
public struct GatewayAgentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
