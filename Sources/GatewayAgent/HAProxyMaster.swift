#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HAProxyControl
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// HAProxy in master-worker mode (`-W`): a reload is `SIGUSR2` to the master, which starts a
/// new worker with the listening sockets of the old one (no dropped connections; never `-st`).
/// The master is detached (`-D`, started through swift-subprocess) so that it outlives the agent; the next agent
/// finds every master of the work folder in `/proc` (not only the one in `haproxy.pid`), takes over the one that
/// answers and stops the others (`HAProxyMaster+Takeover.swift`). Also validates configurations with `haproxy -c`
/// and talks to the master CLI.
final class HAProxyMaster: Sendable {
    let executable: String
    let configurationFile: URL
    let masterSocket: String
    let pidFile: URL
    let output: URL?
    /// HAProxy's working directory (the agent's work directory): relative socket paths in the configuration
    /// (the generator's default, `unix@run/<id>.sock`) resolve against it.
    let workDirectory: URL
    /// The gateways' unix sockets: the stale ones of a previous run are removed before a new master starts.
    let socketDirectory: URL
    /// Sockets in ``socketDirectory`` that are not HAProxy's (the agent's log socket): never removed.
    let keptSockets: Set<String>
    /// Whether cancelling ``run(_:ready:)`` leaves the master serving (the embedded agent) or stops it.
    let leavesRunning: Bool
    /// How long a master that does not answer on its CLI may finish its connections before SIGTERM.
    let retireGrace: Duration
    let logger: Logger
    /// The running master's pid and whether its first worker is up.
    private let state = Mutex<(pid: Int32?, ready: Bool)>((nil, false))

    init(
        executable: String, configurationFile: URL, masterSocket: String, pidFile: URL, output: URL?,
        workDirectory: URL, socketDirectory: URL, keptSockets: Set<String> = [],
        leavesRunning: Bool = false, retireGrace: Duration = .seconds(35), logger: Logger
    ) {
        self.workDirectory = workDirectory
        self.socketDirectory = socketDirectory
        self.keptSockets = keptSockets
        self.leavesRunning = leavesRunning
        self.retireGrace = retireGrace
        self.executable = executable
        self.configurationFile = configurationFile
        self.masterSocket = masterSocket
        self.pidFile = pidFile
        self.output = output
        self.logger = logger
    }

    /// Whether a master started by this agent runs.
    var isRunning: Bool { state.withLock { $0.pid != nil } }

    /// The master this agent runs (started or taken over).
    var pid: Int32? { state.withLock { $0.pid } }

    /// Whether the master runs and its first worker came up (it then handles `SIGUSR2`).
    var isReady: Bool { state.withLock { $0.pid != nil && $0.ready } }

    /// Runs one master until it exits or the task is cancelled; returns how it ended, for the log.
    ///
    /// The master is started detached (`haproxy -W -D`: HAProxy forks it into a session of its own, with init as
    /// its parent), so it outlives this process: a SIGKILL of the agent, of a server embedding it, or a Ctrl-C in
    /// their terminal leaves the gateways serving. `plan` says what the survey of the work folder found
    /// (``survey()``, ``TakeoverPlan``): a master that answers on the CLI is taken over instead of replaced, without
    /// a reload when it runs the file on disk already, else reloaded (`SIGUSR2`) onto it, so its workers hand their
    /// listening sockets to the new worker and no connection is refused. (A second master plus a soft stop of the
    /// first refused connections under load, see gateway-agent.md; that is only the fallback when no master
    /// answers.) The other masters of the folder are retired meanwhile. `ready` is called once a worker serves, with
    /// the master, the worker and whether the master is known to run the file on disk. Cancelling the task stops the
    /// master (SIGTERM, SIGKILL after 5 s), or leaves it serving when `leavesRunning`.
    func run(_ plan: TakeoverPlan, ready: @Sendable (_ master: Int32, _ worker: Int32, _ runsFile: Bool) -> Void) async throws -> String {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw GatewayAgentError("HAProxy not found at \(executable); install it (apt-get install haproxy) or pass --haproxy")
        }
        let pid: Int32
        var runsFile = true
        switch plan.start {
        case .adopt(let master, let reload):
            pid = master
            state.withLock { $0 = (pid, false) }
            if reload {
                let before = await masterState()
                kill(pid, SIGUSR2)
                let outcome = await waitForReload(previous: before?.worker, failedBefore: before?.failedReloads, timeout: .seconds(10))
                runsFile = outcome == .newWorker
                logger.notice("took over the HAProxy master left running on this work folder and reloaded it", metadata: [
                    "vamp.haproxy.pid": "\(pid)", "vamp.reload.outcome": "\(outcome)",
                ])
            } else {
                logger.notice("took over the HAProxy master left running on this work folder; it runs the configuration on disk, no reload", metadata: [
                    "vamp.haproxy.pid": "\(pid)",
                ])
            }
        case .launch:
            if !plan.retire.isEmpty {
                logger.warning("no HAProxy master left running on this work folder answers on its CLI; starting a new one and stopping them", metadata: [
                    "vamp.haproxy.pids": "\(plan.retire)",
                ])
            }
            // Not started at all once the agent stops: a master launched now would outlive it.
            if Task.isCancelled { return "not started: the agent stopped" }
            do {
                // A master left behind that does not answer still serves on its sockets until it is retired:
                // they are removed only when no HAProxy of this folder runs.
                pid = try await launch(removingStaleSockets: plan.retire.isEmpty)
            } catch {
                // Cancelled mid-launch, the launching process may have been stopped after it forked the master:
                // stop a master that appears (unless it is to be left serving).
                if Task.isCancelled && !leavesRunning {
                    for _ in 0..<50 {
                        let appeared = allMasters().filter { !plan.retire.contains($0) }
                        if !appeared.isEmpty {
                            for orphan in appeared { await stop(orphan) }
                            break
                        }
                        await Self.pause(.milliseconds(20))
                    }
                }
                throw error
            }
            state.withLock { $0 = (pid, false) }
            logger.info("started HAProxy", metadata: ["vamp.haproxy.pid": "\(pid)"])
        }
        if let worker = await waitForWorker(otherThan: nil, timeout: .seconds(10)) {
            state.withLock { $0.ready = true }
            ready(pid, worker, runsFile)
        } else if Self.isAlive(pid) {
            logger.error("HAProxy's first worker did not come up within 10 s", metadata: ["vamp.haproxy.pid": "\(pid)"])
        }
        await withTaskGroup(of: Void.self) { group in
            for stale in plan.retire where stale != pid { group.addTask { [self] in await retire(stale, grace: retireGrace) } }
            // Not our child (HAProxy detached it), so its exit cannot be awaited: polled, 10 times a second.
            while Self.isAlive(pid) {
                do { try await Task.sleep(for: .milliseconds(100)) } catch { break }
            }
            group.cancelAll()
        }
        let running = Self.isAlive(pid)
        state.withLock { $0 = (nil, false) }
        if running && leavesRunning {
            logger.notice("leaving HAProxy serving; the next start on this work folder takes it over", metadata: ["vamp.haproxy.pid": "\(pid)"])
            return "left running"
        }
        if running { await stop(pid) }
        if Self.pid(in: pidFile) == pid { try? FileManager.default.removeItem(at: pidFile) }
        return running ? "stopped" : "exited"
    }

    /// Starts a detached master (`-D`) and returns its pid, from the pid file the master writes. The launching
    /// process's exit is the start's outcome: a configuration HAProxy refuses or a port it cannot bind is an error
    /// here, with HAProxy's alerts. With `removingStaleSockets` the unix sockets left in the socket directory (by a
    /// HAProxy that was killed, or for gateways since removed) go first.
    private func launch(removingStaleSockets: Bool) async throws -> Int32 {
        try? FileManager.default.removeItem(atPath: masterSocket)
        try? FileManager.default.removeItem(at: pidFile)
        // No master serves this work folder (one that did was taken over instead): the sockets left are stale.
        let removed = removingStaleSockets ? StaleSockets.remove(in: socketDirectory, keeping: keptSockets) : 0
        if removed > 0 {
            logger.info("removed stale gateway sockets of a previous run", metadata: [
                "vamp.haproxy.sockets": "\(socketDirectory.path)", "vamp.count": "\(removed)",
            ])
        }
        // An environment built for HAProxy (never the agent's `VAMP_*` settings), in the work folder.
        // Its output read as it comes and kept within a fixed size: a configuration of many routes can make HAProxy
        // print megabytes of warnings, and a limit that failed the launch would leave the detached master unknown.
        let (status, output) = try await HAProxyControl.runCollectingOutput(
            executable, arguments: ["-W", "-D", "-f", configurationFile.path, "-S", masterSocket, "-p", pidFile.path],
            workingDirectory: workDirectory.path)
        if output.totalBytes > 0 { record(output.text) }
        guard case .exited(0) = status else {
            throw GatewayAgentError("HAProxy did not start (\(status)): \(output.alerts)")
        }
        // The master writes the pid file itself, after the launching process exited: wait for it, even when the
        // task is cancelled meanwhile (a NIO timer, not `Task.sleep`), so that `run` learns the pid and stops the
        // master; returning early would leave a detached HAProxy serving with nobody to stop it.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let pid = pidFileMaster() { return pid }
            await Self.pause(.milliseconds(10))
        }
        throw GatewayAgentError("HAProxy started but wrote no pid file to \(pidFile.path) within 10 s")
    }

    /// HAProxy's output at start (a detached master says nothing after that): to `output`, else standard error.
    private func record(_ text: String) {
        let descriptor = output.map { open($0.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) } ?? STDERR_FILENO
        guard descriptor >= 0 else { return }
        defer { if descriptor != STDERR_FILENO { close(descriptor) } }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 { bytes = bytes.dropFirst(written) } else if written < 0 && errno == EINTR { continue } else { return }
        }
    }

    /// Stops a master: SIGTERM (its workers stop at once), SIGKILL after 5 s. Waits even when the task is
    /// cancelled, which is when this runs.
    func stop(_ pid: Int32) async {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while Self.isAlive(pid) && ContinuousClock.now < deadline { await Self.pause(.milliseconds(20)) }
        if Self.isAlive(pid) { kill(pid, SIGKILL) }
    }

    /// A wait that a cancelled task can make (`Task.sleep` returns at once there): a NIO timer.
    static func pause(_ duration: Duration) async {
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        try? await MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .nanoseconds(nanoseconds)) {}.futureResult.get()
    }

    /// Waits until the master CLI answers and lists a worker other than `previous`.
    func waitForWorker(otherThan previous: Int32?, timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && !Task.isCancelled {
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
        while ContinuousClock.now < deadline && !Task.isCancelled {
            guard let pid = state.withLock({ $0.pid }), Self.isAlive(pid) else { return .noAnswer }
            if let now = await masterState() {
                if let worker = now.worker, worker != previous { return .newWorker }
                if let failed = now.failedReloads, let failedBefore, failed != failedBefore { return .refused }
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return .noAnswer
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
        try await HAProxyControl.check(file, executable: executable, workingDirectory: workDirectory.path)
    }
}

/// An error of the gateway agent, with what to do.
public struct GatewayAgentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
