import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The operating-system side of ``LocalProcessDriver``: process liveness from `/proc`, signals to process groups, free
/// ports and the readiness probes. Nothing here blocks on a process or a socket: probes go through NIO and
/// AsyncHTTPClient, waits through `Task.sleep`.
enum LocalProcesses {
    /// Field 22 of `/proc/<pid>/stat` (the start time in clock ticks after boot), or `nil` when the process is gone or a
    /// zombie.
    static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(text)
    }

    /// The start time in a `/proc/<pid>/stat` line, `nil` for a zombie or dead process. The command name (field 2) is in
    /// parentheses and may hold spaces, so the fields are counted after the last `)`.
    static func parseStat(_ text: String) -> UInt64? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }

    /// The session (field 6) and start time (field 22) in a `/proc/<pid>/stat` line, `nil` for a zombie or dead
    /// process.
    static func parseSessionAndStartTime(_ text: String) -> (session: Int32, startTime: UInt64)? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X", let session = Int32(fields[3]), let start = UInt64(fields[19])
        else { return nil }
        return (session, start)
    }

    /// A process that carries a local driver's marker (``LocalProcessPlan/markerVariable``).
    struct MarkedProcess: Sendable, Hashable {
        var pid: Int32
        /// Its session: the instance's process is a session leader (`pid == session`), what it starts is in its session.
        var session: Int32
        var startTime: UInt64
        /// The run its marker names.
        var run: String

        var isSessionLeader: Bool { pid == session }
    }

    /// Every living process (zombies left out) whose environment carries `owner`'s marker, from `/proc/<pid>/environ`.
    /// A process whose environment cannot be read (another user's, for a server that is not root) is not seen.
    static func marked(owner: String) -> [MarkedProcess] {
        let prefix = Array("\(LocalProcessPlan.markerVariable)=".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var found: [MarkedProcess] = []
        for entry in entries {
            guard let pid = Int32(entry), pid > 1, let environ = readAll("/proc/\(pid)/environ") else { continue }
            for variable in environ.split(separator: 0) where variable.starts(with: prefix) {
                let value = String(decoding: variable.dropFirst(prefix.count), as: UTF8.self)
                guard let run = LocalProcessPlan.run(inMarker: Substring(value), owner: owner),
                    let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let (session, startTime) = parseSessionAndStartTime(stat)
                else { break }
                found.append(MarkedProcess(pid: pid, session: session, startTime: startTime, run: run))
                break
            }
        }
        return found.sorted { $0.pid < $1.pid }
    }

    /// The whole content of a small file (a `/proc` file reports no size, so it is read to its end); nil when it cannot
    /// be opened.
    static func readAll(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    /// True when `pid` runs and is the process that started at `startTime` (not a reused pid, not a zombie).
    static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0, errno != EPERM { return false }
        return Self.startTime(of: pid) == startTime
    }

    /// True when the process the record names still runs.
    static func isAlive(_ record: LocalInstanceRecord) -> Bool {
        guard let pid = record.pid, let startTime = record.startTime else { return false }
        return isAlive(pid: pid, startTime: startTime)
    }

    /// Kills a marked process that nothing owns with SIGKILL (its process group too when it leads one), unless its pid
    /// was reused meanwhile.
    static func killUnowned(_ process: MarkedProcess) {
        guard isAlive(pid: process.pid, startTime: process.startTime) else { return }
        if process.isSessionLeader { signalGroup(process.pid, SIGKILL) }
        _ = kill(process.pid, SIGKILL)
    }

    /// True while any process of the group runs, or is a zombie this server will reap (its child, awaited by the task
    /// that started it). Another zombie does not count: a process whose parent died is reaped by init, which may take
    /// its time (a second here, never for a container's PID 1 that does not reap), and the group is done once nothing of
    /// it runs. The members are looked for in `/proc` only once the leader has ended.
    static func groupExists(_ group: Int32) -> Bool {
        guard group > 1 else { return false }
        guard kill(-group, 0) == 0 || errno == EPERM else { return false }
        if let leader = processStat(group), leader.counts { return true }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != group, let member = processStat(pid), member.group == group else { continue }
            if member.counts { return true }
        }
        return false
    }

    /// The state, parent and process group of `pid` from `/proc/<pid>/stat`; `counts` when it runs, or is a zombie
    /// whose parent is this server.
    static func processStat(_ pid: Int32) -> (group: Int32, counts: Bool)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 2, let parent = Int32(fields[1]), let group = Int32(fields[2]) else { return nil }
        let ended = fields[0] == "Z" || fields[0] == "X"
        return (group, !ended || parent == getpid())
    }

    /// Waits until nothing of process group `pid` is left (``groupExists(_:)``), looking every 20 ms; false when
    /// something is still there after `timeout` or on cancellation.
    static func waitUntilGone(_ pid: Int32, within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while groupExists(pid) {
            guard !Task.isCancelled, ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Kills what is left of the process group of a leader that has exited (a shell killed alone leaves its command
    /// running, holding the ports). Only when no process has the leader's pid: a pid is not reused while its process
    /// group exists, so a group found then is ours.
    static func killOrphans(of leader: Int32) {
        guard leader > 1, kill(leader, 0) != 0, errno == ESRCH else { return }
        _ = kill(-leader, SIGKILL)
    }

    /// Sends `signal` to every process of the group (a no-op when the group is gone).
    static func signalGroup(_ group: Int32, _ signal: Int32) {
        guard group > 1 else { return }
        _ = kill(-group, signal)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now: bound to port 0 through NIO, then closed.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try? await channel.close()
        guard let port else { throw ContainerDriverError("no free port on 127.0.0.1") }
        return port
    }

    /// True when 127.0.0.1:`port` accepts a TCP connection within a second.
    static func accepts(_ port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(1)).connect(host: "127.0.0.1", port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }

    /// One HTTP health check: true for a 2xx or 3xx answer within the timeout.
    static func check(_ check: LocalLaunch.Check, port: Int, client: HTTPClient) async -> Bool {
        let path = check.path.hasPrefix("/") ? check.path : "/" + check.path
        let request = HTTPClientRequest(url: "\(check.https ? "https" : "http")://127.0.0.1:\(port)\(path)")
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(max(1, check.timeout))))
            _ = try await response.body.collect(upTo: 1 << 20)
            return (200..<400).contains(Int(response.status.code))
        } catch {
            return false
        }
    }

    /// Whether the instance is up now: without health checks, every port accepts a connection; with them, each check
    /// passes (one try each).
    static func isUp(ports: [String: Int], checks: [LocalLaunch.Check]) async -> Bool {
        if checks.isEmpty {
            for port in ports.values.sorted() where !(await accepts(port)) { return false }
            return true
        }
        for check in checks where !(await Self.check(check, port: ports[check.port] ?? 0, client: HTTPClient.shared)) { return false }
        return true
    }

    /// Reports whether the instance is up, on every change, until cancelled. Without health checks it is up while
    /// every port accepts a connection (tried every 200 ms until it does, then every second; without ports, at once). With health checks each
    /// runs on its own schedule (`initialDelay`, then every `interval`): a check passes from its first success until
    /// `failures` failures in a row; the instance is up while every check passes.
    static func watchReadiness(
        ports: [String: Int], checks: [LocalLaunch.Check], report: @escaping @Sendable (Bool) async -> Void
    ) async {
        if checks.isEmpty {
            var last: Bool?
            while !Task.isCancelled {
                // A breed without ports (a worker) is up while it runs.
                var up = true
                for port in ports.values.sorted() where !(await accepts(port)) {
                    up = false
                    break
                }
                if Task.isCancelled { return }
                if up != last {
                    last = up
                    await report(up)
                }
                try? await Task.sleep(for: up ? .seconds(1) : .milliseconds(200))
            }
            return
        }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        try? await HTTPClient.withHTTPClient(configuration: configuration) { client in
            let (results, continuation) = AsyncStream.makeStream(of: (Int, Bool).self)
            await withTaskGroup(of: Void.self) { group in
                for (number, check) in checks.enumerated() {
                    group.addTask {
                        try? await Task.sleep(for: .seconds(check.initialDelay))
                        var failures = 0
                        var passing = false
                        while !Task.isCancelled {
                            if await Self.check(check, port: ports[check.port] ?? 0, client: client) {
                                failures = 0
                                passing = true
                            } else {
                                failures += 1
                                if failures >= max(1, check.failures) { passing = false }
                            }
                            continuation.yield((number, passing))
                            try? await Task.sleep(for: .seconds(max(1, check.interval)))
                        }
                    }
                }
                group.addTask {
                    var passing: [Int: Bool] = [:]
                    var last: Bool?
                    for await (number, result) in results {
                        passing[number] = result
                        let up = passing.count == checks.count && passing.values.allSatisfy { $0 }
                        if up != last {
                            last = up
                            await report(up)
                        }
                    }
                }
                // The checks end on cancellation; then the stream is finished so the reporter ends too.
                await withTaskCancellationHandler {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                } onCancel: {
                    continuation.finish()
                }
            }
        }
    }
}
