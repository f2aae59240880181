import Foundation
@testable import GatewayAgent
import HAProxyConfigGen
import HAProxyControl
import KVStores
import Synchronization
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Issue 24 with a real HAProxy and real traffic: a route's targets (a service scaled out and in, a container
/// replaced) change through the runtime API without a reload, no request fails meanwhile, and HAProxy serves exactly
/// the new targets afterwards; what the runtime API takes only in part ends in a reload, never in a half state.
@Suite("Gateway agent: route targets without a reload (real HAProxy)", .serialized)
struct RuntimeTargetsTests {
    typealias RunningAgent = GatewayAgentTests.RunningAgent

    static let routePath = "shop/web/web:1/web"
    static let backend = Names.lookupName(kind: "route", name: "shop//\(routePath)")

    /// The gateway `shop` on `port` with one route whose targets are `targets` (instance name, service).
    static func gateway(port: Int, _ targets: [(String, TestHTTPService)]) -> Gateway {
        Gateway(name: "shop", port: GatewayPort(number: port), routes: [
            Route(path: routePath, weight: Percentage(100), targets: targets.map { .instance(name: $0.0, host: "127.0.0.1", port: $0.1.port) }),
        ])
    }

    /// `server name address:port` of each target, as the generator names them.
    static func expected(_ targets: [(String, TestHTTPService)]) -> Set<String> {
        Set(targets.map { "\(Names.lookupName(kind: "target", name: "\($0.0)@127.0.0.1:\($0.1.port)")) 127.0.0.1:\($0.1.port)" })
    }

    /// The servers of the route's backend in the running worker (`show servers state`), as `name address:port`; a
    /// server that is not ready (in maintenance) is recorded as an issue.
    static func served(_ agent: RunningAgent) async throws -> Set<String> {
        let socket = agent.directory.url.appendingPathComponent("master.sock").path
        let worker = try #require(await HAProxyControl.currentWorker(masterSocket: socket))
        let answer = try await MasterCLI.send("@!\(worker) show servers state \(backend)", to: socket)
        var servers = Set<String>()
        for line in answer.split(separator: "\n") where !line.hasPrefix("#") {
            let columns = line.split(separator: " ")
            guard columns.count > 18 else { continue }
            // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state … srv_port (the 19th)
            if columns[6] != "0" { Issue.record("server \(columns[3]) is not ready: admin state \(columns[6])") }
            servers.insert("\(columns[3]) \(columns[4]):\(columns[18])")
        }
        return servers
    }

    /// The services that answer 40 requests in a row.
    static func answering(port: Int) throws -> Set<String> {
        Set(try (0..<40).map { _ in try HTTPProbe.get(port: port).header("X-Served-By") ?? "?" })
    }

    @Test("a route scaled out, in and its containers replaced, 12 changes under load: no failed request, no reload, HAProxy serves exactly the new targets")
    func scaleAndReplaceUnderLoad() async throws {
        let services = try (1...5).map { try TestHTTPService(name: "s\($0)") }
        let (s1, s2, s3, s4, s5) = (services[0], services[1], services[2], services[3], services[4])
        let port = try FreePort.next()
        let store = InMemoryKeyValueStore()
        let agent = try RunningAgent(store: store, key: "/k")
        // Instance names as a driver gives them; `web-1` moves from s1 to s4 (its container replaced, on another port).
        let steps: [[(String, TestHTTPService)]] = [
            [("web-1", s1), ("web-2", s2)],
            [("web-1", s1), ("web-2", s2), ("web-3", s3)],
            [("web-1", s4), ("web-2", s2), ("web-3", s3)],
            [("web-2", s2), ("web-3", s3)],
            [("web-3", s3)],
            [("web-3", s3), ("web-4", s4), ("web-5", s5)],
            [("web-5", s5), ("web-6", s1), ("web-7", s2), ("web-8", s3)],
            [("web-8", s3)],
            [("web-8", s3), ("web-9", s4)],
            [("web-1", s1), ("web-2", s2)],
            [("web-1", s1), ("web-2", s2), ("web-3", s3), ("web-4", s4), ("web-5", s5)],
            [("web-2", s2), ("web-4", s4)],
            [("web-1", s5)],
        ]
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, steps[0])]))
        try await waitUntil(timeout: .seconds(10), "the gateway to serve") { (try? Self.answering(port: port)) == ["s1", "s2"] }
        #expect(agent.agent.metrics.snapshot.reloads == 1)

        let load = LoadThreads(port: port)
        for (index, targets) in steps.enumerated().dropFirst() {
            try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, targets)]))
            try await waitUntil(timeout: .seconds(5), "change \(index) to be applied through the runtime API") {
                agent.agent.metrics.snapshot.serverUpdates == index
            }
            #expect(try await Self.served(agent) == Self.expected(targets), "change \(index)")
            #expect(try Self.answering(port: port) == Set(targets.map(\.1.name)), "change \(index)")
        }
        try await Task.sleep(for: .milliseconds(200))
        let result = await load.stop()
        #expect(result.failed.isEmpty, "\(result.failed.count) failed requests: \(result.failed.prefix(5))")
        #expect(result.ok > 200, "\(result.ok)")
        let metrics = agent.agent.metrics.snapshot
        #expect(metrics.reloads == 1 && metrics.runtimeFallbacks == 0 && metrics.serverUpdates == steps.count - 1, "\(metrics)")
        // The file on disk is the new text, so a reload or a restart runs the same.
        let file = try String(contentsOf: agent.directory.url.appendingPathComponent("haproxy.cfg"), encoding: .utf8)
        #expect(file.hasSuffix(try agent.generator.render([Self.gateway(port: port, steps[steps.count - 1])])))
        await agent.stop()
    }

    @Test("targets that keep their connections open: the idle connections of a removed server do not hold up its deletion (8 rolling replacements under load, no reload)")
    func keepAliveTargets() async throws {
        // Four targets answered by a second HAProxy, which keeps HAProxy's connections to it open (a pool of idle
        // connections per server, as with most real services; TestHTTPService closes every connection).
        let ports = try (0..<4).map { _ in try FreePort.next() }
        var text = "global\n  maxconn 200\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
        for (index, port) in ports.enumerated() {
            text += "frontend t\(index)\n  bind 127.0.0.1:\(port)\n  http-request return status 200 content-type text/plain string t\(index) hdr X-Served-By t\(index)\n"
        }
        let targets = try await HAProxyServer(configuration: text, directory: try HAProxyServer.makeDirectory())
        try await targets.waitUntilListening(ports)
        func gateway(_ indexes: [Int], port: Int) -> Gateway {
            Gateway(name: "shop", port: GatewayPort(number: port), routes: [
                Route(path: Self.routePath, weight: Percentage(100), targets: indexes.map { .instance(name: "t\($0)", host: "127.0.0.1", port: ports[$0]) }),
            ])
        }
        let port = try FreePort.next()
        let store = InMemoryKeyValueStore()
        let agent = try RunningAgent(store: store, key: "/k")
        try await store.set("/k", string: try agent.generator.render([gateway([0, 1], port: port)]))
        try await waitUntil(timeout: .seconds(10), "the gateway to serve") { (try? Self.answering(port: port)) == ["t0", "t1"] }
        // Eight clients at once: requests overlap, so HAProxy keeps several connections per target.
        let load = LoadThreads(port: port, clients: 8)
        for change in 1...8 {
            try await Task.sleep(for: .milliseconds(300))
            let indexes = [change % 4, (change + 1) % 4]
            try await store.set("/k", string: try agent.generator.render([gateway(indexes, port: port)]))
            try await waitUntil(timeout: .seconds(5), "change \(change) to be applied") {
                let metrics = agent.agent.metrics.snapshot
                return metrics.serverUpdates + metrics.runtimeFallbacks == change
            }
            #expect(try Self.answering(port: port) == Set(indexes.map { "t\($0)" }))
            #expect(try await Self.served(agent) == Set(indexes.map { "\(Names.lookupName(kind: "target", name: "t\($0)@127.0.0.1:\(ports[$0])")) 127.0.0.1:\(ports[$0])" }))
        }
        let result = await load.stop()
        #expect(result.failed.isEmpty, "\(result.failed.count) failed requests: \(result.failed.prefix(5))")
        let metrics = agent.agent.metrics.snapshot
        #expect(metrics.serverUpdates == 8 && metrics.runtimeFallbacks == 0 && metrics.reloads == 1, "\(metrics)")
        await agent.stop()
        targets.stop()
        targets.directory.remove()
    }

    @Test("a change the runtime API takes only in part (a step refused after others were taken) ends in a reload onto the new file: exactly the new targets, no failed request")
    func partlyAppliedEndsInReload() async throws {
        let (s1, s2, s3, s4) = try (TestHTTPService(name: "s1"), TestHTTPService(name: "s2"), TestHTTPService(name: "s3"), TestHTTPService(name: "s4"))
        let port = try FreePort.next()
        let store = InMemoryKeyValueStore()
        let agent = try RunningAgent(store: store, key: "/k")
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [("a", s1), ("b", s2)])]))
        try await waitUntil(timeout: .seconds(10), "the gateway to serve") { (try? Self.answering(port: port)) == ["s1", "s2"] }
        // Someone added a server by hand (in maintenance: it takes no traffic) with the name the next change adds
        // second: the first added server is taken, then `add server` is refused.
        let socket = agent.directory.url.appendingPathComponent("master.sock").path
        let worker = try #require(await HAProxyControl.currentWorker(masterSocket: socket))
        let name = Names.lookupName(kind: "target", name: "c@127.0.0.1:\(s3.port)")
        #expect(try await MasterCLI.send("@!\(worker) add server \(Self.backend)/\(name) 127.0.0.1:\(s3.port)", to: socket).contains("New server registered"))

        let load = LoadThreads(port: port)
        let targets = [("b", s2), ("d", s4), ("c", s3)]
        try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, targets)]))
        try await waitUntil(timeout: .seconds(10), "the change to be reloaded") { agent.agent.metrics.snapshot.reloads == 2 }
        #expect(try await Self.served(agent) == Self.expected(targets))
        #expect(try Self.answering(port: port) == ["s2", "s3", "s4"])
        let result = await load.stop()
        #expect(result.failed.isEmpty, "\(result.failed.count) failed requests: \(result.failed.prefix(5))")
        let metrics = agent.agent.metrics.snapshot
        #expect(metrics.runtimeFallbacks == 1 && metrics.serverUpdates == 0 && metrics.lastError == nil, "\(metrics)")
        await agent.stop()
    }

    @Test("a removed server finishes its request in flight before it is deleted; past the drain timeout the change is a reload, and the request still succeeds")
    func drainsRequestsInFlight() async throws {
        for drainTimeout in [Duration.seconds(5), .milliseconds(300)] {
            let held = try HeldHTTPService()
            let s1 = try TestHTTPService(name: "s1")
            let port = try FreePort.next()
            let store = InMemoryKeyValueStore()
            let agent = try RunningAgent(store: store, key: "/k") { $0.serverDrainTimeout = drainTimeout }
            try await store.set("/k", string: try agent.generator.render([Gateway(name: "shop", port: GatewayPort(number: port), routes: [
                Route(path: Self.routePath, weight: Percentage(100), targets: [.instance(name: "held", host: "127.0.0.1", port: held.port)]),
            ])]))
            try await waitUntil(timeout: .seconds(10), "the first reload") { agent.agent.metrics.snapshot.reloads == 1 }
            // On a thread of its own: a blocking call on the cooperative pool would hold up the agent.
            let slow = Mutex<Int?>(nil)
            Thread.detachNewThread { slow.withLock { $0 = (try? HTTPProbe.get(port: port, timeoutSeconds: 10))?.status ?? -1 } }
            try await waitUntil(timeout: .seconds(5), "the request to reach the held service") { held.waiting > 0 }

            try await store.set("/k", string: try agent.generator.render([Self.gateway(port: port, [("s1", s1)])]))
            // New requests go to the new target at once, while the old one still holds its request.
            try await waitUntil(timeout: .seconds(5), "s1 to serve") { (try? HTTPProbe.get(port: port, timeoutSeconds: 2))?.header("X-Served-By") == "s1" }
            try await Task.sleep(for: .milliseconds(600))
            held.release()
            try await waitUntil(timeout: .seconds(5), "the held request to be answered") { slow.withLock { $0 } != nil }
            #expect(slow.withLock { $0 } == 200)
            if drainTimeout > .seconds(1) {
                try await waitUntil(timeout: .seconds(5), "the change to complete at runtime") { agent.agent.metrics.snapshot.serverUpdates == 1 }
                #expect(agent.agent.metrics.snapshot.reloads == 1)
            } else {
                try await waitUntil(timeout: .seconds(5), "the change to be reloaded") { agent.agent.metrics.snapshot.reloads == 2 }
                #expect(agent.agent.metrics.snapshot.runtimeFallbacks == 1)
            }
            #expect(try await Self.served(agent) == Self.expected([("s1", s1)]))
            await agent.stop()
            held.stop()
        }
    }
}
