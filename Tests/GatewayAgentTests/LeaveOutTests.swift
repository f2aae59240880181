import Foundation
@testable import GatewayAgent
import HAProxyConfigGen
import HAProxyControl
import KVStores
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Issue 23 with a real HAProxy: a configuration HAProxy would refuse never interrupts the running gateways, one
/// gateway it cannot serve is left out while the others are applied, a left-out gateway is served once its port is
/// free without a new write, never two masters on one folder, and a restart that changes nothing reloads nothing.
@Suite("Gateway agent: traffic never stops (real HAProxy)", .serialized)
struct LeaveOutTests {
    typealias RunningAgent = GatewayAgentTests.RunningAgent

    /// A gateway `name` on `port` with one route to `service`.
    static func gateway(_ name: String, port: Int, _ service: TestHTTPService) -> Gateway {
        Gateway(name: name, port: GatewayPort(number: port), routes: [
            Route(path: service.name, weight: Percentage(100), targets: [.instance(name: service.name, host: "127.0.0.1", port: service.port)]),
        ])
    }

    /// Requests to `port` in a loop until cancelled: how many answered 200 and how many did not (refused, reset, 503).
    static func load(port: Int) -> Task<(ok: Int, failed: Int), Never> {
        Task.detached {
            var ok = 0, failed = 0
            while !Task.isCancelled {
                if (try? HTTPProbe.get(port: port, timeoutSeconds: 2))?.status == 200 { ok += 1 } else { failed += 1 }
            }
            return (ok, failed)
        }
    }

    /// The master's `show proc`: its current worker and failed-reload count.
    static func showProc(_ directory: TemporaryDirectory) async -> (worker: Int32?, failed: Int?, text: String)? {
        guard let text = try? await MasterCLI.send("show proc", to: directory.url.appendingPathComponent("master.sock").path) else { return nil }
        return (HAProxyControl.workers(inShowProc: text).first, HAProxyControl.failedReloads(inShowProc: text), text)
    }

    static func health(_ port: Int) -> (status: Int, body: String)? {
        (try? HTTPProbe.get(port: port, path: "/health", timeoutSeconds: 2)).map { ($0.status, $0.body) }
    }

    @Test("a gateway added on a port another program holds: the running gateways serve on without one failed request, no reload reaches HAProxy, the gateway is reported left out")
    func busyPortNeverInterrupts() async throws {
        let store = InMemoryKeyValueStore()
        let (a, b, c) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"), TestHTTPService(name: "c"))
        let (portA, portC, statusPort) = try (FreePort.next(), FreePort.next(), FreePort.next())
        let held = try HeldPort()
        let statusKey = "/vamp/test/gateways/haproxy/2.6/agents/test"
        let agent = try RunningAgent(store: store, key: "/k", statusPort: statusPort, statusKey: statusKey)
        try await store.set("/k", string: try agent.generator.render([Self.gateway("a", port: portA, a), Self.gateway("c", port: portC, c)]))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: portA)
        try await GatewayAgentTests.waitUntilServed(by: "c", port: portC)
        try await waitUntil(timeout: .seconds(5), "the first reload to be counted") { agent.agent.metrics.snapshot.reloads == 1 }
        let before = try #require(await Self.showProc(agent.directory))

        let load = Self.load(port: portA)
        try await Task.sleep(for: .milliseconds(300))
        try await store.set("/k", string: try agent.generator.render([
            Self.gateway("a", port: portA, a), Self.gateway("b", port: held.port, b), Self.gateway("c", port: portC, c),
        ]))
        try await waitUntil(timeout: .seconds(10), "/health to name gateway b left out") {
            guard let health = Self.health(statusPort) else { return false }
            return health.status == 503 && health.body.contains("\"left_out\":{\"b\":") && health.body.contains("cannot bind 127.0.0.1:\(held.port)")
        }
        // A refused reload paused every listener for about 2 s: let more than that pass under load.
        try await Task.sleep(for: .seconds(3))
        load.cancel()
        let result = await load.value
        #expect(result.failed == 0, "gateway a failed requests while b was refused: \(result)")
        #expect(result.ok > 50, "\(result)")
        #expect(try HTTPProbe.get(port: portC).header("X-Served-By") == "c")
        // The text without b is the running one: nothing reached the master.
        let after = try #require(await Self.showProc(agent.directory))
        #expect(after.worker == before.worker && after.failed == 0, "\(after.text)")
        #expect(agent.agent.metrics.snapshot.reloads == 1)
        let status = try #require(try await store.get(statusKey)).string
        #expect(status.contains("\"state\":\"partial\"") && status.contains("\"left_out\":{\"b\":\"cannot bind 127.0.0.1:\(held.port)"), "\(status)")
        await agent.stop()
    }

    @Test("a gateway whose port is busy from the start: the others serve; the busy one is served once the port is free, without a new write")
    func busyGatewayLeftOutThenRetried() async throws {
        let store = InMemoryKeyValueStore()
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let (portA, statusPort) = try (FreePort.next(), FreePort.next())
        let held = try HeldPort()
        let agent = try RunningAgent(store: store, key: "/k", statusPort: statusPort)
        try await store.set("/k", string: try agent.generator.render([Self.gateway("a", port: portA, a), Self.gateway("b", port: held.port, b)]))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: portA)
        try await waitUntil(timeout: .seconds(5), "/health to name gateway b left out") {
            Self.health(statusPort)?.body.contains("\"left_out\":{\"b\":") == true
        }
        #expect(Self.health(statusPort)?.status == 503)
        // Tried again with backoff while the port stays busy (1 s, 2 s…): a stays served, b stays out.
        try await Task.sleep(for: .milliseconds(3500))
        #expect(try HTTPProbe.get(port: portA).header("X-Served-By") == "a")

        held.release()
        let freed = ContinuousClock.now
        // The next retry is at most 4 s away (1 + 2 + 4 s from the apply).
        do {
            try await GatewayAgentTests.waitUntilServed(by: "b", port: held.port, timeout: .seconds(10))
        } catch {
            Issue.record("b not served after its port was freed: \(agent.agent.metrics.snapshot), state \(agent.agent.state)")
            throw error
        }
        let waited = ContinuousClock.now - freed
        #expect(waited < .seconds(8), "served \(waited) after the port was freed")
        try await waitUntil(timeout: .seconds(5), "/health back to 200") { Self.health(statusPort)?.status == 200 }
        #expect(try HTTPProbe.get(port: portA).header("X-Served-By") == "a")
        await agent.stop()
    }

    @Test("a gateway whose sections HAProxy refuses: left out with HAProxy's alert, the others applied; later changes are not blocked and need no second refusal")
    func refusedSectionsLeftOut() async throws {
        let store = InMemoryKeyValueStore()
        let (a, b, d) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"), TestHTTPService(name: "d"))
        let (portA, portB, portD) = try (FreePort.next(), FreePort.next(), FreePort.next())
        let statusKey = "/status"
        let agent = try RunningAgent(store: store, key: "/k", statusKey: statusKey)
        // Text a generator of another version (or a hand) could write: a keyword HAProxy does not know in b's frontend.
        func text(_ gateways: [Gateway]) throws -> String {
            let lookup = Self.gateway("b", port: portB, b).lookupName
            return try agent.generator.render(gateways).replacingOccurrences(of: "frontend \(lookup)\n", with: "frontend \(lookup)\n  bogus-keyword on\n")
        }
        try await store.set("/k", string: try text([Self.gateway("a", port: portA, a), Self.gateway("b", port: portB, b)]))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: portA)
        try await waitUntil(timeout: .seconds(10), "the status key to name b") {
            ((try? await store.get(statusKey))?.string ?? "").contains("\"left_out\":{\"b\":")
        }
        let status = try #require(try await store.get(statusKey)).string
        #expect(status.contains("\"state\":\"partial\"") && status.contains("bogus-keyword"), "\(status)")
        #expect(!FreePort.isAccepting(portB))
        let validations = agent.agent.metrics.snapshot.failedValidations

        // Another gateway added: applied at once; b's same sections are left out without asking HAProxy again.
        try await store.set("/k", string: try text([Self.gateway("a", port: portA, a), Self.gateway("b", port: portB, b), Self.gateway("d", port: portD, d)]))
        try await GatewayAgentTests.waitUntilServed(by: "d", port: portD)
        #expect(agent.agent.metrics.snapshot.failedValidations == validations)
        #expect(agent.agent.metrics.snapshot.leftOutGateways.keys.sorted() == ["b"])
        // b fixed: served.
        try await store.set("/k", string: try agent.generator.render([Self.gateway("a", port: portA, a), Self.gateway("b", port: portB, b)]))
        try await GatewayAgentTests.waitUntilServed(by: "b", port: portB)
        try await waitUntil(timeout: .seconds(5), "the status to be applied") {
            ((try? await store.get(statusKey))?.string ?? "").contains("\"state\":\"applied\"")
        }
        await agent.stop()
    }

    /// Starts a master on `directory` by hand, as an agent does (`-W -D`), and returns its pid.
    static func startMaster(_ directory: TemporaryDirectory) async throws -> Int32 {
        let (status, output) = try await HAProxyControl.runCollectingOutput(HAProxyControl.defaultExecutable, arguments: [
            "-W", "-D", "-f", directory.url.appendingPathComponent("haproxy.cfg").path,
            "-S", directory.url.appendingPathComponent("master.sock").path, "-p", directory.url.appendingPathComponent("haproxy.pid").path,
        ], workingDirectory: directory.url.path)
        guard status == .exited(0) else { throw FixtureError("haproxy -W -D ended \(status): \(output.text)") }
        try await waitUntil(timeout: .seconds(5), "the master's pid file") {
            HAProxyMaster.pid(in: directory.url.appendingPathComponent("haproxy.pid")) != nil
        }
        return try #require(HAProxyMaster.pid(in: directory.url.appendingPathComponent("haproxy.pid")))
    }

    /// Two masters on one folder, as a restart killed between starting a new master and stopping the old one left
    /// them: the first started, then a second whose pid file and master socket replaced the first's.
    static func twoMasters(_ directory: TemporaryDirectory, text: String) async throws -> (first: Int32, second: Int32) {
        try FileManager.default.createDirectory(at: directory.url.appendingPathComponent("run"), withIntermediateDirectories: true)
        let file = GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil) + "\n# generated by Vamp\n" + text
        try file.write(to: directory.url.appendingPathComponent("haproxy.cfg"), atomically: true, encoding: .utf8)
        // Each master re-executes itself once its first worker is up and binds the master socket again: the second is
        // started once the first answers, and answers last, so it is the one on the socket.
        let socket = directory.url.appendingPathComponent("master.sock").path
        func answering() async -> Int32? {
            (try? await MasterCLI.send("show proc", to: socket)).flatMap { HAProxyControl.masterPid(inShowProc: $0) }
        }
        let first = try await startMaster(directory)
        try await waitUntil(timeout: .seconds(10), "the first master to answer") { await answering() == first }
        try FileManager.default.removeItem(at: directory.url.appendingPathComponent("haproxy.pid"))
        let second = try await startMaster(directory)
        try await waitUntil(timeout: .seconds(10), "the second master to answer") { await answering() == second }
        #expect(first != second && ExecutableTests.haproxyMasters(in: directory.url.path) == [first, second].sorted())
        return (first, second)
    }

    @Test("two masters left on one folder: the agent keeps the one that answers, stops the other, and serves")
    func twoMastersBecomeOne() async throws {
        let store = InMemoryKeyValueStore()
        let a = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "va-two")
        defer { Teardown.stopHAProxy(in: directory.url.path) }
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: "127.0.0.1", socketDirectory: directory.url.appendingPathComponent("run").path))
        let text = try generator.render([Self.gateway("a", port: port, a)])
        let (_, second) = try await Self.twoMasters(directory, text: text)
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)
        try await store.set("/k", string: text)

        let load = Self.load(port: port)
        let agent = try RunningAgent(store: store, key: "/k", directory: directory, configure: { $0.hardStopAfter = .seconds(3) })
        try await waitUntil(timeout: .seconds(20), "one master left on the folder") {
            ExecutableTests.haproxyMasters(in: directory.url.path) == [second]
        }
        load.cancel()
        let result = await load.value
        #expect(result.ok > 0, "\(result)")
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "a")
        #expect(agent.agent.metrics.snapshot.haproxyRunning)
        // The master that stopped did not take the socket with it: the agent still reaches the one it kept (once its own
        // apply, a reload during which the master re-executes itself, is over).
        try await waitUntil(timeout: .seconds(10), "the text to be applied") { agent.agent.metrics.snapshot.appliedConfiguration == text }
        #expect(await Self.showProc(directory)?.worker != nil)
        await agent.stop()
    }

    @Test("a master left on the folder that does not answer (its CLI socket gone) is replaced: a new master serves, the old one stops")
    func silentMasterReplaced() async throws {
        let store = InMemoryKeyValueStore()
        let a = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "va-silent")
        defer { Teardown.stopHAProxy(in: directory.url.path) }
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: "127.0.0.1", socketDirectory: directory.url.appendingPathComponent("run").path))
        let text = try generator.render([Self.gateway("a", port: port, a)])
        try FileManager.default.createDirectory(at: directory.url.appendingPathComponent("run"), withIntermediateDirectories: true)
        try (GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil) + "\n# generated by Vamp\n" + text)
            .write(to: directory.url.appendingPathComponent("haproxy.cfg"), atomically: true, encoding: .utf8)
        let silent = try await Self.startMaster(directory)
        // Once it answers (a master re-executes itself after its first worker started, binding the socket again), its
        // socket goes: nobody can reach its CLI any more.
        try await waitUntil(timeout: .seconds(10), "the master to answer") { await Self.showProc(directory)?.worker != nil }
        try FileManager.default.removeItem(at: directory.url.appendingPathComponent("master.sock"))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)
        try await store.set("/k", string: text)

        let agent = try RunningAgent(store: store, key: "/k", directory: directory, configure: { $0.hardStopAfter = .seconds(3) })
        try await waitUntil(timeout: .seconds(20), "one new master on the folder") {
            let masters = ExecutableTests.haproxyMasters(in: directory.url.path)
            return masters.count == 1 && masters != [silent]
        }
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "a")
        #expect(agent.agent.metrics.snapshot.haproxyRunning)
        try await waitUntil(timeout: .seconds(10), "the text to be applied") { agent.agent.metrics.snapshot.appliedConfiguration == text }
        #expect(await Self.showProc(directory)?.worker != nil)
        await agent.stop()
    }

    @Test("stopHAProxyLeftRunning (vamp-server --stop-gateway) stops every master of the folder")
    func stopStopsEveryMaster() async throws {
        let a = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "va-stop")
        defer { directory.remove() }
        defer { Teardown.stopHAProxy(in: directory.url.path) }
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: "127.0.0.1", socketDirectory: directory.url.appendingPathComponent("run").path))
        _ = try await Self.twoMasters(directory, text: try generator.render([Self.gateway("a", port: port, a)]))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)
        let configuration = GatewayAgentConfiguration(key: "/k", workDirectory: directory.url)
        #expect(await GatewayAgent.stopHAProxyLeftRunning(configuration: configuration) != nil)
        try await waitUntil(timeout: .seconds(10), "every HAProxy of the folder to stop") {
            Teardown.haproxies(in: directory.url.path).isEmpty
        }
        #expect(!FreePort.isAccepting(port))
        #expect(await GatewayAgent.stopHAProxyLeftRunning(configuration: configuration) == nil)
    }

    @Test("an agent restarted on a master it left running, with the same text in the store: no reload, the same worker, no failed request; timed")
    func restartWithoutReload() async throws {
        let store = InMemoryKeyValueStore()
        let a = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "va-restart")
        defer { directory.remove() }
        defer { Teardown.stopHAProxy(in: directory.url.path) }
        let first = try RunningAgent(store: store, key: "/k", directory: directory, configure: { $0.leavesHAProxyRunning = true })
        let text = try first.generator.render([Self.gateway("a", port: port, a)])
        try await store.set("/k", string: text)
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)
        try await waitUntil(timeout: .seconds(5), "the first reload") { first.agent.metrics.snapshot.reloads == 1 }
        await first.abandon()
        let before = try #require(await Self.showProc(directory))

        let load = Self.load(port: port)
        var ready: [Double] = [], applied: [Double] = []
        var reloads = 0
        for round in 0..<10 {
            let started = ContinuousClock.now
            let agent = try RunningAgent(store: store, key: "/k", directory: directory, configure: { $0.leavesHAProxyRunning = true })
            // Polled every 2 ms (the shared helper polls every 50 ms, too coarse for these times).
            while !agent.agent.metrics.snapshot.haproxyRunning, ContinuousClock.now - started < .seconds(10) { try await Task.sleep(for: .milliseconds(2)) }
            ready.append((ContinuousClock.now - started).secondsValue)
            while agent.agent.metrics.snapshot.appliedConfiguration != text, ContinuousClock.now - started < .seconds(10) {
                try await Task.sleep(for: .milliseconds(2))
            }
            applied.append((ContinuousClock.now - started).secondsValue)
            #expect(agent.agent.metrics.snapshot.appliedConfiguration == text, "restart \(round): the store's text was not applied")
            reloads += agent.agent.metrics.snapshot.reloads
            #expect(agent.agent.metrics.snapshot.reloads == 0, "restart \(round) reloaded HAProxy")
            await agent.abandon()
            let now = await Self.showProc(directory)
            #expect(now?.worker == before.worker, "restart \(round) changed the worker: \(now?.text ?? "no answer")")
        }
        load.cancel()
        let result = await load.value
        #expect(result.failed == 0, "\(result)")
        let format = { (values: [Double]) in values.map { String(format: "%.3f", $0) }.joined(separator: " ") }
        print("restart without change: taken over after [\(format(ready))] s, text applied after [\(format(applied))] s, \(result.ok) requests, \(result.failed) failed, \(reloads) reloads")
    }
}

/// A loopback port held by a plain listening socket (no `SO_REUSEPORT`), as another program holds a port.
final class HeldPort: @unchecked Sendable {
    let port: Int
    private var descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw FixtureError("cannot hold a loopback port: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.descriptor = fd
    }

    /// Frees the port.
    func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}

extension LeaveOutTests {
    /// One gateway with `count` routes, each to its own target, as the generator writes it for an agent in `directory`.
    static func manyRoutes(_ count: Int, port: Int, service: TestHTTPService, socketDirectory: String) throws -> String {
        let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: socketDirectory))
        return try generator.render([Gateway(name: "many", port: GatewayPort(number: port), routes: (0..<count).map { index in
            Route(path: "r\(index)", weight: Percentage(index == 0 ? 100 : 0), targets: [.instance(name: "t\(index)", host: "127.0.0.1", port: service.port)])
        })])
    }

    /// `manyRoutes` with lines in every route backend that HAProxy warns about (`monitor-uri` in a backend), so that
    /// `haproxy -c` and HAProxy's start print well over 1 MB of warnings, as the issue's 10,000 routes did (3,000 routes
    /// here: 10,000 need more file descriptors than this machine's `ulimit -n`, see `tenThousandRoutes`).
    static func manyWarnings(_ count: Int, port: Int, service: TestHTTPService, socketDirectory: String) throws -> String {
        try manyRoutes(count, port: port, service: service, socketDirectory: socketDirectory)
            .replacingOccurrences(of: "  option forwardfor\n", with: "  option forwardfor\n" + String(repeating: "  monitor-uri /never\n", count: 3))
    }

    @Test("haproxy -c with over 1 MB of output: decided by its exit status, the message bounded; an agent starts and serves on such a file")
    func megabytesOfWarnings() async throws {
        let (service, small) = try (TestHTTPService(name: "many"), TestHTTPService(name: "small"))
        let (port, smallPort) = try (FreePort.next(), FreePort.next())
        let directory = try TemporaryDirectory(prefix: "va-many")
        defer { directory.remove() }
        let sockets = directory.url.appendingPathComponent("run").path
        let text = try Self.manyWarnings(3_000, port: port, service: service, socketDirectory: sockets)
        let file = directory.url.appendingPathComponent("check.cfg")
        try (GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil) + "\n" + text).write(to: file, atomically: true, encoding: .utf8)
        let started = ContinuousClock.now
        let (_, output) = try await HAProxyControl.runCollectingOutput(HAProxyControl.defaultExecutable, arguments: ["-c", "-f", file.path])
        #expect(output.totalBytes > 1 << 20, "only \(output.totalBytes) bytes of output: the test does not test the limit")
        #expect(try await HAProxyControl.check(file) == nil)
        // A refused file: its alert comes back, within a bounded message.
        try (GatewayAgentConfiguration.defaultBaseConfiguration(logPort: nil) + "\n" + text + "frontend broken\n  bind 127.0.0.1:notaport\n")
            .write(to: file, atomically: true, encoding: .utf8)
        let alerts = try #require(try await HAProxyControl.check(file))
        #expect(alerts.contains("notaport") && alerts.utf8.count < 100_000, "\(alerts.utf8.count) bytes")
        print("haproxy -c of 3,000 routes (\(text.utf8.count) bytes of text, \(output.totalBytes) bytes of output), three runs: \(ContinuousClock.now - started)")

        // The agent applies it, then a new agent starts a new master on it (`haproxy -c` and `haproxy -W -D` both print
        // the warnings): both gateways serve.
        let store = InMemoryKeyValueStore()
        let configure: (inout GatewayAgentConfiguration) -> Void = { $0.reloadTimeout = .seconds(30) }
        let first = try RunningAgent(store: store, key: "/k", directory: directory, configure: configure)
        let both = text + (try first.generator.render([Self.gateway("small", port: smallPort, small)]))
        try await store.set("/k", string: both)
        try await GatewayAgentTests.waitUntilServed(by: "small", port: smallPort, timeout: .seconds(60))
        try await GatewayAgentTests.waitUntilServed(by: "many", port: port, timeout: .seconds(10))
        await first.stop(keepingDirectory: true)
        // The stopped master's worker closes its listeners as it exits, which a busy machine may take a moment for.
        try await waitUntil(timeout: .seconds(10), "the first agent's HAProxy to stop listening") { !FreePort.isAccepting(smallPort) }
        let second = try RunningAgent(store: store, key: "/k", directory: directory, configure: configure)
        try await GatewayAgentTests.waitUntilServed(by: "small", port: smallPort, timeout: .seconds(60))
        try await waitUntil(timeout: .seconds(30), "the text to be applied") { second.agent.metrics.snapshot.appliedConfiguration == both }
        #expect(second.agent.metrics.snapshot.haproxyStartError == nil && second.agent.metrics.snapshot.lastError == nil)
        await second.stop()
    }

    @Test("a gateway of 10,000 routes never blocks the others: served, or (when the master cannot take it, e.g. its file descriptors) left out and reported")
    func tenThousandRoutes() async throws {
        let (service, small, later) = try (TestHTTPService(name: "many"), TestHTTPService(name: "small"), TestHTTPService(name: "later"))
        let (port, smallPort, laterPort) = try (FreePort.next(), FreePort.next(), FreePort.next())
        let store = InMemoryKeyValueStore()
        let agent = try RunningAgent(store: store, key: "/k", configure: { $0.reloadTimeout = .seconds(30) })
        let many = try Self.manyRoutes(10_000, port: port, service: service, socketDirectory: agent.directory.url.appendingPathComponent("run").path)
        let text = many + (try agent.generator.render([Self.gateway("small", port: smallPort, small)]))
        try await store.set("/k", string: text)
        try await GatewayAgentTests.waitUntilServed(by: "small", port: smallPort, timeout: .seconds(60))
        try await waitUntil(timeout: .seconds(10), "the apply to end") { agent.agent.metrics.snapshot.appliedConfiguration == text }
        let snapshot = agent.agent.metrics.snapshot
        if FreePort.isAccepting(port) {
            #expect(snapshot.leftOutGateways.isEmpty, "\(snapshot.leftOutGateways)")
        } else {
            #expect(snapshot.leftOutGateways["many"]?.contains("ulimit -n") == true, "\(snapshot.leftOutGateways)")
        }
        // Later changes go through.
        try await store.set("/k", string: many + (try agent.generator.render([
            Self.gateway("later", port: laterPort, later), Self.gateway("small", port: smallPort, small),
        ])))
        let failedReloads = agent.agent.metrics.snapshot.failedReloads
        try await GatewayAgentTests.waitUntilServed(by: "later", port: laterPort, timeout: .seconds(60))
        #expect(try HTTPProbe.get(port: smallPort).header("X-Served-By") == "small")
        // A part left out is left out at once the next time: no second refused reload.
        #expect(agent.agent.metrics.snapshot.failedReloads == failedReloads)
        // What cutting and probing add to an apply of this text (debug build): cut, compose, read the binds of both files.
        let clock = ContinuousClock.now
        let sections = GatewaySections(text)
        let candidate = sections.candidate(prefix: try agent.agent.composedPrefix())
        _ = TCPAddress.binds(in: candidate.text).count + TCPAddress.binds(in: candidate.text).count
        print("10,000 routes: cut, composed and bind lines read twice in \(ContinuousClock.now - clock) (\(candidate.text.utf8.count) bytes)")
        print("10,000 routes: \(FreePort.isAccepting(port) ? "served" : "left out: \(agent.agent.metrics.snapshot.leftOutGateways["many"] ?? "")")")
        await agent.stop()
    }
}
