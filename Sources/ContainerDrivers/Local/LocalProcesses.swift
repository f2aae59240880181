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

    /// True when `pid` runs and is the process that started at `startTime` (not a reused pid, not a zombie).
    static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0, errno != EPERM { return false }
        return Self.startTime(of: pid) == startTime
    }

    /// True while any process of the group runs.
    static func groupExists(_ group: Int32) -> Bool {
        guard group > 1 else { return false }
        return kill(-group, 0) == 0 || errno == EPERM
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
