import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Persistence
import Testing
import VampAccess
import VampAPI
import VampCore

/// Who may do what, through real HTTP on loopback: tokens and roles, the `command` privilege, the tokens API and the
/// archive naming the token. Each attack of issue 22 that tokens answer is a test here.
@Suite("REST API: tokens, roles and the command privilege")
struct AccessAPITests {
    static let secrets = [
        "agent": "agent-secret-0123456789abcdef012345678", "read": "read-secret-0123456789abcdef0123456789", "write": "write-secret-0123456789abcdef012345",
        "command": "command-secret-0123456789abcdef01234", "admin": "admin-secret-0123456789abcdef0123456",
    ]

    static func configured(_ role: Role, expires: Date? = nil, namespaces: [String]? = nil, name: String? = nil) -> AccessToken {
        let (salt, hash) = TokenSecret.hash(secrets[role.rawValue]!)
        return AccessToken(
            name: name ?? role.rawValue, role: role, namespaces: namespaces, expires: expires, created: Date(), createdBy: "test",
            id: nil, salt: salt, hash: hash)
    }

    static let commandBreed = """
        name: runner:1.0
        deployable: {type: command, definition: "id"}
        ports: {web: 8080/http}
        """
    static let commandBlueprint = """
        name: runner
        clusters:
          runner:
            services:
              - breed: runner:1.0
        """

    func withAPI(
        configured: [AccessToken] = Role.allCases.map { configured($0) },
        _ body: @Sendable (any TestClientProtocol, TokenRegistry) async throws -> Void
    ) async throws {
        let store = InMemoryArtifactStore()
        let registry = TokenRegistry(store: store, configured: configured, logger: Logger(label: "test"))
        let vamp = Vamp(artifacts: store)
        let app = Application(
            router: VampHTTPAPI.router(vamp: vamp, access: .tokens(registry)), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await registry.run() }
            try await app.test(.live) { client in try await body(client, registry) }
            group.cancelAll()
        }
    }

    static func headers(_ role: String?, yaml: Bool = true) -> HTTPFields {
        var fields: HTTPFields = [.accept: "application/json"]
        if yaml { fields[.contentType] = "application/x-yaml" }
        if let role { fields[.authorization] = "Bearer \(secrets[role] ?? role)" }
        return fields
    }

    static func message(_ response: TestResponse) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] else { return "" }
        return object["message"] as? String ?? ""
    }

    @Test("a command breed: 401 without a token, 403 with read and write tokens, stored with command and admin; nothing half-applied")
    func commandBreedNeedsThePrivilege() async throws {
        try await withAPI { client, _ in
            let anonymous = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.headers(nil), body: ByteBuffer(string: Self.commandBreed))
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == #"Bearer realm="vamp""#)
            #expect(Self.message(anonymous).contains("Authorization: Bearer <token>"), "\(Self.message(anonymous))")

            let read = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.headers("read"), body: ByteBuffer(string: Self.commandBreed))
            #expect(read.status == .forbidden)
            #expect(Self.message(read).contains("the token 'read' has the role read"), "\(Self.message(read))")

            let write = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.headers("write"), body: ByteBuffer(string: Self.commandBreed))
            #expect(write.status == .forbidden)
            #expect(Self.message(write).contains("would run the command `id`") && Self.message(write).contains("role command or admin"), "\(Self.message(write))")
            let absent = try await client.execute(uri: "/api/v1/breeds/runner:1.0", method: .get, headers: Self.headers("read", yaml: false))
            #expect(absent.status == .notFound, "a refused write stores nothing")

            // A container breed is anyone's with write.
            let docker = try await client.execute(
                uri: "/api/v1/breeds", method: .post, headers: Self.headers("write"),
                body: ByteBuffer(string: "name: web:1.0\ndeployable: magneticio/sava:1.0.0\nports: {web: 8080/http}\n"))
            #expect(docker.status == .created, "\(Self.message(docker))")

            let command = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.headers("command"), body: ByteBuffer(string: Self.commandBreed))
            #expect(command.status == .created, "\(Self.message(command))")
            // Re-saving the same command is no new command; changing it is.
            let same = try await client.execute(uri: "/api/v1/breeds/runner:1.0", method: .put, headers: Self.headers("write"), body: ByteBuffer(string: Self.commandBreed))
            #expect(same.status == .ok, "\(Self.message(same))")
            let changed = try await client.execute(
                uri: "/api/v1/breeds/runner:1.0", method: .put, headers: Self.headers("write"),
                body: ByteBuffer(string: Self.commandBreed.replacingOccurrences(of: "\"id\"", with: "\"touch /tmp/x\"")))
            #expect(changed.status == .forbidden, "\(Self.message(changed))")
        }
    }

    @Test("deploying a command breed: 403 with a write token although an admin stored the breed; 202 with the command role")
    func deployingCommandsNeedsThePrivilege() async throws {
        try await withAPI { client, _ in
            for document in [Self.commandBreed, Self.commandBlueprint] {
                let kind = document == Self.commandBreed ? "breeds" : "blueprints"
                let stored = try await client.execute(uri: "/api/v1/\(kind)", method: .post, headers: Self.headers("admin"), body: ByteBuffer(string: document))
                #expect(stored.status == .created, "\(Self.message(stored))")
            }
            let write = try await client.execute(uri: "/api/v1/deployments/runner", method: .put, headers: Self.headers("write"), body: ByteBuffer(string: "runner"))
            #expect(write.status == .forbidden)
            #expect(Self.message(write).contains("deployment 'runner' would run the command `id`"), "\(Self.message(write))")
            let none = try await client.execute(uri: "/api/v1/deployments/runner", method: .get, headers: Self.headers("read", yaml: false))
            #expect(none.status == .notFound)

            let command = try await client.execute(uri: "/api/v1/deployments/runner", method: .put, headers: Self.headers("command"), body: ByteBuffer(string: "runner"))
            #expect(command.status == .accepted, "\(Self.message(command))")
            // Scaling what runs already introduces no command.
            let scale = try await client.execute(
                uri: "/api/v1/deployments/runner/clusters/runner/services/runner:1.0/scale", method: .put, headers: Self.headers("write"),
                body: ByteBuffer(string: "instances: 2\ncpu: 0.1\nmemory: 64MB\n"))
            #expect(scale.status == .accepted || scale.status == .ok, "\(Self.message(scale))")
        }
    }

    @Test("roles: read reads, write writes, tokens are admin's; the Node client's `token` scheme; expired and unknown tokens get 401")
    func roles() async throws {
        let expired = Self.configured(.admin, expires: Date().addingTimeInterval(-60), name: "expired")
        var tokens = Role.allCases.map { Self.configured($0) }
        tokens[3] = expired  // the admin secret now belongs to an expired token
        try await withAPI(configured: tokens) { client, _ in
            #expect(try await client.execute(uri: "/api/v1/breeds", method: .get, headers: Self.headers("read", yaml: false)).status == .ok)
            #expect(try await client.execute(uri: "/api/v1/info", method: .get, headers: Self.headers("read", yaml: false)).status == .ok)
            let node: HTTPFields = [.authorization: "token \(Self.secrets["read"]!)"]
            #expect(try await client.execute(uri: "/api/v1/breeds", method: .get, headers: node).status == .ok)
            let event = try await client.execute(
                uri: "/api/v1/events", method: .post, headers: Self.headers("read", yaml: false).merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"tags": ["a"], "value": 1}"#))
            #expect(event.status == .forbidden)
            #expect(Self.message(event).contains("POST /api/v1/events needs the role write"), "\(Self.message(event))")
            let tokensByWrite = try await client.execute(uri: "/api/v1/tokens", method: .get, headers: Self.headers("write", yaml: false))
            #expect(tokensByWrite.status == .forbidden)
            #expect(Self.message(tokensByWrite).contains("needs the role admin"))
            let expiredAnswer = try await client.execute(uri: "/api/v1/breeds", method: .get, headers: Self.headers("admin", yaml: false))
            #expect(expiredAnswer.status == .unauthorized)
            #expect(Self.message(expiredAnswer).contains("not known to this server or has expired"))
            let unknown = try await client.execute(uri: "/api/v1/breeds", method: .get, headers: [.authorization: "Bearer vamp_0123456789ab_nothing"])
            #expect(unknown.status == .unauthorized)
            let malformed = try await client.execute(uri: "/api/v1/breeds", method: .get, headers: [.authorization: "Basic dXNlcjpwYXNz"])
            #expect(malformed.status == .unauthorized)
            #expect(Self.message(malformed).contains("Bearer <token>"))
        }
    }

    @Test("a token limited to namespaces is refused elsewhere with a message naming them")
    func namespaces() async throws {
        try await withAPI(configured: [Self.configured(.write, namespaces: ["shop"])]) { client, _ in
            let answer = try await client.execute(uri: "/api/v1/breeds", method: .get, headers: Self.headers("write", yaml: false))
            #expect(answer.status == .forbidden)
            #expect(Self.message(answer) == "the token 'write' may reach the namespaces shop, not 'vamp'")
        }
    }

    @Test("an admin creates a token (its secret shown once), lists it without hash, the token works, revoking stops it at once; the archive names the token")
    func tokenLifecycle() async throws {
        try await withAPI { client, registry in
            let created = try await client.execute(
                uri: "/api/v1/tokens", method: .post, headers: Self.headers("admin", yaml: false).merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"name": "ci", "role": "write", "expires_in": "30d"}"#))
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any])
            let secret = try #require(object["token"] as? String)
            #expect(secret.hasPrefix("vamp_") && object["role"] as? String == "write" && object["expires"] != nil)

            let listed = try await client.execute(uri: "/api/v1/tokens", method: .get, headers: Self.headers("admin", yaml: false))
            let text = String(buffer: listed.body)
            #expect(listed.status == .ok && text.contains("\"ci\"") && !text.contains("hash") && !text.contains("salt") && !text.contains(secret))
            // Only a salted hash is stored.
            let stored = registry.all().first { $0.name == "ci" }
            #expect(stored?.hash.isEmpty == false && stored?.hash != secret)

            let ci: HTTPFields = [.authorization: "Bearer \(secret)", .contentType: "application/x-yaml", .accept: "application/json"]
            let breed = try await client.execute(
                uri: "/api/v1/breeds", method: .post, headers: ci,
                body: ByteBuffer(string: "name: web:1.0\ndeployable: magneticio/sava:1.0.0\nports: {web: 8080/http}\n"))
            #expect(breed.status == .created)
            let archive = try await client.execute(uri: "/api/v1/events?tag=breeds:web:1.0&tag=archive:create", method: .get, headers: Self.headers("read", yaml: false))
            let events = String(buffer: archive.body)
            #expect(events.contains("\"token:ci\"") && !events.contains(secret), "\(events)")

            let duplicate = try await client.execute(
                uri: "/api/v1/tokens", method: .post, headers: Self.headers("admin", yaml: false).merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"name": "ci", "role": "read"}"#))
            #expect(duplicate.status == .conflict)
            let badRole = try await client.execute(
                uri: "/api/v1/tokens", method: .post, headers: Self.headers("admin", yaml: false).merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"name": "x", "role": "root"}"#))
            #expect(badRole.status == .badRequest && Self.message(badRole).contains("role 'root'"))

            #expect(try await client.execute(uri: "/api/v1/tokens/ci", method: .delete, headers: Self.headers("admin", yaml: false)).status == .noContent)
            #expect(try await client.execute(uri: "/api/v1/breeds", method: .get, headers: ci).status == .unauthorized)
        }
    }

    @Test("a CORS preflight needs no token (it carries none); the request after it does")
    func preflight() async throws {
        try await withAPI { client, _ in
            let preflight = try await client.execute(uri: "/api/v1/breeds", method: .options, headers: [:])
            #expect(preflight.status != .unauthorized)
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var fields = self
        for field in other { fields[field.name] = field.value }
        return fields
    }
}
