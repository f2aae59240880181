import Foundation
import Logging
import Persistence
import Testing
import VampAccess

@Suite("VampAccess: secrets, the policy, the registry")
struct AccessPolicyTests {
    static func token(_ role: Role, namespaces: [String]? = nil) -> AccessToken {
        AccessToken(name: "t", role: role, namespaces: namespaces, created: Date(timeIntervalSince1970: 0), createdBy: "test", id: nil, salt: "00", hash: "00")
    }

    @Test("a made secret matches its hash and nothing else; the hash is salted (two hashes of one secret differ)")
    func secrets() throws {
        let (secret, id) = TokenSecret.make()
        #expect(TokenSecret.id(of: secret) == id)
        let first = TokenSecret.hash(secret), second = TokenSecret.hash(secret)
        #expect(first.hash != second.hash && first.salt != second.salt)
        #expect(TokenSecret.matches(secret, salt: first.salt, hash: first.hash))
        #expect(TokenSecret.matches(secret, salt: second.salt, hash: second.hash))
        #expect(!TokenSecret.matches(secret + "x", salt: first.salt, hash: first.hash))
        #expect(!TokenSecret.matches(secret, salt: second.salt, hash: first.hash))
        #expect(!TokenSecret.matches(secret, salt: "zz", hash: first.hash), "a corrupt salt matches nothing")
        #expect(TokenSecret.id(of: "vamp_short_x") == nil && TokenSecret.id(of: "not-a-vamp-token") == nil)
    }

    @Test("the role each request needs", arguments: [
        ("GET", "/api/v1/breeds", Role.read), ("HEAD", "/api/v1/info", .read), ("GET", "/shop/api/v1/events/stream", .read),
        ("POST", "/api/v1/breeds", .write), ("PUT", "/api/v1/deployments/a", .write), ("DELETE", "/shop/api/v1/gateways/g", .write),
        ("GET", "/api/v1/tokens", .admin), ("DELETE", "/shop/api/v1/tokens/ci", .admin), ("GET", "/metrics", .read),
    ])
    func needed(method: String, path: String, role: Role) {
        #expect(AccessPolicy.needed(method: method, target: .init(path: path)) == role)
    }

    @Test("preflights need nothing; Authorization schemes")
    func credentials() {
        #expect(AccessPolicy.needed(method: "OPTIONS", target: .init(path: "/api/v1/breeds")) == nil)
        #expect(AccessPolicy.Credential(authorization: "Bearer abc") == .secret("abc"))
        #expect(AccessPolicy.Credential(authorization: "bearer  abc ") == .secret("abc"))
        #expect(AccessPolicy.Credential(authorization: "token abc") == .secret("abc"))
        #expect(AccessPolicy.Credential(authorization: "Basic abc") == .malformed)
        #expect(AccessPolicy.Credential(authorization: "Bearer") == .malformed)
        #expect(AccessPolicy.Credential(authorization: nil) == .none)
    }

    @Test("decisions: 401 without a known token, 403 for a low role or another namespace, the default namespace by either name")
    func decisions() {
        let target = AccessPolicy.Target(path: "/api/v1/breeds")
        func decide(_ method: String, _ target: AccessPolicy.Target, _ token: AccessToken?, credential: AccessPolicy.Credential = .secret("s")) -> AccessPolicy.Decision {
            AccessPolicy.decide(method: method, target: target, credential: credential, token: token, defaultNamespace: "vamp")
        }
        guard case .unauthenticated = decide("GET", target, nil, credential: .none) else { Issue.record("no credential"); return }
        guard case .unauthenticated = decide("GET", target, nil) else { Issue.record("unknown token"); return }
        guard case .forbidden(let low) = decide("POST", target, Self.token(.read)) else { Issue.record("read posts"); return }
        #expect(low == "the token 't' has the role read; POST /api/v1/breeds needs the role write")
        #expect(decide("POST", target, Self.token(.write)) == .allowed(Self.token(.write)))
        let limited = Self.token(.admin, namespaces: ["vamp"])
        #expect(decide("GET", .init(path: "/default/api/v1/breeds"), limited) == .allowed(limited))
        guard case .forbidden = decide("GET", .init(path: "/shop/api/v1/breeds"), limited) else { Issue.record("other namespace"); return }
    }

    @Test("two registries on one store (two servers on one database): a token created on one works on the other; revoked, it stops")
    func sharedStore() async throws {
        let store = InMemoryArtifactStore()
        let first = TokenRegistry(store: store, configured: [], pollInterval: .milliseconds(20), logger: Logger(label: "a"))
        let second = TokenRegistry(store: store, configured: [], pollInterval: .milliseconds(20), logger: Logger(label: "b"))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await first.run() }
            group.addTask { try await second.run() }
            await first.ready()
            await second.ready()
            let (token, secret) = try await first.create(name: "ci", role: .write, namespaces: nil, expires: nil, by: "admin", at: Date())
            #expect(first.authenticate(secret, at: Date()) == token)
            try await waitFor { second.authenticate(secret, at: Date()) != nil }
            try await first.revoke(name: "ci")
            #expect(first.authenticate(secret, at: Date()) == nil, "revoked on this server at once")
            try await waitFor { second.authenticate(secret, at: Date()) == nil }
            #expect(second.authenticate(secret, at: token.created.addingTimeInterval(1)) == nil)
            group.cancelAll()
        }
    }

    @Test("an expired token does not authenticate")
    func expiry() async throws {
        let store = InMemoryArtifactStore()
        let registry = TokenRegistry(store: store, configured: [], logger: Logger(label: "a"))
        try await registry.reload()
        let now = Date()
        let (_, secret) = try await registry.create(name: "short", role: .read, namespaces: nil, expires: now.addingTimeInterval(60), by: "admin", at: now)
        #expect(registry.authenticate(secret, at: now.addingTimeInterval(59)) != nil)
        #expect(registry.authenticate(secret, at: now.addingTimeInterval(60)) == nil)
    }

    func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("not within 5 s"); return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
