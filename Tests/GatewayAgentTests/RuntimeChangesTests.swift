import Foundation
@testable import GatewayAgent
import HAProxyConfigGen
import Testing
import VampModel

/// The runtime API plan of a change of route targets, as pure values: what HAProxy 2.6 takes without a reload, in
/// an order that keeps a server serving, and nil (a reload) for everything else.
@Suite("Runtime changes: route targets without a reload (pure)")
struct RuntimeChangesTests {
    typealias Step = RuntimeChanges.Step

    static let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: "run"))

    /// A gateway with one route whose targets are `targets` (name, port on 127.0.0.1).
    static func text(_ targets: [(String, Int)], sticky: Gateway.Sticky? = nil, balance: String? = nil, type: BreedPort.PortType = .http) throws -> String {
        try generator.render([Gateway(name: "shop", port: GatewayPort(number: 18080, type: type), sticky: sticky, routes: [
            Route(path: "shop/web/web:1/web", weight: Percentage(100), balance: balance,
                  targets: targets.map { .instance(name: $0.0, host: "127.0.0.1", port: $0.1) }),
        ])])
    }

    static let route = Names.lookupName(kind: "route", name: "shop//shop/web/web:1/web")
    static func server(_ name: String, _ port: Int, host: String = "127.0.0.1") -> String {
        Names.lookupName(kind: "target", name: "\(name)@\(host):\(port)")
    }

    @Test("scale out and in, a container replaced: added servers first (enabled, health checked), removed ones last (maintenance, then deleted); the inert cookie left out")
    func scaleAndReplace() throws {
        let old = try Self.text([("a", 31001), ("b", 31002)])
        let new = try Self.text([("b", 31002), ("c", 31003), ("d", 31004)])
        let (r, a, c, d) = (Self.route, Self.server("a", 31001), Self.server("c", 31003), Self.server("d", 31004))
        let plan = try #require(RuntimeChanges.plan(from: old, to: new))
        #expect(plan.steps == [
            .add("add server \(r)/\(c) 127.0.0.1:31003 weight 100 check"), .plain("enable health \(r)/\(c)"), .plain("enable server \(r)/\(c)"),
            .add("add server \(r)/\(d) 127.0.0.1:31004 weight 100 check"), .plain("enable health \(r)/\(d)"), .plain("enable server \(r)/\(d)"),
            .plain("set server \(r)/\(a) state maint"), .delete("del server \(r)/\(a)"),
        ])
        // The state machine takes this path, not a reload.
        #expect(AgentStateMachine.plan(running: old, candidate: new) == .runtime(plan))
        // An instance moved to another port is a new server name (the name holds the address): added, the old deleted.
        let moved = try #require(RuntimeChanges.plan(from: old, to: try Self.text([("a", 31009), ("b", 31002)])))
        #expect(moved.commands.first == "add server \(r)/\(Self.server("a", 31009)) 127.0.0.1:31009 weight 100 check")
        #expect(moved.commands.last == "del server \(r)/\(a)")
        // Down to no target, and up from none.
        #expect(RuntimeChanges.plan(from: old, to: try Self.text([]))?.commands.count == 4)
        #expect(RuntimeChanges.plan(from: try Self.text([]), to: old)?.commands.count == 6)
    }

    @Test("a TCP route (leastconn) takes servers at runtime too")
    func tcp() throws {
        let plan = try #require(RuntimeChanges.plan(from: try Self.text([("a", 31001)], type: .tcp), to: try Self.text([("a", 31001), ("b", 31002)], type: .tcp)))
        #expect(plan.commands.first == "add server \(Self.route)/\(Self.server("b", 31002)) 127.0.0.1:31002 weight 100 check")
    }

    @Test("what HAProxy 2.6 does not take at runtime is a reload: cookie persistence, a static balance, a host name, other lines")
    func reloads() throws {
        let old = try Self.text([("a", 31001)])
        // Sticky instances: `add server` refuses `cookie`; a removal needs none.
        #expect(RuntimeChanges.plan(from: try Self.text([("a", 31001)], sticky: .instance), to: try Self.text([("a", 31001), ("b", 31002)], sticky: .instance)) == nil)
        #expect(RuntimeChanges.plan(from: try Self.text([("a", 31001), ("b", 31002)], sticky: .instance), to: try Self.text([("a", 31001)], sticky: .instance)) != nil)
        // `balance source` (map-based hash): no server added at runtime; one removed is.
        #expect(RuntimeChanges.plan(from: try Self.text([("a", 31001)], balance: "source"), to: try Self.text([("a", 31001), ("b", 31002)], balance: "source")) == nil)
        #expect(RuntimeChanges.plan(from: try Self.text([("a", 31001), ("b", 31002)], balance: "source"), to: try Self.text([("a", 31001)], balance: "source")) != nil)
        // A host name is resolved by a reload, never by a dynamic server.
        let named = try Self.generator.render([Gateway(name: "shop", port: GatewayPort(number: 18080), routes: [
            Route(path: "shop/web/web:1/web", weight: Percentage(100), targets: [
                .instance(name: "a", host: "127.0.0.1", port: 31001), .instance(name: "b", host: "db.example.test", port: 31002),
            ]),
        ])])
        #expect(RuntimeChanges.plan(from: old, to: named) == nil)
        // Anything besides servers.
        #expect(RuntimeChanges.plan(from: old, to: try Self.text([("a", 31001), ("b", 31002)], balance: "leastconn")) == nil)
        #expect(RuntimeChanges.plan(from: old, to: old + "\nbackend extra\n  server x 127.0.0.1:1\n") == nil)
        #expect(RuntimeChanges.plan(from: old, to: old) == nil)
    }

    @Test("hand-written text: a server of the same name moved is `set server … addr … port`; keywords, default-server, duplicates, other sections")
    func handWritten() {
        let base = "global\n  maxconn 10\ndefaults\n  mode http\n  default-server init-addr last,libc,none\n"
        let old = base + "backend b\n  balance roundrobin\n  server s 10.0.0.1:80 weight 10 check\n  server t 10.0.0.2:80 weight 10\n"
        let moved = old.replacingOccurrences(of: "10.0.0.1:80 weight 10", with: "10.0.0.9:8080 weight 20")
        #expect(RuntimeChanges.plan(from: old, to: moved)?.steps == [.address("set server b/s addr 10.0.0.9 port 8080"), .plain("set server b/s weight 20")])
        let v6 = old.replacingOccurrences(of: "10.0.0.1:80", with: "[fd00::1]:80")
        #expect(RuntimeChanges.plan(from: old, to: v6)?.steps == [.address("set server b/s addr fd00::1 port 80")])
        // A changed keyword other than the weight, or a name for an address: a reload.
        #expect(RuntimeChanges.plan(from: old, to: old.replacingOccurrences(of: "weight 10 check", with: "weight 10 check inter 1s")) == nil)
        #expect(RuntimeChanges.plan(from: old, to: old.replacingOccurrences(of: "10.0.0.1:80", with: "web:80")) == nil)
        // Keywords the runtime API takes; others (and a `default-server` beyond init-addr) are a reload.
        let added = old + "  server u 10.0.0.3:80 weight 5 maxconn 100 send-proxy-v2 inter 2s\n"
        #expect(RuntimeChanges.plan(from: old, to: added)?.commands == ["add server b/u 10.0.0.3:80 weight 5 maxconn 100 send-proxy-v2 inter 2s", "enable server b/u"])
        #expect(RuntimeChanges.plan(from: old, to: old + "  server u 10.0.0.3:80 track b/s\n") == nil)
        let inherited = old.replacingOccurrences(of: "init-addr last,libc,none", with: "inter 1s")
        #expect(RuntimeChanges.plan(from: inherited, to: inherited + "  server u 10.0.0.3:80\n") == nil)
        // Two servers of one name, a server line in a peers section, a server without an address.
        #expect(RuntimeChanges.plan(from: old, to: old + "  server t 10.0.0.4:80\n") == nil)
        let peers = base + "peers p\n  server p1 10.0.0.1:1024\n"
        #expect(RuntimeChanges.plan(from: peers, to: peers.replacingOccurrences(of: "10.0.0.1", with: "10.0.0.2")) == nil)
        #expect(RuntimeChanges.plan(from: old, to: old + "  server v\n") == nil)
        // A cookie on a server is left out when nothing persists on cookies, refused (a reload) when the backend does.
        #expect(RuntimeChanges.plan(from: old, to: old + "  server u 10.0.0.3:80 cookie u1\n")?.commands.first == "add server b/u 10.0.0.3:80")
        let persistent = old.replacingOccurrences(of: "balance roundrobin", with: "balance roundrobin\n  cookie SRV insert")
        #expect(RuntimeChanges.plan(from: persistent, to: persistent + "  server u 10.0.0.3:80 cookie u1\n") == nil)
        let inDefaults = old.replacingOccurrences(of: "mode http\n", with: "mode http\n  cookie SRV insert\n")
        #expect(RuntimeChanges.plan(from: inDefaults, to: inDefaults + "  server u 10.0.0.3:80 cookie u1\n") == nil)
    }

    @Test("the answers of HAProxy 2.6 to each step")
    func answers() {
        #expect(HAProxyMaster.outcome(of: .plain("enable server b/s"), answer: "\n") == .taken)
        #expect(HAProxyMaster.outcome(of: .plain("enable server b/s"), answer: "No such server.\n\n") == .refused)
        #expect(HAProxyMaster.outcome(of: .add("add server b/s 1.2.3.4:80"), answer: "New server registered.\n\n") == .taken)
        #expect(HAProxyMaster.outcome(of: .add("add server b/s 1.2.3.4:80"), answer: "Already exists a server with the same name in backend.\n") == .refused)
        #expect(HAProxyMaster.outcome(
            of: .address("set server b/s addr 1.2.3.4 port 81"),
            answer: "IP changed from '1.2.3.5' to '1.2.3.4', port changed from '80' to '81' by 'stats socket command'\n\n") == .taken)
        #expect(HAProxyMaster.outcome(
            of: .address("set server b/s addr 1.2.3.4 port 81"),
            answer: "no need to change the addr, port changed from '28081' to '28084' by 'stats socket command'\n\n") == .taken)
        #expect(HAProxyMaster.outcome(of: .address("set server b/s addr x port 81"), answer: "Invalid addr\n") == .refused)
        #expect(HAProxyMaster.outcome(of: .delete("del server b/s"), answer: "Server deleted.\n") == .taken)
        #expect(HAProxyMaster.outcome(of: .delete("del server b/s"), answer: "Server still has connections attached to it, cannot remove it.\n") == .busy)
        #expect(HAProxyMaster.outcome(of: .delete("del server b/s"), answer: "Only servers in maintenance mode can be deleted.\n") == .refused)
    }
}
