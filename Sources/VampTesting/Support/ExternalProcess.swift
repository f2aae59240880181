public import Foundation
import Dispatch

/// A real server process started by a test fixture: its output goes to a log file in a
/// temporary folder, and `stop()` (or deinit) terminates it.
public final class ExternalProcess: @unchecked Sendable {
    /// The command that was started, for error messages.
    public let commandLine: String
    /// Where stdout and stderr of the process are written.
    public let logFile: URL
    private let process: Process
    private let lock = NSLock()

    /// Starts `executable` with `arguments`. Throws a ``FixtureError`` naming `installHint` when
    /// the executable does not exist.
    public init(
        executable: String,
        arguments: [String],
        environment: [String: String]? = nil,
        workingDirectory: URL? = nil,
        logFile: URL,
        installHint: String
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw FixtureError("\(executable) not found. \(installHint)")
        }
        self.commandLine = ([executable] + arguments).joined(separator: " ")
        self.logFile = logFile
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// True while the process runs.
    public var isRunning: Bool { process.isRunning }

    /// The exit status once the process has exited (the signal number if a signal ended it), else nil.
    public var terminationStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// True when the process exited by itself rather than through a signal.
    public var exitedNormally: Bool { !process.isRunning && process.terminationReason == .exit }

    /// The last `maxBytes` of the process's log, for error messages.
    public func logTail(maxBytes: Int = 4000) -> String {
        guard let data = try? Data(contentsOf: logFile) else { return "" }
        return String(decoding: data.suffix(maxBytes), as: UTF8.self)
    }

    /// Sends `signal` (SIGTERM by default) and waits up to `timeout` for the process to exit,
    /// then SIGKILLs it.
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) {
        lock.lock()
        defer { lock.unlock() }
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop(timeout: .seconds(5)) }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
public func waitUntil(
    timeout: Duration,
    _ what: @autoclosure () -> String,
    condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw FixtureError("timed out after \(timeout) waiting for \(what())")
}

/// A fresh temporary folder under the system temp dir, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    /// The folder.
    public let url: URL

    /// Creates `/tmp/<prefix>-<uuid>/`.
    public init(prefix: String = "vamp-test") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Deletes the folder and everything in it.
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

extension ExternalProcess {
    /// Stops the process (waking it first if it was frozen) on its own thread: `stop()` waits by
    /// polling, which must not block the cooperative thread pool other tests run on.
    public func stopOffThePool() async {
        if isRunning { kill(pid, SIGCONT) }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                self.stop()
                done.resume()
            }
        }
    }

    /// Freezes the process (SIGSTOP): its sockets stay open but nothing answers.
    public func pause() { if isRunning { kill(pid, SIGSTOP) } }

    /// Lets a frozen process run again (SIGCONT).
    public func resume() { if isRunning { kill(pid, SIGCONT) } }
}

extension ExternalProcess {
    /// What a command run to its end by ``run(_:_:installHint:)`` printed, and how it ended.
    public struct Finished: Sendable {
        /// The exit status (the signal number if a signal ended it).
        public var status: Int32
        /// Standard output.
        public var output: String
        /// Standard error.
        public var errors: String
    }

    /// Runs `executable` with `arguments` to its end on a thread of its own, so that waiting for it and reading its
    /// pipes never blocks the cooperative thread pool; throws a ``FixtureError`` naming `installHint` when the
    /// executable does not exist.
    public static func run(_ executable: String, _ arguments: [String], installHint: String) async throws -> Finished {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Finished, any Error>) in
            Thread.detachNewThread {
                done.resume(with: Result { try runHere(executable, arguments, installHint: installHint) })
            }
        }
    }

    /// Runs the command on the calling thread: stderr is read on another thread, so that neither pipe fills while
    /// the other is read.
    private static func runHere(_ executable: String, _ arguments: [String], installHint: String) throws -> Finished {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw FixtureError("\(executable) not found. \(installHint)")
        }
        let output = Pipe(), errors = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errorText = LockedResult<String>(), errorRead = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            errorText.set(.success(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)))
            errorRead.signal()
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        errorRead.wait()
        return Finished(status: process.terminationStatus, output: text, errors: (try? errorText.get()) ?? "")
    }
}

/// A value handed from one thread to another.
final class LockedResult<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Value, any Error>?

    func set(_ value: Result<Value, any Error>) { lock.withLock { result = value } }

    func get() throws -> Value {
        guard let result = lock.withLock({ result }) else { throw FixtureError("no result") }
        return try result.get()
    }
}
