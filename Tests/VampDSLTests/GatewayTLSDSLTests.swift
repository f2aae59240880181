import Testing
import VampDSL
import VampModel

/// `tls: {certificate: <path>}` on a gateway (issue 28).
@Suite("HTTPS gateways in the DSL")
struct GatewayTLSDSLTests {
    @Test("a gateway's certificate is read, and written back in YAML and JSON, which read to the same gateway")
    func roundTrip() throws {
        let yaml = "kind: gateway\nname: shop\nport: 9443/http\ntls:\n  certificate: /etc/vamp/certs/shop.pem\nroutes:\n  shop/web/web: {weight: 100%}\n"
        let documents = try DSLReader.read(yaml)
        #expect(try #require(documents.first).validate().isEmpty)
        guard case .gateway(let gateway) = try #require(documents.first).artifact else {
            Issue.record("not a gateway")
            return
        }
        #expect(gateway.tls == GatewayTLS(certificate: "/etc/vamp/certs/shop.pem"))
        let writtenYAML = DSLWriter.yaml(.gateway(gateway)), writtenJSON = DSLWriter.json(.gateway(gateway), pretty: false)
        #expect(writtenYAML.contains("tls:\n  certificate: /etc/vamp/certs/shop.pem\n"), "\(writtenYAML)")
        #expect(writtenJSON.contains("\"tls\":{\"certificate\":\"/etc/vamp/certs/shop.pem\"}"), "\(writtenJSON)")
        #expect(try DSLReader.read(writtenYAML).map(\.artifact) == [.gateway(gateway)])
        #expect(try DSLReader.read(writtenJSON).map(\.artifact) == [.gateway(gateway)])
        // A plain gateway writes no tls field.
        var plain = gateway
        plain.tls = nil
        #expect(!DSLWriter.yaml(.gateway(plain)).contains("tls"))
    }

    @Test("a gateway naming a secret is read and written back to the same gateway; a secret reads and writes its PEM text")
    func secretRoundTrip() throws {
        let yaml = "kind: gateway\nname: shop\nport: 9443/http\ntls: {secret: shop-cert}\nroutes:\n  shop/web/web: {weight: 100%}\n"
        guard case .gateway(let gateway) = try #require(try DSLReader.read(yaml).first).artifact else {
            Issue.record("not a gateway")
            return
        }
        #expect(gateway.tls == GatewayTLS(secret: "shop-cert"))
        #expect(DSLWriter.json(.gateway(gateway), pretty: false).contains("\"tls\":{\"secret\":\"shop-cert\"}"))
        #expect(try DSLReader.read(DSLWriter.yaml(.gateway(gateway))).map(\.artifact) == [.gateway(gateway)])
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"
        let secret = Artifact.secret(Secret(name: "shop-cert", certificate: pem))
        #expect(try DSLReader.read(DSLWriter.json(secret)).map(\.artifact) == [secret])
        #expect(Validation.validate(secret).isEmpty)
        #expect(Validation.validate(.secret(Secret(name: "x", certificate: "-----BEGIN CERTIFICATE-----\n"))).first?.message.contains("no private key") == true)
    }

    @Test("a blueprint's external gateway takes a certificate")
    func blueprintGateway() throws {
        let yaml = """
            kind: blueprint
            name: shop
            gateways:
              9443/http:
                tls: {certificate: /etc/vamp/certs/shop.pem}
                routes: web/web
            clusters:
              web: {breed: {name: web:1.0, deployable: x, ports: {web: 8080/http}}}
            """
        let documents = try DSLReader.read(yaml)
        guard case .blueprint(let blueprint) = try #require(documents.first).artifact else {
            Issue.record("not a blueprint")
            return
        }
        #expect(blueprint.gateways.first?.tls?.certificate == "/etc/vamp/certs/shop.pem", "\(blueprint.gateways)")
        #expect(try DSLReader.read(DSLWriter.yaml(.blueprint(blueprint))).map(\.artifact) == [.blueprint(blueprint)])
    }

    @Test("a certificate that is not an absolute path of safe characters, or a tls without certificate, is refused naming the field and line", arguments: [
        ("tls: {certificate: shop.pem}", "absolute path"),
        ("tls: {certificate: \"/etc/vamp/shop.pem alpn h2\"}", "only letters, digits"),
        ("tls: {certificate: \"/etc/vamp/shop.pem\\n  bind *:22\"}", "only letters, digits"),
        ("tls: {certificate: \"/etc/vamp/'x'.pem\"}", "only letters, digits"),
        ("tls: {certificate: /etc/vamp/}", "not a folder"),
        ("tls: {certificate: /etc/vamp/shop.pem, key: /etc/vamp/shop.key}", "'key' is not a field here"),
        ("tls: {}", "give certificate"),
        ("tls: {secret: shop, certificate: /etc/vamp/shop.pem}", "not both"),
        ("tls: {secret: ../shop}", "may hold only letters"),
        ("tls: {secret: .shop}", "may not start with '.'"),
        ("tls: /etc/vamp/shop.pem", "expected a map"),
    ])
    func refused(line: String, fragment: String) throws {
        let yaml = "kind: gateway\nname: shop\nport: 9443/http\n\(line)\n"
        do {
            let documents = try DSLReader.read(yaml)
            let errors = try #require(documents.first).validate()
            Issue.record("read without error: \(documents), validation: \(errors)")
        } catch let errors as VampErrors {
            let error = errors.errors.first { $0.path?.hasPrefix("tls") == true }
            #expect(error?.line == 4, "\(errors)")
            #expect(error?.message.contains(fragment) == true, "\(errors)")
        }
    }
}
