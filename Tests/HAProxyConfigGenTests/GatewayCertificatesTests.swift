import Foundation
import Testing
@testable import HAProxyConfigGen
import VampModel
import VampTesting

/// Certificates of stored secrets: their file on the `bind` line, and how they travel with the text to the agents
/// (issue 28).
@Suite("Certificates of stored secrets")
struct GatewayCertificatesTests {
    static let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"

    static func gateway(_ name: String = "shop/9443", port: Int = 19443, secret: String) -> Gateway {
        var gateway = TLSGatewayTests.gateway(name, port: port, certificate: nil)
        gateway.tls = GatewayTLS(secret: secret)
        return gateway
    }

    @Test("a gateway naming a secret binds with the secret's file, named by the secret and a digest of its PEM; another PEM is another file")
    func bindLine() throws {
        var generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-sockets", virtualHostsPort: 18000))
        let file = GatewayCertificates.file(secret: "shop", pem: Self.pem)
        #expect(file.hasPrefix("certificates/shop-") && file.hasSuffix(".pem") && file.utf8.count == "certificates/shop-".utf8.count + 16 + 4)
        #expect(GatewayCertificates.file(secret: "shop", pem: Self.pem + "\n") != file)
        generator.options.secretFiles = ["shop": file]
        let text = try generator.render([Self.gateway(secret: "shop")])
        #expect(BindingTests.bindLines(text) == ["  bind 0.0.0.0:19443 ssl crt \(file) alpn h2,http/1.1"])
    }

    @Test("bundle and unbundle give back the text and the certificates; a text without certificates is unchanged")
    func roundTrip() {
        let files = [GatewayCertificates.file(secret: "a", pem: Self.pem): Self.pem, GatewayCertificates.file(secret: "b", pem: "x"): "x\n"]
        let text = "frontend shop\n  bind 0.0.0.0:1 ssl crt certificates/a.pem\n"
        let stored = GatewayCertificates.bundle(files, with: text)
        #expect(!stored.contains("PRIVATE KEY") && stored.hasSuffix(text))
        let (back, certificates, problems) = GatewayCertificates.unbundle(stored)
        #expect(back == text && certificates == files && problems.isEmpty)
        #expect(GatewayCertificates.bundle([:], with: text) == text)
        #expect(GatewayCertificates.unbundle(text).text == text)
    }

    @Test("a certificate line naming a file outside the certificates folder, or with a character HAProxy would split on, is dropped and named")
    func unsafeLines() {
        for file in ["certificates/../haproxy.cfg", "../x.pem", "/etc/passwd", "certificates/.hidden.pem", "certificates/a b.pem", "certificates/a.cfg", "certificates/x/y.pem"] {
            let stored = "# vamp:certificate \(file) \(Data("x".utf8).base64EncodedString())\nfrontend a\n"
            let (text, certificates, problems) = GatewayCertificates.unbundle(stored)
            #expect(certificates.isEmpty && problems.count == 1 && text == "frontend a\n", "\(file)")
        }
        let (_, certificates, problems) = GatewayCertificates.unbundle("# vamp:certificate certificates/a.pem !!notbase64\n")
        #expect(certificates.isEmpty && problems.count == 1)
    }
}
