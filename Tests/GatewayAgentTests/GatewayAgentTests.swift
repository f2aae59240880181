import Foundation
@testable import GatewayAgent
import HAProxyConfigGen
import KVStores
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The agent against a real HAProxy, real etcd and real ZooKeeper (Debian packages), with
/// real HTTP services on loopback.
@Suite("Gateway agent with real HAProxy and KV stores", .serialized)
struct GatewayAgentTests {
    /// An agent running in a task, with its own folder and a generator writing for it. Stop it with
    /// ``stop(keepingDirectory:)``; one a failed test did not stop is stopped, HAProxy included, when
    /// it is released.
    final class RunningAgent {
        let agent: GatewayAgent
        let task: Task<Void, any Error>
        let directory: TemporaryDirectory
        let generator: HAProxyConfigurationGenerator

        init(store: any KeyValueStore, key: String, logPort: Int? = nil, logSocket: String? = nil, logstash: (String, Int)? = nil, capacity: Int = 4096,
             fragments: URL? = nil, statusPort: Int? = nil, statusKey: String? = nil, directory: TemporaryDirectory? = nil,
             base: String? = nil, configure: (inout GatewayAgentConfiguration) -> Void = { _ in }) throws {
            self.directory = try directory ?? TemporaryDirectory(prefix: "va")
            var configuration = GatewayAgentConfiguration(
                key: key, workDirectory: self.directory.url, fragmentsDirectory: fragments,
                haproxyOutput: self.directory.url.appendingPathComponent("haproxy.log"),
                logPort: logPort, logSocket: logSocket, logstash: logstash.map { (host: $0.0, port: $0.1) }, logBufferCapacity: capacity,
                retryTimeout: .milliseconds(200), statusAddress: statusPort.map { (host: "127.0.0.1", port: $0) }, statusKey: statusKey,
                socketDirectory: self.directory.url.appendingPathComponent("run"))
            configuration.baseConfiguration = base
            configure(&configuration)
            guard FileManager.default.isExecutableFile(atPath: configuration.haproxyExecutable) else {
                throw FixtureError("\(configuration.haproxyExecutable) not found. Install it with: apt-get install haproxy (Scripts/test does this).")
            }
            agent = GatewayAgent(configuration: configuration, store: store)
            generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: configuration.socketDirectory.path))
            task = Task { [agent] in try await agent.run() }
        }

        private var stopped = false

        /// Stops the agent, which stops its HAProxy; a HAProxy of this folder still running 2 s later is a
        /// failure of the agent (recorded), and is stopped here so it cannot outlive the test.
        func stop(keepingDirectory: Bool = false) async {
            task.cancel()
            _ = await task.result
            stopped = true
            let deadline = ContinuousClock.now + .seconds(2)
            while !Teardown.haproxies(in: directory.url.path).isEmpty, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            let left = Teardown.haproxies(in: directory.url.path)
            if !left.isEmpty {
                Issue.record("HAProxy processes \(left) of \(directory.url.path) still run after the agent stopped")
                Teardown.stopHAProxy(in: directory.url.path)
            }
            if !keepingDirectory { directory.remove() }
        }

        /// Stops the agent and leaves its HAProxy serving (an agent configured with `leavesHAProxyRunning`, or killed),
        /// for another agent on the same folder; the folder stays. Whoever takes it over stops it.
        func abandon() async {
            task.cancel()
            _ = await task.result
            stopped = true
        }

        deinit {
            guard !stopped else { return }
            // Cancelled first, so the agent does not start HAProxy again once it is stopped.
            task.cancel()
            Teardown.stopHAProxy(in: directory.url.path)
            directory.remove()
        }
    }

    static func gateway(port: Int, _ routes: [(TestHTTPService, Int)]) -> Gateway {
        Gateway(name: "shop", port: GatewayPort(number: port), routes: routes.map { service, weight in
            Route(path: service.name, weight: Percentage(weight), targets: [.instance(name: service.name, host: "127.0.0.1", port: service.port)])
        })
    }

    /// Polls until `port` answers with `service` (or the timeout), returning the elapsed time.
    @discardableResult
    static func waitUntilServed(by name: String, port: Int, timeout: Duration = .seconds(10)) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if let response = try? HTTPProbe.get(port: port, timeoutSeconds: 1), response.header("X-Served-By") == name { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw FixtureError("port \(port) was not served by \(name) within \(timeout)")
    }

    enum RealStore: String, CaseIterable, Sendable { case etcd, zookeeper }

    @Test("a weight change written to etcd or ZooKeeper changes the observed split within 1 s", arguments: RealStore.allCases)
    func weightChange(backend: RealStore) async throws {
        let store: any KeyValueStore
        let cleanup: () async -> Void
        switch backend {
        case .etcd:
            let etcd = try await EtcdServer.start()
            store = EtcdKeyValueStore(configuration: .init(endpoint: etcd.endpoint))
            cleanup = { await etcd.remove() }
        case .zookeeper:
            let zookeeper = try await ZooKeeperServer.start()
            let client = ZooKeeperKeyValueStore(configuration: .init(servers: [zookeeper.address]))
            store = client
            cleanup = { await client.shutdown(); await zookeeper.remove() }
        }
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let port = try FreePort.next()
        let key = KeyPath.haproxyConfiguration(namespace: "test", version: "2.6")
        let agent = try RunningAgent(store: store, key: key)
        try await store.set(key, string: try agent.generator.render([Self.gateway(port: port, [(a, 100), (b, 0)])]))
        try await Self.waitUntilServed(by: "a", port: port)

        try await store.set(key, string: try agent.generator.render([Self.gateway(port: port, [(a, 0), (b, 100)])]))
        let elapsed = try await Self.waitUntilServed(by: "b", port: port, timeout: .seconds(1))
        #expect(elapsed < .seconds(1))
        let split = try (0..<100).map { _ in try HTTPProbe.get(port: port).header("X-Served-By") }
        #expect(split.allSatisfy { $0 == "b" })
        // Only weights changed: applied to the running worker, no second reload.
        try await waitUntil(timeout: .seconds(5), "the weight update to be counted") { agent.agent.metrics.snapshot.weightUpdates == 1 }
        #expect(agent.agent.metrics.snapshot.reloads == 1)
        let file = try String(contentsOf: agent.directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8)
        #expect(file.contains(try agent.generator.render([Self.gateway(port: port, [(a, 0), (b, 100)])])), "the file on disk is not the new text")
        await agent.stop()
        await cleanup()
    }

    @Test("weightChanges: only server weights differ → set server commands; anything else → nil (a reload)")
    func weightChangesArePure() {
        let old = "global\n  maxconn 10\nbackend o_g\n  server a unix@/r/a send-proxy weight 100\n  server b unix@/r/b send-proxy weight 0\n"
        let new = old.replacingOccurrences(of: "weight 100", with: "weight 30").replacingOccurrences(of: "weight 0", with: "weight 70")
        // Raised before lowered, so some server keeps a weight between the two commands.
        #expect(GatewayAgent.weightChanges(from: old, to: new) == ["set server o_g/b weight 70", "set server o_g/a weight 30"])
        #expect(GatewayAgent.weightChanges(from: old, to: old) == nil)
        #expect(GatewayAgent.weightChanges(from: old, to: old.replacingOccurrences(of: "unix@/r/b", with: "unix@/r/c")) == nil)
        #expect(GatewayAgent.weightChanges(from: old, to: old.replacingOccurrences(of: "maxconn 10", with: "maxconn 11")) == nil)
        #expect(GatewayAgent.weightChanges(from: old, to: old + "backend x\n") == nil)
        #expect(GatewayAgent.weightChanges(from: old, to: old.replacingOccurrences(of: "weight 100", with: "weight 300")) == nil)
    }

    @Test("defaults only: an agent and a generator left at their defaults agree (sockets) and serve traffic")
    func defaultsOnly() async throws {
        let service = try TestHTTPService(name: "defaults")
        let port = try FreePort.next()
        let store = InMemoryKeyValueStore()
        let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")
        // What a user writes: no socket folder, no bind address, nothing but the gateway.
        let text = try HAProxyConfigurationGenerator().render([Gateway(
            name: "defaults-\(port)", port: GatewayPort(number: port),
            routes: [Route(path: "a", weight: Percentage(100), targets: [.instance(name: "a", host: "127.0.0.1", port: service.port)])])])
        try await store.set(key, string: text)
        let directory = try TemporaryDirectory(prefix: "va-defaults")
        defer { directory.remove() }
        defer { Teardown.stopHAProxy(in: directory.url.path) }
        // The library's defaults, as the host's: only the key and a work folder.
        let agent = GatewayAgent(configuration: GatewayAgentConfiguration(key: key, workDirectory: directory.url), store: store)
        let task = Task { try await agent.run() }
        defer { task.cancel() }
        try await waitUntil(timeout: .seconds(20), "the gateway to serve with default settings") {
            (try? HTTPProbe.get(port: port))?.header("X-Served-By") == "defaults"
        }
        task.cancel()
        _ = await task.result
    }

    @Test("an invalid configuration is refused, reported, and the old one keeps serving")
    func invalidConfiguration() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let statusKey = "/vamp/test/gateways/haproxy/2.6/agents/test"
        let agent = try RunningAgent(store: store, key: "/k", statusKey: statusKey)
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        let running = try String(contentsOf: agent.directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8)

        try await store.set("/k", string: "frontend broken\n  bind 127.0.0.1:notaport\n")
        try await waitUntil(timeout: .seconds(5), "the agent to refuse the configuration") { agent.agent.metrics.snapshot.failedValidations == 1 }
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "a")
        #expect(try String(contentsOf: agent.directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8) == running)
        let status = try #require(try await store.get(statusKey)).string
        #expect(status.contains("\"state\":\"failed\"") && status.contains("refused"), "\(status)")
        #expect(agent.agent.metrics.snapshot.lastError?.contains("bind") == true)

        // The previous good text written back: health reflects the text in the store now.
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await waitUntil(timeout: .seconds(5), "the failure to clear after the revert") { agent.agent.metrics.snapshot.lastError == nil }
        let reverted = try #require(try await store.get(statusKey)).string
        #expect(reverted.contains("\"state\":\"applied\""), "\(reverted)")
        await agent.stop()
    }

    @Test("a busy status port is logged and shown, never fatal: HAProxy keeps serving")
    func busyStatusPort() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let busy = try TestHTTPService(name: "busy")
        let agent = try RunningAgent(store: store, key: "/k", statusPort: busy.port)
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        try await waitUntil(timeout: .seconds(5), "the status server failure to be recorded") {
            agent.agent.metrics.snapshot.failedServices["status server"] != nil
        }
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "a")
        #expect(agent.agent.metrics.snapshot.haproxyRunning)
        await agent.stop()
    }

    @Test("the same configuration twice does not reload")
    func unchanged() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let agent = try RunningAgent(store: store, key: "/k")
        let text = try agent.generator.render([Self.gateway(port: port, [(service, 100)])])
        try await store.set("/k", string: text)
        try await Self.waitUntilServed(by: "a", port: port)
        try await store.delete("/k")
        try await store.set("/k", string: text)
        try await waitUntil(timeout: .seconds(5), "the second update") { agent.agent.metrics.snapshot.unchanged == 1 }
        #expect(agent.agent.metrics.snapshot.reloads == 1)
        await agent.stop()
    }

    @Test("etcd stopped for 10 s under load: no failed request, and a change made after it returns is applied")
    func etcdOutage() async throws {
        let etcd = try await EtcdServer.start()
        let store = EtcdKeyValueStore(configuration: .init(endpoint: etcd.endpoint))
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let port = try FreePort.next()
        let key = "/vamp/test/gateways/haproxy/2.6/configuration"
        let agent = try RunningAgent(store: store, key: key)
        try await store.set(key, string: try agent.generator.render([Self.gateway(port: port, [(a, 100), (b, 0)])]))
        try await Self.waitUntilServed(by: "a", port: port)

        let load = Task.detached { () -> (ok: Int, failed: Int) in
            var ok = 0, failed = 0
            while !Task.isCancelled {
                if (try? HTTPProbe.get(port: port, timeoutSeconds: 2))?.status == 200 { ok += 1 } else { failed += 1 }
            }
            return (ok, failed)
        }
        await etcd.stop()
        try await Task.sleep(for: .seconds(10))
        try await etcd.start()
        try await store.set(key, string: try agent.generator.render([Self.gateway(port: port, [(a, 0), (b, 100)])]))
        try await Self.waitUntilServed(by: "b", port: port, timeout: .seconds(10))
        load.cancel()
        let result = await load.value
        #expect(result.failed == 0, "\(result)")
        #expect(result.ok > 500, "\(result)")
        await agent.stop()
        await etcd.remove()
    }

    /// `/health` of an agent's status port: the status code and the body.
    static func health(port: Int) -> (status: Int, body: String)? {
        (try? HTTPProbe.get(port: port, path: "/health", timeoutSeconds: 2)).map { ($0.status, $0.body) }
    }

    @Test("etcd stopped: /health is 503 with the store unreachable, counted in /metrics, HAProxy serving; etcd back: 200 and the value applied")
    func unreachableStoreVisible() async throws {
        let etcd = try await EtcdServer.start()
        let store = EtcdKeyValueStore(configuration: .init(endpoint: etcd.endpoint))
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let (port, statusPort) = try (FreePort.next(), FreePort.next())
        let key = "/vamp/test/gateways/haproxy/2.6/configuration"
        let agent = try RunningAgent(store: store, key: key, statusPort: statusPort)
        try await store.set(key, string: try agent.generator.render([Self.gateway(port: port, [(a, 100), (b, 0)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        try await waitUntil(timeout: .seconds(5), "/health 200 with the store reachable") {
            guard let health = Self.health(port: statusPort) else { return false }
            return health.status == 200 && health.body.contains("\"store\":\"reachable\"")
        }

        await etcd.stop()
        // The etcd watch notices within its liveness interval (5 s) plus a 2 s timeout.
        try await waitUntil(timeout: .seconds(15), "/health to show the store unreachable") {
            guard let health = Self.health(port: statusPort) else { return false }
            return health.status == 503 && health.body.contains("\"store\":\"unreachable\"")
        }
        let metrics = try HTTPProbe.get(port: statusPort, path: "/metrics").body
        #expect(metrics.contains("vamp_gateway_agent_store_reachable 0"), "\(metrics)")
        #expect(agent.agent.metrics.snapshot.storeErrors > 0)
        #expect(!metrics.contains("vamp_gateway_agent_store_errors_total 0\n"), "\(metrics)")
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "a")

        try await etcd.start()
        try await store.set(key, string: try agent.generator.render([Self.gateway(port: port, [(a, 0), (b, 100)])]))
        try await Self.waitUntilServed(by: "b", port: port, timeout: .seconds(10))
        try await waitUntil(timeout: .seconds(10), "/health back to 200 with the store reachable") {
            guard let health = Self.health(port: statusPort) else { return false }
            return health.status == 200 && health.body.contains("\"store\":\"reachable\"")
        }
        #expect(try HTTPProbe.get(port: statusPort, path: "/metrics").body.contains("vamp_gateway_agent_store_reachable 1"))
        await agent.stop()
        await etcd.remove()
    }

    @Test("start-up with etcd down: serves the last good file, /health 503; etcd back: applies the store's value, /health 200")
    func startWithStoreDown() async throws {
        let etcd = try await EtcdServer.start()
        let store = EtcdKeyValueStore(configuration: .init(endpoint: etcd.endpoint))
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let (port, statusPort) = try (FreePort.next(), FreePort.next())
        let key = "/vamp/test/gateways/haproxy/2.6/configuration"
        let first = try RunningAgent(store: store, key: key)
        let generator = first.generator
        try await store.set(key, string: try generator.render([Self.gateway(port: port, [(a, 100), (b, 0)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        await first.stop(keepingDirectory: true)

        // Written while no agent runs, then the store goes away.
        try await store.set(key, string: try generator.render([Self.gateway(port: port, [(a, 0), (b, 100)])]))
        await etcd.stop()
        let second = try RunningAgent(store: store, key: key, statusPort: statusPort, directory: first.directory)
        try await Self.waitUntilServed(by: "a", port: port)
        try await waitUntil(timeout: .seconds(15), "/health 503 with the store unreachable") {
            guard let health = Self.health(port: statusPort) else { return false }
            return health.status == 503 && health.body.contains("\"store\":\"unreachable\"")
        }
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "a")

        try await etcd.start()
        try await Self.waitUntilServed(by: "b", port: port, timeout: .seconds(15))
        try await waitUntil(timeout: .seconds(10), "/health back to 200") { Self.health(port: statusPort)?.status == 200 }
        await second.stop()
        await etcd.remove()
    }

    @Test("HAProxy is restarted when it dies")
    func restart() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let agent = try RunningAgent(store: store, key: "/k")
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        try await waitUntil(timeout: .seconds(5), "the reload to be counted") { agent.agent.metrics.snapshot.reloads == 1 }
        // Master and worker, listed once: listing again could catch the agent's own `haproxy -c`.
        let processes = Self.pids(of: agent.directory.url.path)
        #expect(processes.count >= 2)
        for pid in processes { kill(pid, SIGKILL) }
        try await waitUntil(timeout: .seconds(10), "HAProxy to be restarted") { agent.agent.metrics.snapshot.haproxyStarts == 2 }
        do {
            try await Self.waitUntilServed(by: "a", port: port)
        } catch {
            let log = (try? String(contentsOf: agent.directory.url.appendingPathComponent("haproxy.log"), encoding: .utf8)) ?? "(no log)"
            let configuration = (try? String(contentsOf: agent.directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8)) ?? "(none)"
            let probe = (try? HTTPProbe.get(port: port, timeoutSeconds: 2)).map { "\($0.status) \($0.body)" } ?? "no answer"
            Issue.record("not served after the restart; probe: \(probe); HAProxy said:\n\(log)\nprocesses: \(Self.pids(of: agent.directory.url.path))\nconfiguration:\n\(configuration.suffix(1500))")
        }
        await agent.stop()
    }

    @Test("a HAProxy that keeps exiting is restarted with growing waits, not every 200 ms")
    func restartBackoff() async throws {
        let directory = try TemporaryDirectory(prefix: "va-backoff")
        defer { directory.remove() }
        // A HAProxy whose check passes at once (so the spacing is the agent's waits, not the time
        // of a real `haproxy -c` on a loaded machine) and whose master exits at once, noting when.
        let starts = directory.url.appendingPathComponent("starts")
        let script = directory.url.appendingPathComponent("haproxy-exits")
        try """
        #!/bin/sh
        if [ "$1" = "-c" ]; then exit 0; fi
        date +%s.%N >> \(starts.path)
        exit 1
        """.write(to: script, atomically: true, encoding: .utf8)
        chmod(script.path, 0o755)
        var configuration = GatewayAgentConfiguration(
            key: "/k", workDirectory: directory.url.appendingPathComponent("work"), haproxyExecutable: script.path,
            socketDirectory: directory.url.appendingPathComponent("run"))
        configuration.restartBackoffLimit = .seconds(2)
        let agent = GatewayAgent(configuration: configuration, store: InMemoryKeyValueStore())
        let task = Task { try await agent.run() }
        try await Task.sleep(for: .seconds(6))
        task.cancel()
        _ = await task.result
        let times = try String(contentsOf: starts, encoding: .utf8).split(separator: "\n").compactMap { Double($0) }
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        // 0.2, 0.4, 0.8, 1.6, then the 2 s limit: about 6 starts in 6 s, not 30.
        #expect((4...8).contains(times.count), "\(times.count) starts, gaps \(gaps)")
        #expect(gaps.count >= 3 && gaps[2] > gaps[0] * 2.5, "the waits do not grow: \(gaps)")
        #expect(gaps.allSatisfy { $0 >= 0.15 }, "\(gaps)")
        #expect(agent.metrics.snapshot.haproxyStarts == times.count)
    }

    /// HAProxy processes whose command line mentions `directory`.
    static func pids(of directory: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let command = String(decoding: data, as: UTF8.self)
            return command.hasPrefix("/usr/sbin/haproxy") && command.contains(directory)
        }.sorted()
    }

    @Test("user fragments are added and validated with the generated configuration")
    func fragments() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let (port, custom) = try (FreePort.next(), FreePort.next())
        let folder = try TemporaryDirectory(prefix: "vf")
        defer { folder.remove() }
        try "frontend custom_ping\n  bind 127.0.0.1:\(custom)\n  mode http\n  monitor-uri /ping\n".write(to: folder.url.appendingPathComponent("10-ping.cfg"), atomically: true, encoding: .utf8)
        let agent = try RunningAgent(store: store, key: "/k", fragments: folder.url)
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        #expect(try HTTPProbe.get(port: custom, path: "/ping").status == 200)
        await agent.stop()
    }

    @Test("a 5 KB log line arrives whole as JSON; a line HAProxy cuts at len 8192 is counted, not forwarded")
    func longLogLines() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let (port, logPort) = try (FreePort.next(), FreePort.next())
        let logstash = try UDPReceiver()
        // HAProxy logs at most 1024 bytes of the request line unless told otherwise.
        let base = GatewayAgentConfiguration.defaultBaseConfiguration(logPort: logPort)
            .replacingOccurrences(of: "global\n  log ", with: "global\n  tune.http.logurilen 16384\n  log ")
        #expect(base.contains("logurilen"))
        let agent = try RunningAgent(store: store, key: "/k", logPort: logPort, logstash: ("127.0.0.1", logstash.port), base: base)
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        while logstash.receive(timeoutMilliseconds: 500) != nil {}

        let long = "/" + String(repeating: "l", count: 5000)
        _ = try HTTPProbe.get(port: port, path: long)
        var whole: [String: Any]?
        while whole == nil, let datagram = logstash.receive(timeoutMilliseconds: 3000) {
            guard datagram.contains("lllll") else { continue }
            whole = try #require(try JSONSerialization.jsonObject(with: Data(datagram.utf8)) as? [String: Any], "cut: \(datagram.count) bytes")
        }
        #expect((whole?["r"] as? String)?.contains(long) == true)

        let cut = "/" + String(repeating: "c", count: 9000)
        _ = try? HTTPProbe.get(port: port, path: cut)
        try await waitUntil(timeout: .seconds(5), "the cut line to be counted") { agent.agent.metrics.snapshot.logLinesTruncated >= 1 }
        while let datagram = logstash.receive(timeoutMilliseconds: 500) { #expect(!datagram.contains("ccccc"), "a cut line was forwarded") }
        await agent.stop()
    }

    @Test("log lines reach a UDP listener as JSON; with the listener gone and back, forwarding resumes and memory stays bounded")
    func logForwarding() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let (port, logPort, statusPort) = try (FreePort.next(), FreePort.next(), FreePort.next())
        var logstash = try UDPReceiver()
        let logstashPort = logstash.port
        let agent = try RunningAgent(store: store, key: "/k", logPort: logPort, logstash: ("127.0.0.1", logstashPort), capacity: 32, statusPort: statusPort)
        let gateway = Self.gateway(port: port, [(service, 100)])
        try await store.set("/k", string: try agent.generator.render([gateway]))
        try await Self.waitUntilServed(by: "a", port: port)

        for _ in 0..<5 { _ = try HTTPProbe.get(port: port, path: "/logged") }
        var lines: [[String: Any]] = []
        while lines.count < 10, let datagram = logstash.receive(timeoutMilliseconds: 2000) {
            lines.append(try #require(try JSONSerialization.jsonObject(with: Data(datagram.utf8)) as? [String: Any], "not JSON: \(datagram)"))
        }
        #expect(lines.contains { $0["ft"] as? String == gateway.lookupName && ($0["r"] as? String)?.contains("/logged") == true })
        #expect(lines.allSatisfy { $0["ST"] as? Int != nil && $0["Tt"] as? Int != nil })

        // Logstash goes away: lines are dropped and counted, HAProxy keeps serving.
        logstash.close()
        for _ in 0..<100 { #expect(try HTTPProbe.get(port: port).status == 200) }
        try await Task.sleep(for: .milliseconds(500))
        let during = agent.agent.metrics.snapshot
        #expect(during.logLinesDropped > 0, "\(during)")
        #expect(during.logLinesReceived - during.logLinesForwarded - during.logLinesDropped <= 32, "buffered lines exceed the capacity: \(during)")

        // Logstash returns on the same port: forwarding resumes.
        logstash = try UDPReceiver(port: logstashPort)
        try await Task.sleep(for: .milliseconds(500))
        var resumed = false
        for _ in 0..<20 where !resumed {
            _ = try HTTPProbe.get(port: port, path: "/after")
            while !resumed, let datagram = logstash.receive(timeoutMilliseconds: 300) { resumed = datagram.contains("/after") }
        }
        #expect(resumed)

        let metrics = try HTTPProbe.get(port: statusPort, path: "/metrics")
        #expect(metrics.body.contains("vamp_gateway_agent_reloads_total 1"))
        #expect(metrics.body.contains("vamp_gateway_agent_log_lines_dropped_total"))
        let health = try HTTPProbe.get(port: statusPort, path: "/health")
        #expect(health.status == 200 && health.body.contains("\"haproxy\":\"running\""))
        await agent.stop()
    }

    @Test("HAProxy logs through a unix datagram socket: JSON lines reach a UDP listener, a line cut at len is counted, not forwarded")
    func unixSocketLogForwarding() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let logstash = try UDPReceiver()
        let directory = try TemporaryDirectory(prefix: "va")
        let socket = directory.url.appendingPathComponent("log.sock").path
        // HAProxy logs at most 1024 bytes of the request line unless told otherwise.
        let base = GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil, logSocket: socket)
            .replacingOccurrences(of: "global\n  log ", with: "global\n  tune.http.logurilen 16384\n  log ")
        #expect(base.contains("  log \(socket) len 8192 local0\n"), "\(base)")
        let agent = try RunningAgent(
            store: store, key: "/k", logSocket: socket, logstash: ("127.0.0.1", logstash.port), directory: directory, base: base)
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [(service, 100)])]))
        try await Self.waitUntilServed(by: "a", port: port)
        var info = stat()
        #expect(lstat(socket, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK, "no socket at \(socket)")

        for _ in 0..<5 { _ = try HTTPProbe.get(port: port, path: "/through-the-unix-socket") }
        // Each request logs twice: at the gateway's frontend and at the route's.
        let frontend = Self.gateway(port: port, [(service, 100)]).lookupName
        var line: [String: Any]?
        while line == nil, let datagram = logstash.receive(timeoutMilliseconds: 3000) {
            guard datagram.contains("/through-the-unix-socket") else { continue }
            let object = try #require(try JSONSerialization.jsonObject(with: Data(datagram.utf8)) as? [String: Any], "not JSON: \(datagram)")
            if object["ft"] as? String == frontend { line = object }
        }
        let received = try #require(line, "no log line of frontend \(frontend) arrived through \(socket)")
        #expect(received["ST"] as? Int == 200)

        // A 5 KB line arrives whole; a 9 KB one, cut by HAProxy at len 8192, is counted and not forwarded.
        let long = "/" + String(repeating: "l", count: 5000)
        _ = try HTTPProbe.get(port: port, path: long)
        var whole: [String: Any]?
        while whole == nil, let datagram = logstash.receive(timeoutMilliseconds: 3000) {
            guard datagram.contains("lllll") else { continue }
            whole = try #require(try JSONSerialization.jsonObject(with: Data(datagram.utf8)) as? [String: Any], "cut: \(datagram.count) bytes")
        }
        #expect((whole?["r"] as? String)?.contains(long) == true)
        _ = try? HTTPProbe.get(port: port, path: "/" + String(repeating: "c", count: 9000))
        try await waitUntil(timeout: .seconds(5), "the cut line to be counted") { agent.agent.metrics.snapshot.logLinesTruncated >= 1 }
        while let datagram = logstash.receive(timeoutMilliseconds: 500) { #expect(!datagram.contains("ccccc"), "a cut line was forwarded") }
        #expect(agent.agent.metrics.snapshot.logLinesForwarded >= 6)

        await agent.stop(keepingDirectory: true)
        #expect(lstat(socket, &info) != 0, "the socket was not removed when the agent stopped")
        directory.remove()
    }

    /// A work folder as an agent stopped mid-apply leaves it: `haproxy.cfg` is a new text the master
    /// never accepted, `haproxy.cfg.previous` the one that ran. Returns the previous text.
    static func stoppedMidApply(_ directory: TemporaryDirectory, previousValid: Bool, port: Int, service: TestHTTPService) throws -> String {
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: "127.0.0.1", socketDirectory: directory.url.appendingPathComponent("run").path))
        var previous = GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil)
            + "\n# generated by Vamp\n" + (try generator.render([Self.gateway(port: port, [(service, 100)])]))
        if !previousValid { previous += "frontend also_broken\n  bind 127.0.0.1:notaport\n" }
        try previous.write(to: directory.url.appendingPathComponent("haproxy.cfg.previous"), atomically: true, encoding: .utf8)
        try (previous + "frontend broken\n  bind 127.0.0.1:notaport\n")
            .write(to: directory.url.appendingPathComponent("haproxy.cfg"), atomically: true, encoding: .utf8)
        return previous
    }

    @Test("the file on disk does not validate at start: the agent starts on haproxy.cfg.previous and serves it")
    func startsOnPreviousGoodFile() async throws {
        let service = try TestHTTPService(name: "previous")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "va-prev")
        let previous = try Self.stoppedMidApply(directory, previousValid: true, port: port, service: service)
        // The store holds nothing for the key: what serves is what the agent chose on disk.
        let agent = try RunningAgent(store: InMemoryKeyValueStore(), key: "/k", directory: directory)
        try await Self.waitUntilServed(by: "previous", port: port)
        #expect(try String(contentsOf: directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8) == previous)
        #expect(agent.agent.metrics.snapshot.haproxyStarts == 1)
        await agent.stop()
    }

    @Test("an agent stopped at any moment of HAProxy's start (before, during and after the launch) leaves no HAProxy behind")
    func stopDuringStart() async throws {
        for delay in [0, 10, 30, 60, 100, 150, 250, 400] {
            let agent = try RunningAgent(store: InMemoryKeyValueStore(), key: "/k")
            try await Task.sleep(for: .milliseconds(delay))
            // `stop` records every HAProxy of the agent's folder still running 2 s after the agent returned.
            await agent.stop()
        }
    }

    @Test("neither the file on disk nor haproxy.cfg.previous validates: the agent starts on the base sections")
    func startsOnBaseWhenNothingValidates() async throws {
        let service = try TestHTTPService(name: "previous")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "va-base")
        _ = try Self.stoppedMidApply(directory, previousValid: false, port: port, service: service)
        let agent = try RunningAgent(store: InMemoryKeyValueStore(), key: "/k", directory: directory)
        try await waitUntil(timeout: .seconds(20), "HAProxy to run on the base sections") { agent.agent.metrics.snapshot.haproxyRunning }
        #expect(try String(contentsOf: directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8) == (try agent.agent.compose(kv: "")))
        #expect(!FreePort.isAccepting(port), "the refused gateway serves")
        await agent.stop()
    }
}
