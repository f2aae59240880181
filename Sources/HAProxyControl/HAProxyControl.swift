#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import NIOCore
import NIOPosix
import Subprocess

/// The HAProxy calls shared by the gateway agent and the test fixtures: `haproxy -c` (through
/// swift-subprocess) and the master CLI (through NIO). Nothing here blocks a cooperative thread.
public enum HAProxyControl {
    /// The Debian path of the binary.
    public static let defaultExecutable = "/usr/sbin/haproxy"

    /// Runs `haproxy -c -f file`: nil when valid, else HAProxy's alerts (or, when it printed none, the head and tail of
    /// its output). Decided by the exit status alone; the output is read as it comes and kept within a fixed size
    /// (``BoundedOutput``), so a configuration that makes HAProxy print megabytes of warnings is checked like any other.
    /// Throws when haproxy cannot run or is killed, so "not checked" is never "refused". HAProxy runs in
    /// `workingDirectory` (relative paths of the file, such as certificates, are found from there).
    public static func check(_ file: URL, executable: String = defaultExecutable, workingDirectory: String? = nil) async throws -> String? {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw HAProxyControlError("HAProxy not found at \(executable); install it with: apt-get install haproxy")
        }
        let (status, output) = try await runCollectingOutput(executable, arguments: ["-c", "-f", file.path], workingDirectory: workingDirectory)
        switch status {
        case .exited(0):
            return nil
        case .exited:
            return output.alerts
        case .signaled(let signal):
            throw HAProxyControlError("haproxy -c was killed by signal \(signal); the configuration was not checked")
        }
    }

    /// The pid of the current worker, from the master CLI's `show proc`; nil when the master
    /// does not answer or lists no worker.
    public static func currentWorker(masterSocket: String) async -> Int32? {
        guard let text = try? await MasterCLI.send("show proc", to: masterSocket) else { return nil }
        return workers(inShowProc: text).first
    }

    /// The current worker and the master's count of failed reloads (`[failed: N]`, HAProxy 2.5+;
    /// a reload whose configuration the master refused leaves the old workers serving and counts
    /// here), from one `show proc`; nil when the master does not answer.
    public static func masterState(masterSocket: String) async -> (worker: Int32?, failedReloads: Int?)? {
        guard let text = try? await MasterCLI.send("show proc", to: masterSocket) else { return nil }
        return (workers(inShowProc: text).first, failedReloads(inShowProc: text))
    }

    /// The master's `show proc`: its pid, its workers (current first) and its count of failed reloads.
    public struct ShowProc: Sendable, Equatable {
        /// The master's pid.
        public var master: Int32?
        /// The workers, current first.
        public var workers: [Int32]
        /// Reloads the master refused since its last successful one (`[failed: N]`).
        public var failedReloads: Int?

        /// Reads a `show proc` answer.
        public init(_ text: String) {
            master = HAProxyControl.masterPid(inShowProc: text)
            workers = HAProxyControl.workers(inShowProc: text)
            failedReloads = HAProxyControl.failedReloads(inShowProc: text)
        }
    }

    /// `show proc` of the master listening on `masterSocket`; nil when it does not answer (within `timeout`).
    public static func showProc(masterSocket: String, timeout: Duration = .seconds(2)) async -> ShowProc? {
        guard let text = try? await MasterCLI.send("show proc", to: masterSocket, timeout: timeout), text.contains("master") else { return nil }
        return ShowProc(text)
    }

    /// The pid on the master line of a `show proc` answer: which master answers on a socket (a second master
    /// started on the same folder takes the socket path over).
    public static func masterPid(inShowProc text: String) -> Int32? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[1] == "master" { return Int32(words[0]) }
        }
        return nil
    }

    /// The `[failed: N]` count of the master line of a `show proc` answer.
    public static func failedReloads(inShowProc text: String) -> Int? {
        guard let line = text.split(separator: "\n").first(where: { $0.contains(" master ") || $0.contains("\tmaster") || $0.contains("master ") }),
              let range = line.firstRange(of: "[failed: ") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// The worker pids of a `show proc` answer, current first.
    public static func workers(inShowProc text: String) -> [Int32] {
        var inWorkers = false
        var pids: [Int32] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# workers") { inWorkers = true; continue }
            if line.hasPrefix("#") { inWorkers = false; continue }
            if inWorkers, let pid = line.split(separator: " ").first.flatMap({ Int32($0) }) { pids.append(pid) }
        }
        return pids
    }
}

/// The HAProxy master CLI over its unix socket, through NIO: one command, the answer until the
/// master closes the connection.
public enum MasterCLI {
    /// Sends one command and returns the answer (at most `timeout`).
    public static func send(_ command: String, to path: String, timeout: Duration = .seconds(2)) async throws -> String {
        guard path.utf8.count < 108 else { throw HAProxyControlError("master socket path too long (over 107 bytes): \(path)") }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)))
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        return try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: command + "\n"))
                    // Half-close: the master answers and closes once our side is done.
                    outbound.finish()
                    var answer = ""
                    for try await buffer in inbound { answer += String(buffer: buffer) }
                    return answer
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw HAProxyControlError("the HAProxy master CLI at \(path) did not answer '\(command)' within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

/// An error of a HAProxy control call, with what to do.
public struct HAProxyControlError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
