import Foundation
import HAProxyConfigGen
import KVStores
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel
import VampTesting

/// Secrets as gateway certificates in the facade: stored on their own, checked with their gateways, written to the
/// agents' KV key with the text, never in an event (issue 28).
@Suite("Secrets")
struct SecretTests {
    static let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n"
    static let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")

    static func gateway(_ name: String, port: Int, secret: String) throws -> [DSLDocument] {
        try DSLReader.read("name: \(name)\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:8081]\": {weight: 100%}\ntls: {secret: \(secret)}\n", kind: .gateway)
    }

    @Test("a gateway naming a stored secret is written to the KV key with the certificate before the text; a new PEM is a new file; the archive events name the secret and hold nothing of it")
    func synchronised() async throws {
        let store = InMemoryKeyValueStore(), events = InMemoryEventStore()
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), events: events)
        let synchronizer = GatewaySynchronizer(vamp: vamp, store: store)
        let (version, created) = try await vamp.storeSecret(Secret(name: "shop", certificate: Self.pem))
        #expect(version == 1 && created)
        _ = try await vamp.apply(try Self.gateway("shop", port: 9443, secret: "shop"))
        #expect(await synchronizer.synchronise() == .written)
        let stored = try #require(try await store.get(Self.key)).string
        let (text, files, problems) = GatewayCertificates.unbundle(stored)
        let file = GatewayCertificates.file(secret: "shop", pem: Self.pem)
        #expect(files == [file: Self.pem] && problems.isEmpty)
        #expect(text.contains("ssl crt \(file) alpn h2,http/1.1") && !text.contains("PRIVATE KEY"))
        #expect(try await vamp.gatewayConfiguration().text == text, "what GET /vga/... shows: the text without the certificates")

        let renewed = Self.pem.replacingOccurrences(of: "MIGHAgEAMBMG", with: "MIGHAgEAMBMH")
        #expect(try await vamp.storeSecret(Secret(name: "shop", certificate: renewed)) == (2, false))
        #expect(await synchronizer.synchronise() == .written)
        let again = GatewayCertificates.unbundle(try #require(try await store.get(Self.key)).string)
        #expect(Array(again.files.keys) == [GatewayCertificates.file(secret: "shop", pem: renewed)] && again.text.contains(Array(again.files.keys)[0]))

        let archive = try await events.events(matching: EventQuery(tags: ["secrets:shop"]), page: PageRequest())
        #expect(archive.items.map { $0.tags.filter { $0.contains(":") }.sorted() } == [["archive:update", "secrets:shop"], ["archive:create", "secrets:shop"]])
        #expect(archive.items.allSatisfy { $0.value == nil })
    }

    @Test("a secret in use is not deleted (409, naming the gateway); a gateway naming a secret that is not stored is refused; a secret is not stored with other artifacts")
    func refused() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        try await vamp.storeSecret(Secret(name: "shop", certificate: Self.pem))
        _ = try await vamp.apply(try Self.gateway("shop", port: 9443, secret: "shop"))
        await #expect(throws: OperationError.self) { try await vamp.deleteSecret("shop") }
        do {
            try await vamp.deleteSecret("shop")
        } catch {
            #expect(error.code == .conflict && error.message.contains("gateway 'shop'"))
        }
        let other = try Self.gateway("other", port: 9444, secret: "missing")
        do {
            _ = try await vamp.apply(other)
            Issue.record("a gateway naming a missing secret was stored")
        } catch {
            #expect(error.code == .invalid && error.message.contains("tls.secret") && error.message.contains("missing"), "\(error.message)")
        }
        let secretDocument = try DSLReader.read("kind: secret\nname: x\ncertificate: |\n" + Self.pem.split(separator: "\n").map { "  \($0)\n" }.joined())
        do {
            _ = try await vamp.apply(secretDocument)
            Issue.record("a secret was stored through apply")
        } catch {
            #expect(error.message.contains("PUT /api/v1/secrets/{name}"), "\(error.message)")
        }
        do {
            try await vamp.storeSecret(Secret(name: "../x", certificate: Self.pem))
            Issue.record("a secret with a slash in its name was stored")
        } catch {
            #expect(error.code == .invalid && error.message.contains("name"))
        }
        try await vamp.deleteSecret("nothing")
        #expect(try await vamp.allSecrets().map(\.secret.name) == ["shop"])
    }

    @Test("a secret or gateway write that makes the agents' configuration larger than the KV store takes is refused, naming the sizes; the stored secret stays as it was")
    func tooLargeForTheStore() async throws {
        var configuration = Vamp.Configuration()
        configuration.maximumConfigurationBytes = 3000
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: configuration)
        try await vamp.storeSecret(Secret(name: "shop", certificate: Self.pem))
        _ = try await vamp.apply(try Self.gateway("shop", port: 9443, secret: "shop"))
        let large = Self.pem.replacingOccurrences(of: "MIIB\n", with: String(repeating: String(repeating: "A", count: 64) + "\n", count: 40))
        do {
            try await vamp.storeSecret(Secret(name: "shop", certificate: large))
            Issue.record("a certificate too large for the KV store was stored")
        } catch {
            #expect(error.code == .invalid && error.message.contains("secret 'shop': the gateways' configuration would be") && error.message.contains("at most 3000"), "\(error.message)")
        }
        #expect(try await vamp.secret(named: "shop")?.secret.certificate == Self.pem)
        // Not named by a gateway, it does not travel: stored.
        try await vamp.storeSecret(Secret(name: "spare", certificate: large))
        let other = try Self.gateway("other", port: 9444, secret: "spare")
        do {
            _ = try await vamp.apply(other)
            Issue.record("a gateway taking the configuration past the store's limit was stored")
        } catch {
            #expect(error.message.contains("gateway 'other': the gateways' configuration would be"), "\(error.message)")
        }
    }
}
