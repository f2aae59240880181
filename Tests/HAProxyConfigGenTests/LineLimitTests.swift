import HAProxyConfigGen
import Testing
import VampModel
import VampTesting

/// HAProxy 2.6 reads at most 64 words on a configuration line ("too many words"): one such line in the shared
/// configuration used to make `haproxy -c` refuse every gateway. The generator refuses a condition, a raw ACL or a
/// rewrite condition that would need more, naming the gateway and the route; at the limit, HAProxy accepts the text.
@Suite("Generator: lines HAProxy can read")
struct LineLimitTests {
    let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: "/tmp/vamp-lines", virtualHostsPort: 18002))

    func gateway(condition: String? = nil, rewrite: Rewrite? = nil, target: RouteTarget = .instance(name: "t", host: "127.0.0.1", port: 8080)) -> Gateway {
        Gateway(name: "g", port: GatewayPort(number: 19997), routes: [
            Fixtures.route("r", weight: 100, condition: condition, targets: [target], rewrites: rewrite.map { [$0] } ?? []),
        ])
    }

    func expectAccepted(_ gateway: Gateway, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let text = try Fixtures.base() + generator.render([gateway])
        let check = try await HAProxyServer.check(text)
        #expect(check.valid, "\(check.output)", sourceLocation: sourceLocation)
    }

    func expectRefused(_ gateway: Gateway, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try generator.render([gateway])
        } throws: { error in
            guard let error = error as? HAProxyConfigError else { return false }
            return error.gateway == "g" && error.route == "r" && error.message.contains(fragment)
        }
    }

    @Test("a condition of 31 alternatives fits on its use_backend line (64 words); 32 are refused")
    func conditionAlternatives() async throws {
        func alternatives(_ count: Int) -> String { (0..<count).map { "has header X-\($0)" }.joined(separator: " or ") }
        try await expectAccepted(gateway(condition: alternatives(31)))
        expectRefused(gateway(condition: alternatives(32)), "more than HAProxy takes on one line")
    }

    @Test("a raw ACL or a rewrite condition of 58 words passes haproxy -c; 59 are refused")
    func aclWords() async throws {
        func acl(_ words: Int) -> String { "path_beg " + (1..<words).map { "/p\($0)" }.joined(separator: " ") }
        try await expectAccepted(gateway(condition: "< \(acl(58)) >"))
        try await expectAccepted(gateway(rewrite: Rewrite(path: "/new", condition: acl(58))))
        expectRefused(gateway(condition: "< \(acl(59)) >"), "59 words; at most 58")
        expectRefused(gateway(rewrite: Rewrite(path: "/new", condition: acl(59))), "59 words; at most 58")
    }

    @Test("an external target's port is plain digits: +80 and 080 are refused")
    func externalTargetPorts() async throws {
        try await expectAccepted(gateway(target: .url("127.0.0.1:80")))
        for bad in ["127.0.0.1:+80", "127.0.0.1:080", "127.0.0.1:0", "127.0.0.1:65536"] {
            expectRefused(gateway(target: .url(bad)), "must be host:port")
        }
    }
}
