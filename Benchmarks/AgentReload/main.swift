// Reload benchmark of the gateway agent (issues 6 and 9). Run after a release build:
//   swift build -c release --package-path Benchmarks --product vamp-gateway-agent   (the root's, built beside this)
//   swift build -c release --package-path Benchmarks --product agent-reload-benchmark
//   Benchmarks/.build/release/agent-reload-benchmark [--changes 30] [--reload]
// Starts etcd and two HTTP services (listen backlog 256), then, in the same run and harness:
// (a) the real vamp-gateway-agent binary watching etcd, (b) a stand-in of the original agent: a
// loop that polls etcd every 50 ms, runs `haproxy -c` and reloads with `haproxy -sf <old pids>`.
// Under wrk -t2 -c16 with `Connection: close` (a new connection per request) it flips the weights
// 100/0 ↔ 0/100 `--changes` times and measures from the etcd write until a probe is answered by
// the newly weighted service. Reports wrk's failed requests, p50/p99 of both, and the agent's RSS.
import Foundation
import HAProxyConfigGen
import KVStores
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
func option(_ name: String, _ value: Int) -> Int {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let n = Int(arguments[i + 1]) else { return value }
    return n
}
let changes = option("--changes", 30)
/// `--reload`: each flip also changes a comment line, so the agent cannot set the weights at runtime and reloads
/// every time (the path of a new gateway or route); the stand-in gets the same texts.
let forceReload = arguments.contains("--reload")
func flipped(_ text: String, _ change: Int) -> String { forceReload ? text + "# flip \(change)\n" : text }
/// wrk runs this long: about a second per change (under 0.5 s to apply, 0.3 s pause) and a margin.
let wrkSeconds = changes * 1 + 8

func gateway(port: Int, a: TestHTTPService, b: TestHTTPService, toB: Bool) -> Gateway {
    Gateway(name: "bench", port: GatewayPort(number: port), routes: [
        Route(path: "a", weight: Percentage(toB ? 0 : 100), targets: [.instance(name: "a", host: "127.0.0.1", port: a.port)]),
        Route(path: "b", weight: Percentage(toB ? 100 : 0), targets: [.instance(name: "b", host: "127.0.0.1", port: b.port)]),
    ])
}

/// Probes until `name` serves (blocking; the benchmark's own thread), seconds since `start`.
func waitServed(by name: String, port: Int, since start: Date, timeout: Double = 10) -> Double? {
    while Date().timeIntervalSince(start) < timeout {
        if (try? HTTPProbe.get(port: port, timeoutSeconds: 1))?.header("X-Served-By") == name { return Date().timeIntervalSince(start) }
        usleep(1000)
    }
    return nil
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
}

func rssMegabytes(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kb / 1024
}

/// Spawns a program and waits for it (blocking: only the stand-in's thread and the harness call this).
@discardableResult
func spawnAndWait(_ argv: [String]) -> Int32 {
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArgs { free(pointer) } }
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    defer { posix_spawn_file_actions_destroy(&actions) }
    guard posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return status
}

/// wrk -t2 -c16 with a new connection per request, for a fixed time that covers the changes (a
/// signal would not do: the harness's threads block SIGINT, and wrk inherits the mask).
final class Wrk {
    let process: ExternalProcess
    init(port: Int, folder: URL, name: String, seconds: Int) throws {
        process = try ExternalProcess(
            executable: "/usr/bin/wrk",
            arguments: ["-t2", "-c16", "-d\(seconds)s", "-H", "Connection: close", "http://127.0.0.1:\(port)/"],
            logFile: folder.appendingPathComponent("wrk-\(name).log"), installHint: "apt-get install -y wrk")
    }

    /// Waits for wrk to finish and returns (requests, failed, its summary).
    func stop() -> (requests: Int, failed: Int, text: String) {
        while process.isRunning { usleep(50_000) }
        let text = process.logTail(maxBytes: 4000)
        var requests = 0, failed = 0
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.contains("requests in") { requests = Int(trimmed.split(separator: " ").first ?? "") ?? 0 }
            if trimmed.hasPrefix("Socket errors:") {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                failed += trimmed.dropFirst("Socket errors:".count).split(separator: ",")
                    .compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
            }
            if trimmed.hasPrefix("Non-2xx or 3xx responses:") { failed += Int(trimmed.split(separator: " ").last ?? "") ?? 0 }
        }
        return (requests, failed, text)
    }
}

let a = try TestHTTPService(name: "a")
let b = try TestHTTPService(name: "b")
let etcd = try await EtcdServer.start()
let store = EtcdKeyValueStore(configuration: .init(endpoint: etcd.endpoint))
let key = KeyPath.haproxyConfiguration(namespace: "bench", version: "2.6")
let work = try TemporaryDirectory(prefix: "vb")
let port = try FreePort.next()
let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: work.url.path + "/run"))
try await store.set(key, string: try generator.render([gateway(port: port, a: a, b: b, toB: false)]))
let loadAverage = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")

// MARK: (a) vamp-gateway-agent

let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vamp-gateway-agent").path
let agent = try ExternalProcess(
    executable: agentBinary,
    arguments: ["--store-type", "etcd", "--store-connection", etcd.endpoint, "--store-path", key, "--work-directory", work.url.path,
                "--socket-directory", work.url.path + "/run", "--log-port", "0", "--status", ""],
    logFile: work.url.appendingPathComponent("agent.log"), installHint: "build it beside this program: swift build -c release --package-path Benchmarks --product vamp-gateway-agent")
guard waitServed(by: "a", port: port, since: Date(), timeout: 20) != nil else { fatalError("the agent did not serve; log:\n\(agent.logTail())") }
try await Task.sleep(for: .seconds(1))

print("== (a) vamp-gateway-agent (etcd watch; weights at runtime, else master-worker SIGUSR2), \(changes) changes, wrk -t2 -c16 Connection: close")
var agentLatencies: [Double] = []
var rssPeak = rssMegabytes(agent.pid)
let agentWrk = try Wrk(port: port, folder: work.url, name: "agent", seconds: wrkSeconds)
try await Task.sleep(for: .seconds(1))
for change in 1...changes {
    let toB = change % 2 == 1
    let text = flipped(try generator.render([gateway(port: port, a: a, b: b, toB: toB)]), change)
    let start = Date()
    try await store.set(key, string: text)
    guard let latency = waitServed(by: toB ? "b" : "a", port: port, since: start) else { fatalError("change \(change) not applied; log:\n\(agent.logTail())") }
    agentLatencies.append(latency)
    rssPeak = max(rssPeak, rssMegabytes(agent.pid))
    try await Task.sleep(for: .milliseconds(300))
}
let agentResult = agentWrk.stop()
let agentRSS = rssMegabytes(agent.pid)
// The agent's own measure of each reload: etcd event → new worker listed, of which SIGUSR2 → new worker listed.
let splits = agent.logTail(maxBytes: 200_000).split(separator: "\n").filter { $0.contains("reloaded HAProxy") }.compactMap { line -> (Double, Double)? in
    func value(_ name: String) -> Double? {
        line.range(of: name + "=").flatMap { Double(line[$0.upperBound...].prefix { $0 != " " }) }
    }
    guard let total = value("vamp.reload.seconds"), let worker = value("vamp.reload.worker_seconds") else { return nil }
    return (total, worker)
}
if !splits.isEmpty {
    print(String(format: "agent's own measure, medians: apply %.1f ms, of which SIGUSR2 → new worker listed %.1f ms",
                 percentile(splits.map(\.0), 0.5) * 1000, percentile(splits.map(\.1), 0.5) * 1000))
}
print("wrk: \(agentResult.requests) requests, \(agentResult.failed) failed")
print(String(format: "etcd write → served by the new weights: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
             percentile(agentLatencies, 0.5) * 1000, percentile(agentLatencies, 0.99) * 1000, agentLatencies.max()! * 1000))
print(String(format: "agent RSS: %.1f MB at the end, %.1f MB peak", agentRSS, rssPeak))
agent.stop()
try await Task.sleep(for: .seconds(1))

// MARK: (b) the polling stand-in of the original agent

let legacy = try TemporaryDirectory(prefix: "vl")
try FileManager.default.createDirectory(at: legacy.url.appendingPathComponent("run"), withIntermediateDirectories: true)
let legacyGenerator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: legacy.url.path + "/run"))
let cfg = legacy.url.appendingPathComponent("haproxy.cfg").path
let pidFile = legacy.url.appendingPathComponent("haproxy.pid").path
let base = try HAProxyBaseConfiguration(statsAddress: nil).render()
try await store.set(key, string: try legacyGenerator.render([gateway(port: port, a: a, b: b, toB: false)]))

/// The stand-in: its own thread, blocking calls, as a small Go loop would be.
final class PollingStandIn: @unchecked Sendable {
    let etcdPort: Int, key: String, base: String, cfg: String, pidFile: String
    private let lock = NSLock()
    private var running = true
    private var finished = false

    init(etcdPort: Int, key: String, base: String, cfg: String, pidFile: String) {
        (self.etcdPort, self.key, self.base, self.cfg, self.pidFile) = (etcdPort, key, base, cfg, pidFile)
    }

    /// The key's value through etcd's JSON gateway.
    func read() -> String? {
        let body = "{\"key\":\"\(Data(key.utf8).base64EncodedString())\"}"
        let request = "POST /v3/kv/range HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        guard let answer = LoopbackProbe.exchange(port: etcdPort, request: request),
              let json = answer.range(of: "\r\n\r\n").map({ String(answer[$0.upperBound...]) }),
              let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let kvs = object["kvs"] as? [[String: Any]], let value = kvs.first?["value"] as? String,
              let data = Data(base64Encoded: value) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    func start() {
        Thread { [self] in
            var last: String?
            while lock.withLock({ running }) {
                if let value = read(), value != last {
                    let candidate = cfg + ".new"
                    try? (base + value).write(toFile: candidate, atomically: true, encoding: .utf8)
                    if spawnAndWait(["/usr/sbin/haproxy", "-q", "-c", "-f", candidate]) == 0 {
                        rename(candidate, cfg)
                        let old = (try? String(contentsOfFile: pidFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
                        spawnAndWait(["/usr/sbin/haproxy", "-q", "-f", cfg, "-p", pidFile, "-D"] + (old.isEmpty ? [] : ["-sf"] + old))
                    }
                    last = value
                }
                usleep(50_000)
            }
            lock.withLock { finished = true }
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        while !lock.withLock({ finished }) { usleep(10_000) }
        for pid in ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGTERM) }
    }
}

let standIn = PollingStandIn(etcdPort: Int(URL(string: etcd.endpoint)!.port!), key: key, base: base, cfg: cfg, pidFile: pidFile)
standIn.start()
guard waitServed(by: "a", port: port, since: Date(), timeout: 20) != nil else { fatalError("the stand-in did not serve") }
try await Task.sleep(for: .seconds(1))
print("== (b) stand-in: poll etcd every 50 ms, haproxy -c, haproxy -D -sf <old pids>, \(changes) changes, same load")
var standInLatencies: [Double] = []
let standInWrk = try Wrk(port: port, folder: legacy.url, name: "stand-in", seconds: wrkSeconds)
try await Task.sleep(for: .seconds(1))
for change in 1...changes {
    let toB = change % 2 == 1
    let text = flipped(try legacyGenerator.render([gateway(port: port, a: a, b: b, toB: toB)]), change)
    let start = Date()
    try await store.set(key, string: text)
    guard let latency = waitServed(by: toB ? "b" : "a", port: port, since: start) else { fatalError("stand-in change \(change) not applied") }
    standInLatencies.append(latency)
    try await Task.sleep(for: .milliseconds(300))
}
let standInResult = standInWrk.stop()
print("wrk: \(standInResult.requests) requests, \(standInResult.failed) failed")
print(String(format: "etcd write → served by the new weights: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
             percentile(standInLatencies, 0.5) * 1000, percentile(standInLatencies, 0.99) * 1000, standInLatencies.max()! * 1000))
standIn.stop()

print(String(format: "== agent p99 / stand-in p99 = %.2f (goal <= 0.60)", percentile(agentLatencies, 0.99) / percentile(standInLatencies, 0.99))
      + "; load average at start \(loadAverage), at the end " + (((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")))
print("wrk (a):\n\(agentResult.text)\nwrk (b):\n\(standInResult.text)")
await etcd.remove()
work.remove()
legacy.remove()
