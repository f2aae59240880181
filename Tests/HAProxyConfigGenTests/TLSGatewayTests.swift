import Foundation
import Testing
@testable import HAProxyConfigGen
import VampModel
import VampTesting

/// HTTPS gateways: `bind … ssl crt <file> alpn h2,http/1.1` (issue 28).
@Suite("HTTPS gateways in HAProxy", .serialized)
struct TLSGatewayTests {
    static func gateway(_ name: String = "shop/9443", port: Int = 19443, type: BreedPort.PortType = .http, certificate: String?, backend: Int = 31001, hosts: [String] = []) -> Gateway {
        Gateway(name: name, port: GatewayPort(number: port, type: type), virtualHosts: hosts, routes: [
            Fixtures.route("shop/web/web", weight: 100, targets: [Fixtures.target("shop_web_1", port: backend)]),
        ], tls: certificate.map { GatewayTLS(certificate: $0) })
    }

    @Test("an http gateway with a certificate binds with ssl crt and ALPN h2,http/1.1; a tcp one with ssl crt alone; a plain one is unchanged")
    func bindLines() throws {
        let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-sockets", virtualHostsPort: 18000))
        let text = try generator.render([
            Self.gateway(certificate: "/etc/vamp/certs/shop.pem"),
            Self.gateway("db/9444", port: 19444, type: .tcp, certificate: "/etc/vamp/certs/db.pem"),
            Self.gateway("plain/9080", port: 19080, certificate: nil),
        ])
        #expect(BindingTests.bindLines(text) == [
            "  bind 0.0.0.0:19444 ssl crt /etc/vamp/certs/db.pem",
            "  bind 0.0.0.0:19080",
            "  bind 0.0.0.0:19443 ssl crt /etc/vamp/certs/shop.pem alpn h2,http/1.1",
        ])
        #expect(HAProxyConfigurationGenerator.certificateFiles(in: text) == ["/etc/vamp/certs/db.pem", "/etc/vamp/certs/shop.pem"])
    }

    @Test("the virtual hosts frontend reaches an HTTPS gateway over TLS")
    func virtualHosts() throws {
        let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-sockets", virtualHostsPort: 18000))
        let text = try generator.render([Self.gateway(certificate: "/etc/vamp/certs/shop.pem", hosts: ["shop.example.test"])])
        #expect(text.contains(" 127.0.0.1:19443 ssl verify none alpn http/1.1\n"), "\(text)")
    }

    @Test("a certificate path that could carry a directive, a space, a quote or a second line is refused, naming the gateway and field")
    func unsafePaths() throws {
        for path in [
            "relative.pem", "/etc/vamp/shop.pem\n  bind *:22", "/etc/vamp/shop.pem alpn h2", "/etc/vamp/'shop'.pem", "/etc/\"x\".pem",
            "/etc/vamp/#x.pem", "/etc/$HOME/x.pem", "/etc/vamp/", "/etc/vamp/..", "", "/" + String(repeating: "a", count: 300),
            "/etc/vamp/shöp.pem", "/etc/vamp/x.pem\r", "-/x.pem",
        ] {
            #expect(GatewayTLS.certificatePathProblem(path) != nil, "\(path.debugDescription)")
            do {
                _ = try HAProxyConfigurationGenerator().render([Self.gateway(certificate: path)])
                Issue.record("rendered \(path.debugDescription)")
            } catch {
                #expect(error.code == .unsafeValue && error.gateway == "shop/9443" && error.message.hasPrefix("tls.certificate: "), "\(error)")
            }
        }
        for path in ["/etc/vamp/certs/shop.pem", "/etc/ssl/private/shop-2027_v2.pem", "/x"] {
            #expect(GatewayTLS.certificatePathProblem(path) == nil, "\(path)")
        }
    }

    @Test("the text the server checks keeps the TLS options of the certificates it holds and drops the others'")
    func checkableText() throws {
        let text = try HAProxyConfigurationGenerator().render([
            Self.gateway(certificate: "/here.pem"), Self.gateway("b/9445", port: 19445, certificate: "/elsewhere.pem"),
            Self.gateway("c/9446", port: 19446, certificate: nil),
        ])
        let checkable = HAProxyConfigurationGenerator.withoutCertificates(in: text) { $0 == "/here.pem" }
        #expect(BindingTests.bindLines(checkable) == ["  bind 0.0.0.0:19445", "  bind 0.0.0.0:19446", "  bind 0.0.0.0:19443 ssl crt /here.pem alpn h2,http/1.1"])
        #expect(checkable.split(separator: "\n").count == text.split(separator: "\n").count)
        #expect(HAProxyConfigurationGenerator.withoutCertificates(in: text) { _ in true } == text)
    }

    @Test("haproxy -c takes a good certificate and refuses garbage, a key of another certificate and a missing file, naming the file")
    func haproxyChecks() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let good = try await authority.serverCertificate(fileName: "good.pem", commonName: "shop.test", serial: 1)
        let other = try await authority.serverCertificate(fileName: "other.pem", commonName: "other.test", serial: 2)
        let goodText = try String(contentsOf: good, encoding: .utf8), otherText = try String(contentsOf: other, encoding: .utf8)
        // The certificate and chain of one, the key of the other.
        let mismatch = authority.folder.appendingPathComponent("mismatch.pem")
        let keyStart = try #require(otherText.range(of: "-----BEGIN PRIVATE KEY-----"))
        let goodKeyStart = try #require(goodText.range(of: "-----BEGIN PRIVATE KEY-----"))
        try Data((String(goodText[..<goodKeyStart.lowerBound]) + String(otherText[keyStart.lowerBound...])).utf8).write(to: mismatch)
        let garbage = authority.folder.appendingPathComponent("garbage.pem")
        try Data("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n".utf8).write(to: garbage)
        let rsa = try await authority.serverCertificate(fileName: "rsa.pem", commonName: "shop.test", serial: 3, keyType: .rsa2048)

        for (file, valid) in [(good.path, true), (rsa.path, true), (mismatch.path, false), (garbage.path, false), (authority.folder.path + "/missing.pem", false)] {
            let text = try Fixtures.base() + HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-sockets"))
                .render([Self.gateway(certificate: file), Self.gateway("db/9444", port: 19444, type: .tcp, certificate: file)])
            let result = try await HAProxyServer.check(text)
            #expect(result.valid == valid, "\(file): \(result.output)")
            if !valid { #expect(result.output.contains("'\(file)'"), "\(result.output)") }
        }
    }

    @Test("real HAProxy and curl: HTTP/2 by ALPN over TLS to the backend, verified with the CA; HTTP/1.1 when the client asks for it; a tcp gateway terminates TLS")
    func liveTLS() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let certificate = try await authority.serverCertificate(fileName: "shop.pem", commonName: "shop.test", serial: 7)
        let service = try TestHTTPService(name: "catalog")
        let (httpsPort, tcpPort) = try (FreePort.next(), FreePort.next())
        let directory = try HAProxyServer.makeDirectory()
        let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: directory.url.path + "/run", virtualHostsPort: try FreePort.next()))
        let text = try Fixtures.base() + generator.render([
            Self.gateway(port: httpsPort, certificate: certificate.path, backend: service.port),
            Self.gateway("db/9444", port: tcpPort, type: .tcp, certificate: certificate.path, backend: service.port),
        ])
        let haproxy = try await HAProxyServer(configuration: text, directory: directory)
        defer { haproxy.stop() }
        try await haproxy.waitUntilListening([httpsPort, tcpPort])

        let resolve = ["--resolve", "shop.test:\(httpsPort):127.0.0.1", "--resolve", "shop.test:\(tcpPort):127.0.0.1", "--cacert", authority.caFile.path]
        let h2 = try await Curl.run(resolve + ["--http2", "-D", "-", "-w", "\n%{http_version}", "https://shop.test:\(httpsPort)/hello"])
        #expect(h2.status == 0, "\(h2.errors)")
        #expect(h2.output.lowercased().contains("x-served-by: catalog"), "\(h2.output)")
        #expect(h2.output.hasSuffix("\n2"), "HTTP version: \(h2.output)")
        let h1 = try await Curl.run(resolve + ["--http1.1", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "https://shop.test:\(httpsPort)/"])
        #expect(h1.output == "200 1.1", "\(h1.output) \(h1.errors)")
        let tcp = try await Curl.run(resolve + ["--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "https://shop.test:\(tcpPort)/"])
        #expect(tcp.output == "200", "\(tcp.output) \(tcp.errors)")
        // Without the CA the certificate is not trusted (curl exit 60); plain HTTP on the TLS port gets no answer.
        let untrusted = try await Curl.run(["--resolve", "shop.test:\(httpsPort):127.0.0.1", "https://shop.test:\(httpsPort)/"])
        #expect(untrusted.status == 60, "\(untrusted.status) \(untrusted.errors)")
        let plain = try await Curl.run(["-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(httpsPort)/"])
        #expect(plain.output != "200", "\(plain.output)")
    }
}
