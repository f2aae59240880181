import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VampTesting

/// HTTPS gateways whose certificate is a secret stored in the server and handed to the agents through the KV store
/// (issue 28), through the real server, its embedded agent and HAProxy, with curl as the client.
@Suite("vamp-server: secrets as gateway certificates", .serialized)
struct SecretGatewayServerTests {
    static let bin = GatewayBindingServerTests.bin

    /// The YAML body of a secret: the PEM text as a block scalar.
    static func secret(_ name: String, pem: String) -> String {
        "name: \(name)\ncertificate: |\n" + pem.split(separator: "\n").map { "  \($0)\n" }.joined()
    }

    static func gateway(_ name: String, port: Int, backend: Int, secret: String) -> String {
        ServerExecutableTests.gateway(name, port: port, backend: backend) + "tls: {secret: \(secret)}\n"
    }

    /// Whether `text` shows anything of the key: its PEM header or one of its lines, plainly or as a JSON string.
    static func showsKey(_ text: String, _ pem: String) -> Bool {
        let unescaped = text.replacingOccurrences(of: "\\/", with: "/")
        return unescaped.contains("PRIVATE KEY") || TestCertificateAuthority.keyLines(pem).contains { unescaped.contains($0) }
            || unescaped.contains(Data(pem.utf8).base64EncodedString().prefix(40))
    }

    @Test("a stored secret serves an HTTPS gateway: curl --http2 verifies it, no answer, event or HAProxy file shows the key, the agent's file is its user's alone; a new certificate is served under load with no failed request and the old file is removed")
    func servedAndRotated() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let first = try String(contentsOf: try await authority.serverCertificate(fileName: "v1.pem", commonName: "shop-v1", serial: 1), encoding: .utf8)
        let second = try String(contentsOf: try await authority.serverCertificate(fileName: "v2.pem", commonName: "shop-v2", serial: 2), encoding: .utf8)
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let backend = try TestHTTPService(name: "catalog")
        let port = try FreePort.next()
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            let stored = try await ServerExecutableTests.call(client, .PUT, "\(api)/secrets/shop", yaml: Self.secret("shop", pem: first))
            #expect(stored.status == 201, "\(stored.body)")
            #expect(stored.body.contains("\"serial\":\"01\"") && stored.body.contains("\"shop.test\"") && stored.body.contains("\"chain\":2"), "\(stored.body)")
            #expect(!Self.showsKey(stored.body, first), "\(stored.body)")

            let created = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("shop", port: port, backend: backend.port, secret: "shop"))
            #expect(created.status == 202, "\(created.body)")
            try await waitUntil(timeout: .seconds(30), "the HTTPS gateway on \(port)\n\(server.process.logTail())") { FreePort.isAccepting(port) }
            let h2 = try await Curl.run(HTTPSGatewayServerTests.curlTrusting(authority, port: port) + ["--http2", "-D", "-", "-w", "\n%{http_version}", "https://shop.test:\(port)/catalog"])
            #expect(h2.status == 0, "\(h2.errors)")
            #expect(h2.output.lowercased().contains("x-served-by: catalog") && h2.output.hasSuffix("\n2"), "\(h2.output)")
            #expect(try await HTTPSGatewayServerTests.subject(port: port, authority: authority) == "CN=shop-v1")

            // Nothing the API answers shows the key; the secret says which gateway uses it.
            let read = try await ServerExecutableTests.call(client, .GET, "\(api)/secrets/shop")
            #expect(read.status == 200 && read.body.contains("\"gateways\":[\"shop\"]"), "\(read.body)")
            for path in ["secrets", "secrets/shop", "events?per_page=500", "vga/haproxy/2.6/configuration", "gateways/shop", "info"] {
                let answer = try await ServerExecutableTests.call(client, .GET, "\(api)/\(path)")
                #expect(answer.status == 200, "\(path): \(answer.status)")
                #expect(!Self.showsKey(answer.body, first), "GET \(path) shows the key: \(answer.body.prefix(2000))")
            }
            let configuration = try await ServerExecutableTests.call(client, .GET, "\(api)/vga/haproxy/2.6/configuration").body
            #expect(configuration.contains("ssl crt certificates/shop-") && !configuration.contains("vamp:certificate"), "\(configuration)")

            // On the agent: one file, 0600 in a 0700 folder, HAProxy's configuration without the key.
            let work = server.folder.url.appendingPathComponent(".vamp/gateway-agent")
            let folder = work.appendingPathComponent("certificates")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            #expect(files.count == 1 && files[0].hasPrefix("shop-") && files[0].hasSuffix(".pem"), "\(files)")
            #expect(try Self.mode(folder) == 0o700)
            #expect(try Self.mode(folder.appendingPathComponent(files[0])) == 0o600)
            #expect(try String(contentsOf: folder.appendingPathComponent(files[0]), encoding: .utf8) == first)
            let haproxyFile = try String(contentsOf: work.appendingPathComponent("haproxy.cfg"), encoding: .utf8)
            #expect(!Self.showsKey(haproxyFile, first) && !haproxyFile.contains("vamp:certificate"))

            // A new certificate under load: every request answered, the new one presented, the old file gone.
            try await HTTPSGatewayServerTests.expectNoFailedRequest(port: port, authority: authority, presenting: "CN=shop-v2", log: server) {
                let rotated = try await ServerExecutableTests.call(client, .PUT, "\(api)/secrets/shop", yaml: Self.secret("shop", pem: second))
                #expect(rotated.status == 200 && rotated.body.contains("\"serial\":\"02\""), "\(rotated.body)")
            }
            let after = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            #expect(after.count == 1 && after[0] != files[0], "\(after)")

            // Deleting a secret a gateway uses is refused; once no gateway names it, it goes.
            let inUse = try await ServerExecutableTests.call(client, .DELETE, "\(api)/secrets/shop")
            #expect(inUse.status == 409 && inUse.body.contains("gateway 'shop'"), "\(inUse.body)")
            #expect(try await ServerExecutableTests.call(client, .DELETE, "\(api)/gateways/shop").status == 202)
            #expect(try await ServerExecutableTests.call(client, .DELETE, "\(api)/secrets/shop").status == 204)
            #expect(try await ServerExecutableTests.call(client, .GET, "\(api)/secrets/shop").status == 404)
        }
    }

    @Test("what cannot be a gateway's certificate is refused with 400 naming the field, and nothing is stored: garbage, a key of another certificate, an encrypted key, a name with a slash or a dot first, a body named otherwise, a secret in a multi-document body, a gateway naming a secret that is not stored")
    func refused() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let good = try String(contentsOf: try await authority.serverCertificate(fileName: "good.pem", commonName: "good", serial: 1), encoding: .utf8)
        let other = try String(contentsOf: try await authority.serverCertificate(fileName: "other.pem", commonName: "other", serial: 2), encoding: .utf8)
        let cut = try #require(good.range(of: "-----BEGIN PRIVATE KEY-----")), otherKey = try #require(other.range(of: "-----BEGIN PRIVATE KEY-----"))
        let mismatch = String(good[..<cut.lowerBound]) + String(other[otherKey.lowerBound...])
        let garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n" + String(good[cut.lowerBound...])
        let encrypted = String(good[..<cut.lowerBound]) + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let backend = try TestHTTPService(name: "catalog")
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            for (pem, says) in [(garbage, "field certificate"), (mismatch, "not the key of the first certificate"), (encrypted, "encrypted")] {
                let refused = try await ServerExecutableTests.call(client, .PUT, "\(api)/secrets/bad", yaml: Self.secret("bad", pem: pem))
                #expect(refused.status == 400 && refused.body.contains(says), "\(refused.body)")
                #expect(!Self.showsKey(refused.body, good) && !Self.showsKey(refused.body, other), "\(refused.body)")
            }
            for name in ["a/b", ".hidden", "x y"] {
                let refused = try await ServerExecutableTests.call(client, .POST, "\(api)/secrets", yaml: Self.secret("\"\(name)\"", pem: good))
                #expect(refused.status == 400 && refused.body.contains("name"), "\(name): \(refused.body)")
            }
            let renamed = try await ServerExecutableTests.call(client, .PUT, "\(api)/secrets/one", yaml: Self.secret("two", pem: good))
            #expect(renamed.status == 400 && renamed.body.contains("the name in the path"), "\(renamed.body)")
            let multiple = try await ServerExecutableTests.call(client, .POST, api, yaml: "kind: secret\n" + Self.secret("good", pem: good))
            #expect(multiple.status == 400 && multiple.body.contains("PUT /api/v1/secrets/{name}"), "\(multiple.body)")
            let checked = try await ServerExecutableTests.call(client, .PUT, "\(api)/secrets/good?validate_only=true", yaml: Self.secret("good", pem: good))
            #expect(checked.status == 200, "\(checked.body)")
            #expect(try await ServerExecutableTests.call(client, .GET, "\(api)/secrets").body == "[]")

            let missing = try await ServerExecutableTests.call(
                client, .POST, "\(api)/gateways", yaml: Self.gateway("shop", port: try FreePort.next(), backend: backend.port, secret: "nowhere"))
            #expect(missing.status == 400 && missing.body.contains("tls.secret") && missing.body.contains("nowhere"), "\(missing.body)")
            let both = try await ServerExecutableTests.call(
                client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway("shop", port: try FreePort.next(), backend: backend.port) + "tls: {secret: good, certificate: /x.pem}\n")
            #expect(both.status == 400 && both.body.contains("not both"), "\(both.body)")
            #expect(try await ServerExecutableTests.call(client, .GET, "\(api)/gateways/shop").status == 404)
        }
    }

    static func mode(_ url: URL) throws -> Int {
        ((try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
    }
}
