import Foundation
@testable import GatewayAgent
import KVStores
import Synchronization
import Testing
import VampPulse
import VampTesting

/// The agent's Pulse parts that decide, with plain values: HAProxy's answers read, counters followed across reloads,
/// the backlog bounded, the accounting, the syslog header, where HAProxy logs to.
@Suite("Pulse in the agent: pure parts")
struct PulseAgentPartsTests {
    static let showProc = """
        #<PID>          <type>          <reloads>       <uptime>        <version>
        25564           master          1 [failed: 0]   0d00h00m03s     2.6.12-1+deb12u4
        # workers
        25631           worker          0               0d00h00m01s     2.6.12-1+deb12u4
        # old workers
        25565           worker          1               1d02h03m04s     2.6.12-1+deb12u4
        # programs

        """

    @Test("show proc: current and old workers with their uptime; the master and programs are not workers")
    func showProcWorkers() {
        #expect(HAProxyCounters.workers(inShowProc: Self.showProc) == [
            .init(pid: 25631, uptime: 1), .init(pid: 25565, uptime: 86_400 + 2 * 3_600 + 3 * 60 + 4),
        ])
        #expect(HAProxyCounters.workers(inShowProc: "garbage\n# workers\nnot a pid worker\n").isEmpty)
        for bad in ["", "5", "1x", "d5s", "9999999999s"] { #expect(HAProxyCounters.uptime(bad) == nil, "\(bad)") }
        #expect(HAProxyCounters.uptime("0d00h00m05s") == 5)
    }

    @Test("show stat: req_tot of HTTP frontends, stot of TCP ones; backends, servers and rows that do not read are left out")
    func showStatTotals() {
        let text = """
            # pxname,svname,qcur,qmax,scur,smax,slim,stot,req_tot,mode
            fe1,FRONTEND,,,0,1,100,6,9,http
            fe2,FRONTEND,,,0,1,100,3,0,tcp
            be,BACKEND,,,0,1,100,3,,tcp
            be,s1,,,0,1,100,3,,tcp
            broken,FRONTEND
            fe3,FRONTEND,,,0,1,100,x,y,http

            """
        #expect(HAProxyCounters.frontendTotals(inShowStat: text) == ["fe1": 9, "fe2": 3])
        #expect(HAProxyCounters.frontendTotals(inShowStat: "fe1,FRONTEND,1,2\n").isEmpty)
        #expect(HAProxyCounters.frontendTotals(inShowStat: "Unknown command\n").isEmpty)
        #expect(HAProxyCounters.droppedLogs(inShowInfo: "Name: HAProxy\nPid: 4\nDroppedLogs: 17\nBusyPolling: 0\n") == 17)
        #expect(HAProxyCounters.droppedLogs(inShowInfo: "Unknown command\n") == nil)
        #expect(HAProxyCounters.proxies(definedIn: "global\n  log x\nlisten stats\n  bind :1\nfrontend  mine \nbackend b\n") == ["stats", "mine"])
    }

    @Test("counter growth: a worker of this run counts from 0, one that served before the agent from its first read; a reload's new worker from 0 while the old one finishes; a cleared counter from 0")
    func counterGrowthAcrossReloads() {
        var tracker = HAProxyCounterTracker()
        // The agent has run 2 s; worker 10 for 100 s (taken over), worker 11 for 1 s (started by this run).
        #expect(tracker.observe(workers: [.init(pid: 10, uptime: 100)], totals: [10: ["g": 500]], agentUptime: 2).isEmpty)
        #expect(tracker.observe(workers: [.init(pid: 10, uptime: 101)], totals: [10: ["g": 507]], agentUptime: 3) == ["g": 7])
        // A reload: 11 is new (counts from 0), 10 finishes its connections.
        let reload = tracker.observe(
            workers: [.init(pid: 11, uptime: 0), .init(pid: 10, uptime: 102)], totals: [11: ["g": 3, "r": 2], 10: ["g": 509]], agentUptime: 4)
        #expect(reload == ["g": 5, "r": 2])
        // 10 does not answer: nothing of it now, its totals kept; then it answers again.
        #expect(tracker.observe(workers: [.init(pid: 11, uptime: 1), .init(pid: 10, uptime: 103)], totals: [11: ["g": 4, "r": 2]], agentUptime: 5) == ["g": 1])
        #expect(tracker.observe(workers: [.init(pid: 11, uptime: 2), .init(pid: 10, uptime: 104)], totals: [11: ["g": 4, "r": 2], 10: ["g": 510]], agentUptime: 6) == ["g": 1])
        // 10 exited: forgotten. 11's counters cleared: counted from 0.
        #expect(tracker.observe(workers: [.init(pid: 11, uptime: 3)], totals: [11: ["g": 1, "r": 2]], agentUptime: 7) == ["g": 1])
        #expect(tracker.lastTotals.keys.sorted() == [11])
        // A worker whose uptime does not read counts from 0 (it is taken for this run's).
        var fresh = HAProxyCounterTracker()
        #expect(fresh.observe(workers: [.init(pid: 12, uptime: nil)], totals: [12: ["g": 4]], agentUptime: 0) == ["g": 4])
    }

    static func bucket(_ second: Int64, requests: UInt64 = 1, frontend: String = "g") -> PulseBucket {
        var figures = PulseFigures()
        for _ in 0..<requests { figures.record(LogRecord(key: PulseKey(frontend: frontend, backend: "b", server: "s"), totalTime: 1, status: 200)) }
        return PulseBucket(agent: "a", second: second, entries: [.init(key: PulseKey(frontend: frontend, backend: "b", server: "s"), figures: figures)])
    }

    @Test("the backlog keeps 60 s of buckets at most, drops the oldest and counts them; sent buckets leave it")
    func outboxBounded() {
        var outbox = PulseOutbox(span: 60)
        outbox.add((1000..<1030).map { Self.bucket($0) }, now: 1030)
        #expect(outbox.buckets.count == 30 && outbox.dropped == 0)
        outbox.add((1030..<1080).map { Self.bucket($0) }, now: 1080)
        // Seconds before 1080 - 60 = 1020 are dropped.
        #expect(outbox.buckets.first?.second == 1020 && outbox.buckets.count == 60 && outbox.dropped == 20)
        #expect(outbox.batch(limit: 5).map(\.second) == [1020, 1021, 1022, 1023, 1024])
        outbox.remove(seconds: [1020, 1021, 999])
        #expect(outbox.buckets.first?.second == 1022 && outbox.buckets.count == 58)
        // Out of order (a clock that went back) is put in order; more than 60 buckets at once keeps the newest 60.
        var late = PulseOutbox(span: 60)
        late.add([Self.bucket(1005), Self.bucket(1003)], now: 1006)
        #expect(late.buckets.map(\.second) == [1003, 1005])
        var flood = PulseOutbox(span: 60)
        flood.add((0..<100).map { Self.bucket(2000 + $0) }, now: 2000)
        #expect(flood.buckets.count == 60 && flood.dropped == 40 && flood.buckets.first?.second == 2040)
    }

    @Test("the accounting: HAProxy's count beside the lines on the frontends it lists; a removed frontend retires once both agree")
    func accounting() {
        var accounting = PulseAccounting()
        accounting.read(listed: ["g", "r"], growth: ["g": 3, "r": 1])
        accounting.count([Self.bucket(1, requests: 2, frontend: "g"), Self.bucket(1, requests: 1, frontend: "r"), Self.bucket(1, requests: 5, frontend: "other")])
        #expect(accounting.totals.haproxy == 4 && accounting.totals.counted == 3)
        #expect(accounting.differences() == ["g": 1])
        // The line arrives; "r" is removed from the configuration: retired (counts agree), totals kept.
        accounting.count([Self.bucket(2, requests: 1, frontend: "g")])
        accounting.read(listed: ["g"], growth: [:])
        #expect(accounting.totals.haproxy == 4 && accounting.totals.counted == 4 && accounting.differences().isEmpty)
        #expect(accounting.haproxy.keys.sorted() == ["g"])
        // A frontend removed with a line missing is kept (the difference shows) until retireAfter reads.
        accounting.read(listed: ["g", "x"], growth: ["x": 2])
        accounting.count([Self.bucket(3, requests: 1, frontend: "x")])
        for _ in 0..<PulseAccounting.retireAfter { accounting.read(listed: ["g"], growth: [:]) }
        #expect(accounting.differences() == ["x": 1])
        accounting.read(listed: ["g"], growth: [:])
        #expect(accounting.differences().isEmpty && accounting.totals.haproxy == 6 && accounting.totals.counted == 5)
    }

    @Test("the syslog header comes off at the bytes: HAProxy's header, none, no JSON, trailing newlines and NULs")
    func syslogHeader() {
        func message(_ text: String) -> String {
            var bytes = Array(text.utf8)
            return bytes.withUnsafeMutableBytes { raw in
                switch LogSinks.message(ofSyslog: UnsafeRawBufferPointer(raw)) {
                case .json(let range): String(decoding: raw[range], as: UTF8.self)
                case .notice: "notice"
                case .none: "none"
                }
            }
        }
        #expect(message("<134>Dec  6 11:30:00 haproxy[42]: {\"ft\":\"a\"}\n\0") == "{\"ft\":\"a\"}")
        #expect(message("{\"ft\":\"a\"}\r\n") == "{\"ft\":\"a\"}")
        #expect(message("<133>Dec  6 11:30:00 haproxy[42]: Proxy a4b stopped (cumulated conns: FE: 0, BE: 0).") == "notice")
        #expect(message("no json at all") == "none")
        #expect(message("") == "none")
        #expect(message("]: ") == "none")
        #expect(message("<134>x[1]: {\"cut") == "{\"cut")
    }

    @Test("where HAProxy logs to: a socket or port given wins (port 0: none); by default a UDP port of the agent's own, the same at the next start")
    func logReceiver() throws {
        let folder = try TemporaryDirectory(prefix: "log-receiver")
        let work = folder.url.appendingPathComponent("work")
        let given = GatewayAgentConfiguration.logReceiver(socket: "/s", port: 1, needed: true, workDirectory: work, fallbackPort: 2)
        #expect(given.socket == "/s" && given.port == nil && given.note == nil)
        let port = GatewayAgentConfiguration.logReceiver(socket: nil, port: 9, needed: false, workDirectory: work, fallbackPort: 2)
        #expect(port.socket == nil && port.port == 9 && port.note == nil)
        let portZero = GatewayAgentConfiguration.logReceiver(socket: nil, port: 0, needed: true, workDirectory: work, fallbackPort: 2)
        #expect(portZero.socket == nil && portZero.port == nil && portZero.note == nil)
        let unneeded = GatewayAgentConfiguration.logReceiver(socket: nil, port: nil, needed: false, workDirectory: work, fallbackPort: 2)
        #expect(unneeded.socket == nil && unneeded.port == nil && unneeded.note == nil)
        // Not a unix datagram socket by default (Linux queues 10 datagrams on one): a UDP port, kept for the next start.
        let byDefault = GatewayAgentConfiguration.logReceiver(socket: nil, port: nil, needed: true, workDirectory: work)
        let chosen = try #require(byDefault.port)
        #expect(byDefault.socket == nil && byDefault.note == nil)
        #expect(try String(contentsOf: work.appendingPathComponent("log-port"), encoding: .utf8) == "\(chosen)\n")
        #expect(GatewayAgentConfiguration.logReceiver(socket: nil, port: nil, needed: true, workDirectory: work).port == chosen)
        #expect(GatewayAgentConfiguration.defaultLogSocket(workDirectory: URL(fileURLWithPath: "/tmp/" + String(repeating: "d", count: 100))) == nil)
    }

    @Test("lines gather on UDP: 10 ms after a trickle, shorter as the rate grows so a quarter of the buffer is never exceeded; never on a unix socket or after a full read")
    func gatheringPause() {
        let pause = DatagramReceiver.gatheringPause
        #expect(pause(nil, 1, .seconds(1), false) == .zero)
        #expect(pause(2048, 500, .milliseconds(1), true) == .zero)
        #expect(pause(2048, 1, .seconds(1), false) == .milliseconds(10))
        #expect(pause(2048, 1, .zero, false) == .milliseconds(10))
        // 20,000 lines/s into room for 200: a quarter (50 lines) comes in 2.5 ms.
        #expect(pause(200, 20, .milliseconds(1), false) == .microseconds(2500))
        // 100,000 lines/s into 2,048: 5.12 ms.
        #expect(pause(2048, 100, .milliseconds(1), false) == .microseconds(5120))
    }

    @Test("the UDP receiver takes every line of a steady stream, in far fewer wake-ups than lines")
    func udpReceiverGathers() async throws {
        guard let port = UDPPort.bind(0) else { Issue.record("no free UDP port on 127.0.0.1"); return }
        let receiver = try DatagramReceiver(udpPort: port)
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var lines = 0
            var batches = 0
        }
        let tally = Tally()
        let running = Task { await receiver.run { datagrams in
            let count = datagrams.reduce(0) { count, _ in count + 1 }
            tally.lock.withLock { tally.lines += count; tally.batches += 1 }
        } }
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let line = Array("<134>Dec  6 14:00:00 haproxy[1]: {\"ft\":\"a\",\"b\":\"b\",\"s\":\"c\",\"ST\":200}".utf8)
        // 2,000 lines at about 10,000 a second, one at a time as HAProxy sends them.
        for index in 0..<2000 {
            let sent = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(sender, line, line.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            #expect(sent == line.count)
            if index % 10 == 9 { try await Task.sleep(for: .milliseconds(1)) }
        }
        for _ in 0..<200 where tally.lock.withLock({ tally.lines }) < 2000 {
            try await Task.sleep(for: .milliseconds(10))
        }
        running.cancel()
        await running.value
        let (lines, batches) = tally.lock.withLock { (tally.lines, tally.batches) }
        #expect(lines == 2000)
        #expect(batches < 2000 / 4, "a wake-up per \(Double(lines) / Double(max(batches, 1))) lines")
    }

    @Test("the agent's name in its buckets: configured or the host's, the work directory and the start in ms")
    func agentName() {
        #expect(GatewayAgent.pulseAgentName(configured: "edge-1", workDirectory: "/var/lib/vga", startedAt: 1_800_000_000.1234) == "edge-1:/var/lib/vga#1800000000123")
        #expect(!GatewayAgent.pulseAgentName(configured: nil, workDirectory: "/w", startedAt: 1).hasPrefix(":"))
    }
}

/// Pulse's once-a-second loop on a test clock: which seconds it closes and hands over, with no HAProxy.
@Suite("Pulse in the agent: the loop on a test clock", .serialized)
struct PulseLoopTests {
    /// A ``PulseClock`` on VampTesting's `TestClock`, which moves only when the test advances it.
    struct TestPulseClock: PulseClock {
        let clock: TestClock
        var now: Double { clock.now.timeIntervalSince1970 }
        func sleep(until deadline: Double) async throws {
            try await clock.sleep(for: .nanoseconds(Int64(((deadline - now) * 1e9).rounded(.up))))
        }
    }

    static func datagram(_ frontend: String) -> [UInt8] {
        Array(#"<134>Dec  6 11:30:00 haproxy[1]: {"ft":"\#(frontend)","b":"b","s":"s","Tr":3,"Tt":4,"ST":200,"B":10}"#.utf8)
    }

    @Test("each second's start closes the seconds before it and hands them to the sink in order; the open second waits; a stop hands over the rest")
    func closesPastSeconds() async throws {
        let clock = TestClock(start: Date(timeIntervalSince1970: 1_800_000_000.5))
        let collector = BucketCollector()
        var configuration = GatewayAgentConfiguration(key: "/k", workDirectory: URL(fileURLWithPath: "/tmp/unused"), logSocket: "/tmp/unused.sock")
        configuration.pulse = .init(sink: collector.sink, readsHAProxyCounters: false)
        configuration.pulse.clock = TestPulseClock(clock: clock)
        let agent = GatewayAgent(configuration: configuration, store: InMemoryKeyValueStore())
        let recorder = PulseRecorder(agent: "test", clock: configuration.pulse.clock)
        let ticker = PulseTicker(
            agent: agent, recorder: recorder, counters: PulseCounterReader(agent: agent, recorder: recorder, startedAt: 1_800_000_000.5), backlog: nil)
        let sinks = LogSinks(forwarding: nil, metrics: agent.metrics, pulse: recorder)
        let task = Task { try await ticker.run() }
        #expect(await clock.waitForSleepers(1))

        // Two lines in second …000, one garbage; then the clock reaches …001: that second is handed over.
        for datagram in [Self.datagram("g"), Self.datagram("g"), Array("garbage".utf8)] { datagram.withUnsafeBytes { sinks.accept($0) } }
        await clock.advance(by: .milliseconds(500))
        try await waitUntil(timeout: .seconds(5), "the first second to be handed over") { collector.buckets.withLock { $0.count } == 1 }
        #expect(collector.buckets.withLock { $0.map(\.second) } == [1_800_000_000])
        #expect(collector.requests("g") == 2 && collector.unparsed == 1)
        #expect(collector.buckets.withLock { $0[0].haproxyCounts } == nil, "no counters were read")

        // A line in …001 waits while …001 is open; three seconds later it has come, alone, and no empty second came.
        Self.datagram("h").withUnsafeBytes { sinks.accept($0) }
        #expect(await clock.waitForSleepers(1))
        await clock.advance(by: .milliseconds(300))
        #expect(collector.buckets.withLock { $0.count } == 1)
        await clock.advance(by: .seconds(3))
        try await waitUntil(timeout: .seconds(5), "the second second") { collector.buckets.withLock { $0.count } == 2 }
        #expect(collector.buckets.withLock { $0.map(\.second) } == [1_800_000_000, 1_800_000_001])
        #expect(agent.metrics.snapshot.pulseBuckets == 2 && agent.metrics.snapshot.pulseBucketsSent == 2)
        #expect(agent.metrics.snapshot.pulseLines == 4 && agent.metrics.snapshot.pulseUnparsed == 1)

        // Stopped with a line in the open second: handed over at the stop.
        Self.datagram("i").withUnsafeBytes { sinks.accept($0) }
        task.cancel()
        _ = await task.result
        #expect(collector.requests("i") == 1)
        #expect(Set(collector.buckets.withLock { $0.map(\.second) }).count == 3, "a second was handed over twice")
    }
}
