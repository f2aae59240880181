// Reload benchmark of the gateway agent (issue 6). Run after a release build:
//   swift build -c release --product vamp-gateway-agent --product agent-reload-benchmark
//   .build/release/agent-reload-benchmark [--changes 100] [--threads 3]
// Starts etcd, two HTTP services and the real vamp-gateway-agent; keeps a steady load of new
// connections through HAProxy while it writes 100 configuration changes (weights flipping
// 100/0 ↔ 0/100) to etcd. Reports failed requests, KV write → new configuration serving
// latency, and the agent's RSS. Then runs the same load against the original agent's method
// (`haproxy -D -st <old pid>` on every change) for comparison.
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
let changes = option("--changes", 100)
let threads = option("--threads", 3)

final class Load: @unchecked Sendable {
    let port: Int
    private let lock = NSLock()
    private var ok = 0
    private var failed = 0
    private var running = true
    private var workers: [Thread] = []
    private var done = 0

    init(port: Int, threads: Int) {
        self.port = port
        for _ in 0..<threads {
            let thread = Thread { [self] in
                while lock.withLock({ running }) {
                    let success = (try? HTTPProbe.get(port: port, timeoutSeconds: 2))?.status == 200
                    lock.withLock { if success { ok += 1 } else { failed += 1 } }
                }
                lock.withLock { done += 1 }
            }
            workers.append(thread)
            thread.start()
        }
    }

    func stop() -> (ok: Int, failed: Int) {
        lock.withLock { running = false }
        while lock.withLock({ done < workers.count }) { usleep(10_000) }
        return lock.withLock { (ok, failed) }
    }
}

func gateway(port: Int, a: TestHTTPService, b: TestHTTPService, toB: Bool) -> Gateway {
    Gateway(name: "bench", port: GatewayPort(number: port), routes: [
        Route(path: "a", weight: Percentage(toB ? 0 : 100), targets: [.instance(name: "a", host: "127.0.0.1", port: a.port)]),
        Route(path: "b", weight: Percentage(toB ? 100 : 0), targets: [.instance(name: "b", host: "127.0.0.1", port: b.port)]),
    ])
}

func waitServed(by name: String, port: Int, timeout: Double = 10) -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
        if (try? HTTPProbe.get(port: port, timeoutSeconds: 1))?.header("X-Served-By") == name { return Date().timeIntervalSince(start) }
        usleep(1000)
    }
    return nil
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func rssMegabytes(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kb / 1024
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

let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vamp-gateway-agent").path
let agent = try ExternalProcess(
    executable: agentBinary,
    arguments: ["--store-type", "etcd", "--store-connection", etcd.endpoint, "--store-path", key, "--work-directory", work.url.path,
                "--log-port", "0", "--status", ""],
    logFile: work.url.appendingPathComponent("agent.log"), installHint: "build it: swift build -c release --product vamp-gateway-agent")
guard waitServed(by: "a", port: port, timeout: 20) != nil else { fatalError("the agent did not serve; log:\n\(agent.logTail())") }

print("== vamp-gateway-agent (master-worker reload), \(changes) changes, \(threads) load threads")
var latencies: [Double] = []
var rssPeak = rssMegabytes(agent.pid)
let load = Load(port: port, threads: threads)
let loadStart = Date()
for change in 1...changes {
    let toB = change % 2 == 1
    try await store.set(key, string: try generator.render([gateway(port: port, a: a, b: b, toB: toB)]))
    guard let latency = waitServed(by: toB ? "b" : "a", port: port) else { fatalError("change \(change) not applied; log:\n\(agent.logTail())") }
    latencies.append(latency)
    rssPeak = max(rssPeak, rssMegabytes(agent.pid))
    usleep(50_000)
}
let agentLoad = load.stop()
let agentSeconds = Date().timeIntervalSince(loadStart)
print(String(format: "requests: %d ok, %d failed, %.0f requests/s", agentLoad.ok, agentLoad.failed, Double(agentLoad.ok + agentLoad.failed) / agentSeconds))
print(String(format: "KV write → new configuration serving: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
             percentile(latencies, 0.5) * 1000, percentile(latencies, 0.9) * 1000, percentile(latencies, 0.99) * 1000, latencies.max()! * 1000))
print(String(format: "agent RSS: %.1f MB now, %.1f MB peak during the run", rssMegabytes(agent.pid), rssPeak))
agent.stop()
try await Task.sleep(for: .seconds(1))

// The original agent's method: a new daemon with -st (hard stop of the old process) per change.
print("== haproxy -D -st <old pid> per change (the 2016 agent's method), \(changes) changes")
let legacy = try TemporaryDirectory(prefix: "vl")
try FileManager.default.createDirectory(at: legacy.url.appendingPathComponent("run"), withIntermediateDirectories: true)
let legacyGenerator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: legacy.url.path + "/run"))
let cfg = legacy.url.appendingPathComponent("haproxy.cfg").path
let pidFile = legacy.url.appendingPathComponent("haproxy.pid").path
let base = try HAProxyBaseConfiguration(statsAddress: nil).render()
/// `haproxy -D` forks a daemon and exits; spawned and reaped with waitpid (Foundation's
/// Process did not reap it here and waitUntilExit hung).
func runHAProxy(_ extra: [String]) {
    let argv = ["/usr/sbin/haproxy", "-q", "-f", cfg, "-p", pidFile, "-D"] + extra
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArgs { free(pointer) } }
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    defer { posix_spawn_file_actions_destroy(&actions) }
    guard posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ) == 0 else { return }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}
try (base + legacyGenerator.render([gateway(port: port, a: a, b: b, toB: false)])).write(toFile: cfg, atomically: true, encoding: .utf8)
runHAProxy([])
guard waitServed(by: "a", port: port) != nil else { fatalError("legacy HAProxy did not serve") }
let legacyLoad = Load(port: port, threads: threads)
let legacyStart = Date()
var legacyLatencies: [Double] = []
for change in 1...changes {
    let toB = change % 2 == 1
    let started = Date()
    try (base + legacyGenerator.render([gateway(port: port, a: a, b: b, toB: toB)])).write(toFile: cfg, atomically: true, encoding: .utf8)
    let old = (try? String(contentsOfFile: pidFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    runHAProxy(["-st"] + old)
    if waitServed(by: toB ? "b" : "a", port: port, timeout: 3) == nil { print("change \(change): not served by the new configuration within 3 s") }
    legacyLatencies.append(Date().timeIntervalSince(started))
    usleep(50_000)
}
let legacyResult = legacyLoad.stop()
let legacySeconds = Date().timeIntervalSince(legacyStart)
print(String(format: "requests: %d ok, %d failed, %.0f requests/s", legacyResult.ok, legacyResult.failed, Double(legacyResult.ok + legacyResult.failed) / legacySeconds))
print(String(format: "file write → new configuration serving: p50 %.1f ms, p99 %.1f ms",
             percentile(legacyLatencies, 0.5) * 1000, percentile(legacyLatencies, 0.99) * 1000))
for pid in ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGTERM) }
await etcd.remove()
work.remove()
legacy.remove()
