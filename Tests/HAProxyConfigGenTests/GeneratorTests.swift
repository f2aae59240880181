import Foundation
import Testing
@testable import HAProxyConfigGen
import VampDSL
import VampModel
import VampTesting

@Suite("Weights and conditions (pure)")
struct WeightAndConditionTests {
    @Test("unweighted routes share the remainder; the last takes the rest")
    func weights() throws {
        #expect(try HAProxyConfigurationGenerator.resolveWeights([nil]) == [100])
        #expect(try HAProxyConfigurationGenerator.resolveWeights([nil, nil]) == [50, 50])
        #expect(try HAProxyConfigurationGenerator.resolveWeights([nil, nil, nil]) == [33, 33, 34])
        #expect(try HAProxyConfigurationGenerator.resolveWeights([100, nil]) == [100, 0])
        #expect(try HAProxyConfigurationGenerator.resolveWeights([90, 10]) == [90, 10])
        #expect(try HAProxyConfigurationGenerator.resolveWeights([0, 0]) == [0, 0])
        #expect(throws: HAProxyConfigurationGenerator.WeightError.self) { try HAProxyConfigurationGenerator.resolveWeights([60, 30]) }
        #expect(throws: HAProxyConfigurationGenerator.WeightError.self) { try HAProxyConfigurationGenerator.resolveWeights([80, 30, nil]) }
    }

    func acl(_ text: String) throws -> ACLCondition { try ConditionTranslator.translate(try ConditionParser.parse(text)) }

    @Test("operands become HAProxy 2.6 fetches (cookie values via req.cook -m sub, not req.cook_sub)")
    func operands() throws {
        #expect(try acl("cookie group has beta").acls.map(\.definition) == ["req.cook(group) -m sub -- 'beta'"])
        #expect(try acl("has cookie group").acls.map(\.definition) == ["req.cook(group) -m found"])
        #expect(try acl("has header X-Beta").acls.map(\.definition) == ["req.hdr_cnt(X-Beta) gt 0"])
        #expect(try acl("header X-Version has 2").acls.map(\.definition) == ["req.fhdr(X-Version) -m sub -- '2'"])
        #expect(try acl("host == shop.test").acls.map(\.definition) == ["req.hdr(host),field(1,:) -m str -i -- 'shop.test'"])
        #expect(try acl("< src 10.0.0.0/8 >").acls.map(\.definition) == ["src 10.0.0.0/8"])
        #expect(try acl("user-agent == firefox").acls.map(\.definition) == ["req.fhdr(User-Agent) -m sub -- 'Firefox'"])
        #expect(try acl("user-agent == IE").acls.map(\.definition) == ["req.fhdr(User-Agent) -m sub -- 'MSIE'"])
    }

    @Test("and, or and not flatten to HAProxy's OR of ANDs")
    func flattening() throws {
        let safari = try acl("user-agent == Safari")
        #expect(safari.terms.count == 1 && safari.terms[0].count == 2)
        let notSafari = try acl("not user-agent == Safari")
        #expect(notSafari.terms.count == 2 && notSafari.terms.allSatisfy { $0.count == 1 && $0[0].negated })
        let combined = try acl("(has cookie a or has cookie b) and not has header X")
        #expect(combined.terms.count == 2)
        #expect(combined.expression.components(separatedBy: " or ").count == 2)
        #expect(combined.expression.contains("!"))
        #expect(try acl("has cookie a and not has cookie a").terms.isEmpty)
        #expect(try acl("true").always)
        #expect(try acl("has cookie a or not has cookie a").terms.count == 2)
        let never = try acl("false")
        #expect(!never.always && never.terms.isEmpty)
    }

    @Test("conditions too large for HAProxy are refused")
    func explosion() throws {
        let clauses = (0..<8).map { "(has cookie a\($0) or has cookie b\($0))" }.joined(separator: " and ")
        #expect(throws: HAProxyConfigError.self) { try acl(clauses) }
    }
}

@Suite("Generated configuration")
struct GeneratedConfigurationTests {
    static let socketDirectory = "/tmp/vamp-sockets"
    let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: socketDirectory, virtualHostsPort: 18000))

    static func examples() -> [String: [Gateway]] {
        let canary = Gateway(name: "shop/9050", port: GatewayPort(number: 19050), sticky: .route, routes: [
            Fixtures.route("shop/web/catalog:2.1/web", weight: 90, targets: [Fixtures.target("shop_web_1", port: 31001), Fixtures.target("shop_web_2", port: 31002)]),
            Fixtures.route("shop/web/catalog:2.2/web", weight: 10, condition: "user-agent == Firefox and has cookie beta", strength: 50,
                           targets: [Fixtures.target("shop_web_3", port: 31003)]),
        ])
        let vhosts = Gateway(name: "entry", port: GatewayPort(number: 19070), sticky: .instance, virtualHosts: ["shop.example.test", "www.shop.example.test"], routes: [
            Fixtures.route("shop/9050", weight: nil, targets: [Fixtures.target("shop/9050", port: 19050)],
                           rewrites: [Rewrite(path: "/v2%[path]", condition: "path_beg /api")], balance: "leastconn"),
            Fixtures.route("[legacy.example.test:8080]", weight: nil, condition: "header X-Legacy has yes or < src 10.0.0.0/8 >", targets: [.url("legacy.example.test:8080")]),
        ])
        let tcp = Gateway(name: "database", port: GatewayPort(number: 15433, type: .tcp), routes: [
            Fixtures.route("shop/db/postgres:15/port", weight: 100, targets: [Fixtures.target("db1", port: 5432, host: "10.0.0.5")]),
        ])
        let empty = Gateway(name: "shop/web/web", port: GatewayPort(number: 40001), routes: [
            Fixtures.route("shop/web/catalog:2.1/web", weight: nil),
        ])
        return ["canary": [canary], "virtual-hosts": [vhosts], "tcp": [tcp], "undeployed-route": [empty], "all": [canary, vhosts, tcp, empty]]
    }

    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Golden files; run with VAMP_RECORD_GOLDEN=1 to re-record after an intended change.
    @Test("golden files", arguments: ["canary", "virtual-hosts", "tcp", "undeployed-route", "all"])
    func golden(name: String) throws {
        let text = try generator.render(Self.examples()[name]!)
        let file = Self.goldenDirectory.appendingPathComponent("\(name).cfg")
        if ProcessInfo.processInfo.environment["VAMP_RECORD_GOLDEN"] == "1" {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(text == expected, "\(name).cfg differs; if the change is intended, re-record with VAMP_RECORD_GOLDEN=1 swift test --filter golden")
    }

    @Test("output is deterministic and independent of gateway order")
    func deterministic() throws {
        let gateways = Self.examples()["all"]!
        let once = try generator.render(gateways)
        #expect(try generator.render(gateways) == once)
        #expect(try generator.render(gateways.reversed()) == once)
    }

    @Test("haproxy -c accepts every generated configuration", arguments: ["canary", "virtual-hosts", "tcp", "undeployed-route", "all"])
    func haproxyAccepts(name: String) async throws {
        let text = try Fixtures.base(statsPort: 18888) + generator.render(Self.examples()[name]!)
        let result = try await HAProxyServer.check(text)
        #expect(result.valid, "\(result.output)\n\(text)")
    }

    @Test("the base section has no nbproc and passes haproxy -c alone")
    func base() async throws {
        let text = try HAProxyBaseConfiguration(logTarget: "/tmp/vamp/log.sock", statsSocket: "/tmp/vamp/haproxy.sock").render()
        #expect(!text.contains("nbproc"))
        #expect(try await HAProxyServer.check(text).valid)
        #expect(throws: HAProxyConfigError.self) { try HAProxyBaseConfiguration(logTarget: "127.0.0.1:514\n  daemon").render() }
        // hard-stop-after is a setting: 30 s by default, another value, or none (long streams survive reloads).
        #expect(text.contains("  hard-stop-after 30s\n"))
        #expect(try HAProxyBaseConfiguration(hardStopAfterSeconds: 3600).render().contains("  hard-stop-after 3600s\n"))
        let unlimited = try HAProxyBaseConfiguration(hardStopAfterSeconds: nil).render()
        #expect(!unlimited.contains("hard-stop-after"))
        #expect(try await HAProxyServer.check(unlimited).valid)
    }

    @Test("conflicting ports, unresolved references and bad weights are errors naming the gateway")
    func errors() {
        let a = Gateway(name: "a", port: GatewayPort(number: 9000), routes: [Fixtures.route("x", weight: 100)])
        let b = Gateway(name: "b", port: GatewayPort(number: 9000), routes: [Fixtures.route("y", weight: 100)])
        #expect { try generator.render([a, b]) } throws: { ($0 as? HAProxyConfigError)?.description.contains("port 9000 is also used by gateway 'a'") == true }
        var reference = a
        reference.routes[0].condition = .reference("beta-users")
        #expect { try generator.render([reference]) } throws: { ($0 as? HAProxyConfigError)?.code == .unresolvedReference }
        let weights = Gateway(name: "w", port: GatewayPort(number: 9001), routes: [Fixtures.route("x", weight: 60), Fixtures.route("y", weight: 30)])
        #expect { try generator.render([weights]) } throws: { ($0 as? HAProxyConfigError)?.description.contains("total 90%") == true }
        let unassigned = Gateway(name: "u", port: GatewayPort(number: 0), routes: [])
        #expect { try generator.render([unassigned]) } throws: { ($0 as? HAProxyConfigError)?.description.contains("not assigned") == true }
    }
}

/// Hostile strings in every place a user string reaches the file: each is rejected with an
/// error or rendered harmlessly (one line, one argument) and HAProxy accepts the result.
@Suite("Injection safety")
struct InjectionTests {
    static let hostile = [
        "x\nuse_backend evil", "x\r\nbind :1", "a#comment", "it's", "say \"hi\"", "a b", "{ braces }", "back\\slash",
        "$HOME", "${PATH}", String(repeating: "v", count: 5000), "ünïcödé", "tab\there", "\u{2028}sep", "-m found", "%[src]",
    ]

    let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: "/tmp/vamp-inj", virtualHostsPort: 18001))

    func gateway(name: String = "g", route: String = "r", condition: String? = nil, host: String = "127.0.0.1", vhost: String? = nil,
                 rewrite: Rewrite? = nil, balance: String? = nil, target: String = "t") -> Gateway {
        Gateway(name: name, port: GatewayPort(number: 19999), virtualHosts: vhost.map { [$0] } ?? [], routes: [
            Fixtures.route(route, weight: 100, condition: condition, targets: [.instance(name: target, host: host, port: 8080)],
                           rewrites: rewrite.map { [$0] } ?? [], balance: balance),
        ])
    }

    /// What the generator did with a hostile value.
    enum Outcome { case refused, rendered }

    /// Either a refusal with an `unsafe-value` or `condition` error naming what is wrong, or a configuration
    /// whose directives are exactly those of a harmless reference rendering and that haproxy -c accepts.
    /// Returns which, so that each test can also check that the generator does not simply refuse everything.
    @discardableResult
    func expectSafe(_ make: () throws -> String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Outcome {
        let text: String
        do {
            text = try make()
        } catch let error as HAProxyConfigError {
            #expect([.unsafeValue, .condition, .invalidGateway].contains(error.code), "\(error)", sourceLocation: sourceLocation)
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
            return .refused
        }
        let sections: Set<String> = ["frontend", "backend"]
        let directives: Set<String> = ["bind", "mode", "option", "log-format", "acl", "use_backend", "default_backend", "balance", "cookie", "server", "http-request"]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let words = line.split(separator: " ")
            if line.hasPrefix("  ") {
                #expect(directives.contains(String(words[0])), "unexpected directive in: \(line)", sourceLocation: sourceLocation)
            } else {
                #expect(sections.contains(String(words[0])) && words.count == 2, "unexpected section line: \(line)", sourceLocation: sourceLocation)
            }
        }
        let useBackends = text.split(separator: "\n").filter { $0.hasPrefix("  use_backend ") }.count
        #expect(useBackends <= 2, "extra use_backend in:\n\(text)", sourceLocation: sourceLocation)
        let result = try await HAProxyServer.check(try Fixtures.base() + text)
        #expect(result.valid, "\(result.output)\n\(text)", sourceLocation: sourceLocation)
        return .rendered
    }

    /// Values with a control character (or both kinds of quote) cannot be one argument; everything else must be
    /// rendered, not refused, where the value is data (names, condition values).
    static func mustRender(_ value: String) -> Bool {
        value.utf8.count <= 1024 && value.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && $0 != "\u{2028}" && $0 != "\u{2029}" }
            && !(value.contains("'") && value.contains("\""))
    }

    @Test("hostile gateway and route names stay in comments and hashes", arguments: hostile)
    func names(value: String) async throws {
        let outcome = try await expectSafe { try generator.render([gateway(name: value, route: value, target: value)]) }
        // Names are hashed and commented, never refused for their characters.
        if Self.mustRender(value) { #expect(outcome == .rendered, "the name '\(value)' was refused") }
    }

    @Test("hostile condition values are quoted or rejected", arguments: hostile)
    func conditionValues(value: String) async throws {
        let quoted = value.contains("\"") ? "'\(value)'" : "\"\(value)\""
        for condition in ["user-agent == \(quoted)", "header X has \(quoted)", "cookie c has \(quoted)", "host == \(quoted)"] {
            guard (try? ConditionParser.parse(condition)) != nil else {
                // The grammar may refuse only values no quoting can carry; anything else is a grammar bug.
                #expect(!Self.mustRender(value), "the grammar refused '\(condition)'")
                continue
            }
            let outcome = try await expectSafe { try generator.render([gateway(condition: condition)]) }
            if Self.mustRender(value) && !condition.hasPrefix("host") {
                #expect(outcome == .rendered, "the condition value in '\(condition)' was refused")
            }
        }
    }

    @Test("hostile header and cookie names are rejected", arguments: ["X Y", "X#", "X'", "X\"", "X)", "a(b"])
    func fieldNames(value: String) throws {
        let condition = "has header \"\(value)\""
        #expect(throws: HAProxyConfigError.self) { try generator.render([gateway(condition: condition)]) }
    }

    @Test("hostile hosts, virtual hosts, rewrites, balances and raw ACLs are rejected or harmless", arguments: hostile)
    func others(value: String) async throws {
        try await expectSafe { try generator.render([gateway(host: value)]) }
        try await expectSafe { try generator.render([gateway(vhost: value)]) }
        let path = try await expectSafe { try generator.render([gateway(rewrite: Rewrite(path: value, condition: "path_beg /x"))]) }
        if Self.mustRender(value) && !value.contains(" ") && !value.contains("%") { #expect(path == .rendered, "the rewrite path '\(value)' was refused") }
        // Rewrite conditions and raw ACLs are HAProxy text: accepted only when certainly valid, so whatever the
        // generator renders must pass haproxy -c (one line haproxy refuses would block every gateway).
        try await expectSafe { try generator.render([gateway(rewrite: Rewrite(path: "/x", condition: value))]) }
        try await expectSafe { try generator.render([gateway(rewrite: Rewrite(path: "/x", condition: "path_beg \(value)"))]) }
        try await expectSafe { try generator.render([gateway(balance: value)]) }
        if !value.contains(">") {
            try await expectSafe { try generator.render([gateway(condition: "< \(value) >")]) }
            try await expectSafe { try generator.render([gateway(condition: "< hdr(host) -m beg \(value) >")]) }
        }
        try await expectSafe { try generator.render([Gateway(name: "e", port: GatewayPort(number: 19998), routes: [Fixtures.route("[x]", weight: 100, targets: [.url(value)])])]) }
    }

    @Test("valid rewrite conditions and raw ACLs are accepted and pass haproxy -c", arguments: [
        "path_beg /old", "{ path_beg /old }", "hdr(host) -i -m beg shop", "src 10.0.0.0/8", "path_end .json .xml",
        "req.cook(session) -m found", "hdr_cnt(x-canary) gt 0", "url_param(v) 'a b'", "method POST PUT",
    ])
    func validACLText(value: String) async throws {
        #expect(try await expectSafe { try generator.render([gateway(rewrite: Rewrite(path: "/new", condition: value))]) } == .rendered)
        if !value.hasPrefix("{") {
            #expect(try await expectSafe { try generator.render([gateway(condition: "< \(value) >")]) } == .rendered)
        }
    }

    @Test("rewrite conditions HAProxy could refuse are refused with the reason", arguments: [
        ("path_reg ^/x(", "sample fetch"), ("path_beg -f /etc/passwd", "flag"), ("path_beg 'x", "not closed"),
        ("foo bar", "sample fetch"), ("hdr -m beg x", "argument"), ("path -m reg .*", "-m must be"),
        ("path_beg /x } || { src 1.2.3.4", "outside single quotes"), ("path_beg \"x\"", "outside single quotes"),
        ("path_beg $HOME", "outside single quotes"),
    ])
    func refusedACLText(value: String, reason: String) {
        #expect {
            try generator.render([gateway(rewrite: Rewrite(path: "/new", condition: value))])
        } throws: { error in
            guard let error = error as? HAProxyConfigError else { return false }
            return error.code == .unsafeValue && error.message.contains(reason) && error.gateway == "g" && error.route == "r"
        }
    }

    @Test("rewrite paths: %[fetch] of an allowed fetch and %% pass haproxy -c; any other % is refused")
    func rewritePaths() async throws {
        for path in ["/v2%[path]", "%[hdr(x-prefix)]%[path]", "/100%%", "/plain"] {
            #expect(try await expectSafe { try generator.render([gateway(rewrite: Rewrite(path: path, condition: "path_beg /x"))]) } == .rendered, "\(path)")
        }
        // A `%` or `[` followed by a combining mark is one Character, but HAProxy reads bytes: still refused.
        for path in ["/50%", "%[env(HOME)]", "%[path", "%{+Q}r", "%[hdr]", "/50%\u{301}", "%\u{301}[path]", "%[\u{301}path]", "/a \u{301}b"] {
            #expect(throws: HAProxyConfigError.self, "\(path)") { try generator.render([gateway(rewrite: Rewrite(path: path, condition: "path_beg /x"))]) }
        }
    }

    @Test("hostile generator options are rejected")
    func options() {
        for value in ["/tmp/a b", "/tmp/a\nb", "", "-relative", "/tmp/#x", "run/" + String(repeating: "x", count: 45)] {
            let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: value))
            #expect(throws: HAProxyConfigError.self) { try generator.render([gateway()]) }
        }
        #expect(throws: HAProxyConfigError.self) { try HAProxyConfigurationGenerator(options: .init(bindAddress: "0.0.0.0:1 \n")).render([gateway()]) }
    }

    @Test("by default the sockets are relative to the agent's work directory (run/), never the machine-wide /var/run/vamp")
    func defaultSocketsAreRelative() throws {
        #expect(HAProxyConfigurationGenerator.Options.defaultSocketDirectory == "run")
        let text = try HAProxyConfigurationGenerator().render([gateway()])
        #expect(text.contains("unix@run/"), "\(text)")
        #expect(!text.contains("/var/run"), "\(text)")
        let sockets = text.split(separator: "\n").filter { $0.contains("unix@") }
        #expect(!sockets.isEmpty)
        #expect(sockets.allSatisfy { $0.contains("unix@run/") }, "\(sockets)")
    }
}
