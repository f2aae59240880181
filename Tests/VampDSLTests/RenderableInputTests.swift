import Testing
import VampDSL
import VampModel

/// Issue 23: what HAProxy cannot be given is refused when the document is read, with its field and line. A port is
/// plain decimal digits wherever one is read; names that become DNS labels of the default virtual hosts must be
/// labels; a dependency cycle is named.
@Suite("Reading: ports and names HAProxy can take")
struct RenderableInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var yaml: String
        var kind: ArtifactKind?
        var code: VampError.Code
        var path: String
        var line: Int
        var fragment: String
        var description: String { "\(path) line \(line): \(yaml.split(separator: "\n").last ?? "")" }
    }

    /// Every place a port number is read, with `+9835` and `09834`.
    static let portCases: [Case] = ["+9835", "09834"].flatMap { bad -> [Case] in [
        Case(yaml: "kind: breed\nname: a\ndeployable: x\nports:\n  web: \(bad)/http\n", code: .invalidValue, path: "ports.web", line: 5, fragment: "no sign, no leading zero"),
        Case(yaml: "kind: breed\nname: a\ndeployable: x\nports:\n  web: \(bad)\n", code: .invalidValue, path: "ports.web", line: 5, fragment: "no sign, no leading zero"),
        Case(yaml: "kind: gateway\nname: g\nport: \(bad)/http\n", code: .invalidValue, path: "port", line: 3, fragment: "no sign, no leading zero"),
        Case(yaml: "kind: gateway\nname: g\nport: \"\(bad)\"\n", code: .invalidValue, path: "port", line: 3, fragment: "no sign, no leading zero"),
        Case(yaml: "kind: blueprint\nname: b\ngateways:\n  \"\(bad)/http\": web/web\nclusters:\n  web: a:1\n", code: .invalidValue, path: "gateways.\(bad)/http", line: 4, fragment: "without a sign or a leading zero"),
        Case(yaml: "kind: blueprint\nname: b\ngateways:\n  entry:\n    port: \(bad)/http\n    routes: web/web\nclusters:\n  web: a:1\n", code: .invalidValue, path: "gateways.entry.port", line: 5, fragment: "no sign, no leading zero"),
        Case(yaml: "kind: gateway\nname: g\nport: 9050\nservice: {host: h, port: \"\(bad)\"}\n", code: .invalidValue, path: "service.port", line: 4, fragment: "no sign, no leading zero"),
        Case(yaml: "kind: gateway\nname: g\nport: 9050\nroutes:\n  a:\n    targets: [{name: x, host: h, port: \"\(bad)\"}]\n", code: .invalidValue, path: "routes.a.targets[0].port", line: 6, fragment: "no sign, no leading zero"),
    ] }

    @Test("a port with a sign or a leading zero is refused wherever a port is read", arguments: portCases)
    func ports(c: Case) {
        do {
            let documents = try DSLReader.read(c.yaml, kind: c.kind)
            Issue.record("accepted: \(documents.map(\.artifact))")
        } catch {
            let match = error.errors.first { $0.code == c.code && $0.path == c.path }
            #expect(match != nil, "\(error)")
            #expect(match?.line == c.line, "\(error)")
            #expect(match?.message.contains(c.fragment) == true, "\(error)")
        }
    }

    static let nameCases: [Case] = [
        Case(yaml: "kind: blueprint\nname: b\nclusters:\n  -x: a:1\n", code: .illegalName, path: "clusters.-x", line: 4, fragment: "illegal cluster name"),
        Case(yaml: "kind: blueprint\nname: b\nclusters:\n  x_: a:1\n", code: .illegalName, path: "clusters.x_", line: 4, fragment: "start and end with a letter or digit"),
        Case(yaml: "kind: breed\nname: a\ndeployable: x\nports:\n  web-: 8080\n", code: .illegalName, path: "ports.web-", line: 5, fragment: "illegal port name"),
        Case(yaml: "kind: gateway\nname: \"-x\"\nport: 9050\nroutes: \"[127.0.0.1:80]\"\n", code: .illegalName, path: "name", line: 2, fragment: "illegal gateway name"),
        Case(yaml: "kind: gateway\nname: shop/..\nport: 9050\nroutes: \"[127.0.0.1:80]\"\n", code: .illegalName, path: "name", line: 2, fragment: "DNS label '--'"),
        Case(yaml: "kind: deployment\nname: \"-x\"\nclusters:\n  web: a:1\n", code: .illegalName, path: "name", line: 2, fragment: "illegal deployment name"),
        Case(yaml: "kind: deployment\nname: \(String(repeating: "d", count: 64))\nclusters:\n  web: a:1\n", code: .illegalName, path: "name", line: 2, fragment: "at most 63"),
        Case(yaml: "kind: blueprint\nname: b\ngateways:\n  _:\n    port: 9050/http\n    routes: web/web\nclusters:\n  web: a:1\n", code: .illegalName, path: "gateways._", line: 4, fragment: "illegal gateway name"),
        Case(yaml: """
            kind: blueprint
            name: loop
            clusters:
              one:
                breed: {name: a:1, deployable: x, dependencies: {b: b:1}}
              two:
                breed: {name: b:1, deployable: x, dependencies: {a: a:1}}

            """, code: .invalidArtifact, path: "clusters.two.services[0].breed.dependencies.a", line: 7, fragment: "dependency cycle: breed 'a:1' in cluster 'one' (dependency 'b') -> breed 'b:1' in cluster 'two' (dependency 'a') -> breed 'a:1'"),
    ]

    @Test("names that cannot be DNS labels and dependency cycles are refused with their line", arguments: nameCases)
    func names(c: Case) throws {
        let documents = try DSLReader.read(c.yaml, kind: c.kind)
        let errors = try #require(documents.first).validate()
        let match = errors.first { $0.code == c.code && $0.path == c.path }
        #expect(match?.line == c.line, "\(errors)")
        #expect(match?.message.contains(c.fragment) == true, "\(errors)")
    }

    @Test("sava:1.0 and the other names of Vamp's examples read and validate")
    func examplesStayValid() throws {
        let yaml = """
            kind: deployment
            name: sava:1.0
            gateways:
              9050/http: sava/web
            clusters:
              sava:
                breed: {name: sava:1.0.0, deployable: magneticio/sava:1.0.0, ports: {web: 8080/http}}

            """
        let documents = try DSLReader.read(yaml)
        #expect(try #require(documents.first).validate().isEmpty)
    }
}
