import Foundation
@testable import GatewayAgent
import HAProxyConfigGen
import KVStores
import Synchronization
import Testing
import VampModel
import VampPulse
import VampTesting

/// Pulse in the agent with a real HAProxy on the generated configuration and real traffic: the lines it counts against
/// the requests sent and HAProxy's own counters, bad datagrams, and the push to a server that was away.
@Suite("Pulse in the agent with real HAProxy", .serialized)
struct PulseTests {
    typealias RunningAgent = GatewayAgentTests.RunningAgent

    static func routeFrontend(_ gateway: Gateway, _ route: String) -> String {
        Names.lookupName(kind: "route", name: "\(gateway.name)//\(route)")
    }

    @Test("requests through HAProxy, across a reload: Pulse's count per gateway and route equals the requests sent, and HAProxy's counters once quiet")
    func countsEqualRequestsAndHAProxy() async throws {
        let store = InMemoryKeyValueStore()
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let (port, other, statusPort) = try (FreePort.next(), FreePort.next(), FreePort.next())
        let directory = try TemporaryDirectory(prefix: "vp")
        let collector = BucketCollector()
        // The default transport, a UDP port (a unix socket's queue of 10 drops lines under load: not what this counts).
        let logPort = try #require(UDPPort.bind(0), "no free UDP port on 127.0.0.1")
        let agent = try RunningAgent(store: store, key: "/k", logPort: logPort, statusPort: statusPort, directory: directory) {
            $0.pulse = .init(sink: collector.sink)
        }
        let gateway = GatewayAgentTests.gateway(port: port, [(a, 80), (b, 20)])
        let (frontend, routeA, routeB) = (gateway.lookupName, Self.routeFrontend(gateway, "a"), Self.routeFrontend(gateway, "b"))
        let text = try agent.generator.render([gateway])
        try await store.set("/k", string: text)
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)

        // Quiet: every request so far (the probes) counted by both.
        func agree(_ frontends: [String]) -> Bool {
            frontends.allSatisfy { collector.requests($0) == collector.haproxy($0) }
        }
        try await waitUntil(timeout: .seconds(10), "Pulse and HAProxy to agree on the probes") {
            collector.requests(frontend) > 0 && agree([frontend, routeA, routeB])
        }
        let before = [frontend, routeA, routeB].map { collector.requests($0) }

        // 200 requests, with a reload (another gateway added) half-way: the new worker's counters start at 0.
        var served: [String: UInt64] = [:]
        for index in 0..<200 {
            if index == 100 {
                let reloads = agent.agent.metrics.snapshot.reloads
                var second = GatewayAgentTests.gateway(port: other, [(b, 100)])
                second.name = "other"
                try await store.set("/k", string: try agent.generator.render([gateway, second]))
                try await waitUntil(timeout: .seconds(10), "the reload") { agent.agent.metrics.snapshot.reloads > reloads }
            }
            let response = try HTTPProbe.get(port: port, path: "/pulse/\(index)")
            #expect(response.status == 200)
            served[response.header("X-Served-By") ?? "?", default: 0] += 1
        }
        func counts() -> String {
            [frontend, routeA, routeB].map { "\($0.prefix(8)): \(collector.requests($0)) lines, \(collector.haproxy($0)) by HAProxy" }.joined(separator: "; ")
                + "; before \(before), served \(served)"
        }
        try await waitUntil(timeout: .seconds(10), "Pulse to count the 200 requests: \(counts())") {
            collector.requests(frontend) == before[0] + 200 && agree([frontend, routeA, routeB])
        }
        #expect(collector.requests(frontend) - before[0] == 200)
        #expect(collector.requests(routeA) - before[1] == served["a", default: 0])
        #expect(collector.requests(routeB) - before[2] == served["b", default: 0])
        for route in [routeA, routeB] {
            #expect(collector.haproxy(route) == collector.requests(route), "HAProxy's count of \(route)")
        }
        // The route's lines name its backend and the instance's server as the generated text does.
        for key in collector.keys(routeA) {
            #expect(key.backend == routeA && text.contains("server \(key.server) 127.0.0.1:\(a.port)"), "\(key)")
        }
        #expect(collector.unparsed == 0)

        // The agent's own accounting, in /metrics and /health.
        let snapshot = agent.agent.metrics.snapshot
        #expect(snapshot.haproxyRequests == snapshot.pulseCountedRequests && snapshot.haproxyRequests > 400, "\(snapshot)")
        #expect(snapshot.pulseBucketsSent == snapshot.pulseBuckets && snapshot.pulseBuckets > 0)
        let metrics = try HTTPProbe.get(port: statusPort, path: "/metrics").body
        #expect(metrics.contains("vamp_gateway_agent_pulse_uncounted_requests 0.0"), "\(metrics)")
        #expect(metrics.contains("vamp_gateway_agent_log_lines_parsed_total \(snapshot.pulseLines)"))
        let health = try HTTPProbe.get(port: statusPort, path: "/health")
        let pulse = try #require(try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])["pulse"] as? [String: Any]
        #expect(pulse?["uncounted"] as? Int == 0 && pulse?["agent"] as? String == snapshot.pulseAgent, "\(health.body)")
        await agent.stop()
    }

    @Test("garbage, huge, cut and non-log datagrams on the log socket are counted and ignored; the lines after them count")
    func badDatagrams() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let directory = try TemporaryDirectory(prefix: "vp")
        let socket = directory.url.appendingPathComponent("log.sock").path
        let collector = BucketCollector()
        let agent = try RunningAgent(store: store, key: "/k", logSocket: socket, directory: directory) { $0.pulse = .init(sink: collector.sink) }
        let gateway = GatewayAgentTests.gateway(port: port, [(service, 100)])
        try await store.set("/k", string: try agent.generator.render([gateway]))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)

        let header = "<134>Dec  6 11:30:00 haproxy[42]: "
        let good = #"{"ci":"127.0.0.1","cp":1,"t":"x","ft":"unknown-frontend","b":"b","s":"s","Tq":0,"Tw":0,"Tc":0,"Tr":5,"Tt":6,"ST":200,"B":10}"#
        let bad: [[UInt8]] = [
            Array("garbage".utf8),
            Array("<14>x: Proxy a4b started, without HAProxy's header".utf8),
            Array((header + #"{"ft":"a","b":"#).utf8),                                    // cut: no closing brace
            Array((header + #"{"ft":"a","Tt":"not a number","b":"x","s":"y"}"#).utf8),    // not Vamp's fields
            [0xFF, 0xFE, 0x00, 0x7B, 0xC3, 0x28, 0x7D],                                    // not UTF-8
            Array((header + "{\"ft\":\"a\",\"hr\":\"" + String(repeating: "h", count: 60_000) + "\"}").utf8),  // huge, no Tt
            Array((header + "{\"ft\":\"a\",\"b\":\"b\",\"s\":\"s\",\"Tt\":1,\"hr\":\"" + String(repeating: "x", count: 100_000) + "\"}").utf8),
        ]
        let cut = 2  // the cut one and the 100 KB one, which the 64 KiB receive buffer cuts
        let unparsedBefore = agent.agent.metrics.snapshot.pulseUnparsed
        let truncatedBefore = agent.agent.metrics.snapshot.logLinesTruncated
        let noticesBefore = agent.agent.metrics.snapshot.logNotices
        for datagram in bad { try sendDatagram(datagram, to: socket) }
        // HAProxy's own message: a notice, not a lost line.
        try sendDatagram(Array((header + "Proxy a4b stopped (cumulated conns: FE: 0, BE: 0).").utf8), to: socket)
        try sendDatagram(Array((header + good + "\n").utf8), to: socket)
        _ = try HTTPProbe.get(port: port, path: "/after-the-garbage")

        try await waitUntil(timeout: .seconds(10), "the bad datagrams to be counted: \(agent.agent.metrics.snapshot.pulseUnparsed - unparsedBefore) in the metrics, \(collector.unparsed) in the buckets, \(collector.requests("unknown-frontend")) line of the unknown frontend") {
            agent.agent.metrics.snapshot.pulseUnparsed - unparsedBefore == bad.count && collector.unparsed == UInt64(bad.count)
                && collector.requests("unknown-frontend") == 1
        }
        #expect(agent.agent.metrics.snapshot.logLinesTruncated - truncatedBefore == cut)
        #expect(agent.agent.metrics.snapshot.logNotices - noticesBefore >= 1)
        try await waitUntil(timeout: .seconds(10), "the request after them to be counted") {
            collector.requests(gateway.lookupName) > 0 && collector.requests(gateway.lookupName) == collector.haproxy(gateway.lookupName)
        }
        #expect(try HTTPProbe.get(port: port).status == 200)
        #expect(agent.agent.metrics.snapshot.failedServices.isEmpty)
        await agent.stop()
    }

    @Test("push: vamp-server away at first, then back: every second reaches it once, with the token; the backlog empties")
    func pushAfterOutage() async throws {
        let store = InMemoryKeyValueStore()
        let service = try TestHTTPService(name: "a")
        let (port, serverPort) = try (FreePort.next(), FreePort.next())
        let directory = try TemporaryDirectory(prefix: "vp")
        let socket = directory.url.appendingPathComponent("log.sock").path
        let tokenFile = directory.url.appendingPathComponent("agent-token")
        try "agent-secret\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let agent = try RunningAgent(store: store, key: "/k", logSocket: socket, directory: directory) {
            $0.pulse = .init(name: "edge", server: .init(url: "http://127.0.0.1:\(serverPort)/", tokenFile: tokenFile.path, timeout: .seconds(2)))
        }
        let gateway = GatewayAgentTests.gateway(port: port, [(service, 100)])
        try await store.set("/k", string: try agent.generator.render([gateway]))
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)

        // Traffic while nothing listens: buckets of at least 3 seconds wait, the sends fail.
        try await waitUntil(timeout: .seconds(20), "3 seconds of buckets to wait") {
            _ = try HTTPProbe.get(port: port, path: "/while-away")
            let snapshot = agent.agent.metrics.snapshot
            return snapshot.pulseBacklog >= 3 && snapshot.pulseSendFailures >= 2
        }
        let away = agent.agent.metrics.snapshot
        let awaySecond = Int64(Date().timeIntervalSince1970)
        #expect(away.pulseSendError?.contains("127.0.0.1:\(serverPort)") == true, "\(away.pulseSendError ?? "")")

        let receiver = try await PulseReceiver(port: serverPort)
        for _ in 0..<20 { _ = try HTTPProbe.get(port: port, path: "/after") }
        try await waitUntil(timeout: .seconds(15), "the backlog to reach the receiver and traffic to be quiet") {
            let snapshot = agent.agent.metrics.snapshot
            let frontend = gateway.lookupName
            return snapshot.pulseBacklog == 0 && snapshot.pulseBucketsSent == snapshot.pulseBuckets
                && receiver.collector.requests(frontend) > 0 && receiver.collector.requests(frontend) == receiver.collector.haproxy(frontend)
        }
        let seconds = receiver.seconds
        #expect(seconds.count == 1)
        let name = try #require(seconds.keys.first)
        #expect(name.hasPrefix("edge:\(directory.url.path)#"), "\(name)")
        let received = seconds[name] ?? []
        #expect(Set(received).count == received.count, "a second arrived twice: \(received.sorted())")
        #expect(received.count == agent.agent.metrics.snapshot.pulseBuckets)
        // The seconds of the outage arrived too.
        #expect((received.min() ?? .max) < awaySecond - 1, "\(received.sorted()) from \(awaySecond)")
        #expect(receiver.log.posts.withLock { $0.allSatisfy { $0.authorization == "Bearer agent-secret" } })
        #expect(agent.agent.metrics.snapshot.pulseBucketsDropped == 0)
        #expect(receiver.collector.requests(gateway.lookupName) >= 23)
        await agent.stop()
        await receiver.stop()
    }
}
