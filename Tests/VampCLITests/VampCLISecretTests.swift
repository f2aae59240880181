import Foundation
import Testing
import VampTesting

/// `vamp store-secret` and `vamp list secrets` against a real vamp-server (issue 28).
@Suite("vamp CLI: secrets", .serialized)
struct VampCLISecretTests {
    @Test("store-secret stores a PEM file and says what it is for; list secrets shows it without the key; a bad file is refused with exit 1 naming the field")
    func storeAndList() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let file = try await authority.serverCertificate(fileName: "shop.pem", commonName: "shop", serial: 7)
        let server = try await VampServerFixture(binaries: VampCLIServerTests.bin)
        defer { server.tearDown() }
        func vamp(_ arguments: String..., stdin: String? = nil) throws -> VampCLIServerTests.Output {
            try VampCLIServerTests.run(arguments, environment: server.environment, stdin: stdin)
        }
        let stored = try vamp("store-secret", "shop", file.path)
        #expect(stored.status == 0, "\(stored.stderr)")
        #expect(stored.stdout.hasPrefix("stored secret shop (for 127.0.0.1,::1,shop.test, until 20"), "\(stored.stdout)")
        let listed = try vamp("list", "secrets")
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.hasPrefix("NAME   NAMES") && listed.stdout.contains("\nshop   127.0.0.1,"), "\(listed.stdout)")
        let json = try vamp("list", "secrets", "-o", "json")
        #expect(json.stdout.contains("\"serial\" : \"07\"") && !json.stdout.contains("PRIVATE KEY"), "\(json.stdout)")
        let refused = try vamp("store-secret", "bad", "-", stdin: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        #expect(refused.status == 1 && refused.stderr.contains("certificate"), "\(refused.status) \(refused.stderr)")
        let described = try vamp("describe", "secret", "shop")
        #expect(described.status == 0 && described.stdout.contains("\"name\" : \"shop\"") && !described.stdout.contains("PRIVATE KEY"), "\(described.stdout)")
        // A kind: secret document through create and update, as for other kinds.
        let pem = try String(contentsOf: file, encoding: .utf8)
        let document = "kind: secret\nname: other\ncertificate: |\n" + pem.split(separator: "\n").map { "  \($0)\n" }.joined()
        let created = try vamp("create", "secret", "--stdin", stdin: document)
        #expect(created.status == 0 && created.stdout == "created secret other\n", "\(created.stdout)\(created.stderr)")
        let updated = try vamp("update", "secret", "other", "--stdin", stdin: document)
        #expect(updated.status == 0 && updated.stdout == "updated secret other\n", "\(updated.stdout)\(updated.stderr)")
        #expect(try vamp("delete", "secret", "other").status == 0)
        #expect(try vamp("delete", "secret", "shop").status == 0)
        #expect(try vamp("list", "secrets").stdout == "NAME   NAMES   NOT AFTER   GATEWAYS\n")
    }
}
