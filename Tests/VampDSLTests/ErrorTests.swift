import Testing
import VampDSL
import VampModel

/// Negative tests: every reading and validation error names the field and the line.
@Suite("Errors name the field and the line")
struct ErrorTests {
    struct Case: Sendable, CustomStringConvertible {
        var yaml: String
        var kind: ArtifactKind?
        var code: VampError.Code
        var path: String?
        var line: Int
        var fragment: String
        var description: String { "\(code) \(path ?? "-") line \(line)" }
    }

    static let readingCases: [Case] = [
        Case(yaml: "kind: breed\nname: a\nports: {web: 80}\nporst: {}\n", code: .unexpectedKey, path: "porst", line: 4, fragment: "unexpected in DSL: 'porst'"),
        Case(yaml: "name: b\nclusters:\n  web:\n    services:\n      - breed: a\n        scael: small\n", kind: .blueprint, code: .unexpectedKey, path: "clusters.web.services[0].scael", line: 6, fragment: "'scael'"),
        Case(yaml: "name: b\nclusters:\n  web:\n    breed: a\n    scale: {cpu: 1, memory: 512}\n", kind: .blueprint, code: .invalidValue, path: "clusters.web.services[0].scale.memory", line: 5, fragment: "write 512MB"),
        Case(yaml: "kind: gateway\nname: g\nport: 80\nroutes:\n  a: {weight: 50}\n", code: .invalidValue, path: "routes.a.weight", line: 5, fragment: "needs a '%' sign"),
        Case(yaml: "kind: gateway\nname: g\nport: 99999\n", code: .invalidValue, path: "port", line: 3, fragment: "expected a port"),
        Case(yaml: "kind: breed\n", code: .missingField, path: "name", line: 1, fragment: "'name' is required"),
        // A misspelt required key is reported where it was written (found in the web UI's editor: the error named line 3).
        Case(yaml: "kind: breed\nname: a\ndeployable:\n  type: docker\n  defintion: x\n", code: .missingField, path: "deployable.defintion", line: 5, fragment: "'defintion' looks like a misspelling"),
        Case(yaml: "kind: breed\nnmae: a\n", code: .missingField, path: "nmae", line: 2, fragment: "misspelling"),
        Case(yaml: "kind: breed\nname: a b\n", code: .illegalName, path: "name", line: 2, fragment: "a space"),
        Case(yaml: "kind: bread\nname: a\n", code: .kind, path: "kind", line: 1, fragment: "unknown kind"),
        Case(yaml: "name: a\n", code: .kind, path: nil, line: 1, fragment: "--kind"),
        Case(yaml: "kind: scale\nname: a\ncpu: 1\nmemory: 1GB\n", kind: .breed, code: .kind, path: "kind", line: 1, fragment: "inconsistent kind"),
        Case(yaml: "name: b\nclusters:\n  web:\n    services:\n      - breed: a\n        scale: {name: big, cpu: 1, memory: 1GB}\n", kind: .blueprint, code: .referenceOrAnonymous, path: "clusters.web.services[0].scale.name", line: 6, fragment: "either a reference"),
        Case(yaml: "name: b\nclusters:\n  web:\n    services:\n      - breed: {deployable: x}\n", kind: .blueprint, code: .missingField, path: "clusters.web.services[0].breed.name", line: 5, fragment: "inline breed needs a name"),
        Case(yaml: "kind: gateway\nname: g\nport: 80\nsticky: always\n", code: .invalidValue, path: "sticky", line: 4, fragment: "route, instance or none"),
        Case(yaml: "kind: gateway\nname: g\nport: 80\nroutes:\n  a: {}\n  a: {}\n", code: .syntax, path: nil, line: 6, fragment: "appears twice"),
        Case(yaml: "kind: breed\nname: a\nports: [80\n", code: .syntax, path: nil, line: 4, fragment: "invalid YAML"),
        Case(yaml: "kind: rewrite\nname: r\npath: /new\n", code: .invalidValue, path: "path", line: 3, fragment: "NEW_PATH if CONDITION"),
        Case(yaml: "kind: workflow\nname: w\nbreed: b\nschedule: daemon\nstatus: sleeping\n", code: .invalidValue, path: "status", line: 5, fragment: "illegal workflow status"),
        Case(yaml: "kind: scale\nname: s\ncpu: lots\nmemory: 1GB\n", code: .invalidValue, path: "cpu", line: 3, fragment: "millicores"),
        Case(yaml: "kind: scale\nname: s\ncpu: 1\nmemory: 1GB\ninstances: 1e400\n", code: .invalidValue, path: "instances", line: 5, fragment: "whole number"),
        Case(yaml: "kind: breed\nname: a\nports:\n  web.x: 80\n", code: .illegalName, path: "ports.web.x", line: 4, fragment: "contains '.'"),
        Case(yaml: "kind: event\ntags: [a]\ntimestamp: yesterday\n", code: .invalidValue, path: "timestamp", line: 3, fragment: "ISO-8601"),
        Case(yaml: "kind: breed\nname: a\nenv: {A: 1}\nenvironment_variables: {B: 2}\n", code: .invalidValue, path: "environment_variables", line: 4, fragment: "mean the same"),
        Case(yaml: "kind: breed\nname: a\nports: 8080\n", code: .invalidValue, path: "ports", line: 3, fragment: "expected a map"),
        Case(yaml: "kind: breed\nname: [a]\n", code: .invalidValue, path: "name", line: 2, fragment: "expected text but found a list"),
    ]

    @Test("reading errors", arguments: readingCases)
    func reading(c: Case) {
        do {
            let documents = try DSLReader.read(c.yaml, kind: c.kind)
            Issue.record("expected an error, read \(documents.map(\.artifact.kind))")
        } catch {
            let match = error.errors.first { $0.code == c.code && $0.path == c.path }
            #expect(match != nil, "\(error)")
            #expect(match?.line == c.line, "\(error)")
            #expect(match?.message.contains(c.fragment) == true, "\(error)")
        }
    }

    static let validationCases: [Case] = [
        Case(yaml: "kind: gateway\nname: g\nport: 80\nroutes:\n  a: {weight: 60%}\n  b: {weight: 30%}\n", code: .routeWeight, path: "routes", line: 4, fragment: "90%"),
        Case(yaml: "kind: gateway\nname: g\nport: 80\nroutes:\n  a:\n    weight: 100%\n    condition: user-agent ==\n", code: .condition, path: "routes.a.condition", line: 7, fragment: "does not parse"),
        Case(yaml: "kind: gateway\nname: g\nport: 80/tcp\nsticky: route\n", code: .invalidArtifact, path: "sticky", line: 4, fragment: "http port"),
        Case(yaml: "kind: gateway\nname: g\nport: 80\nvirtual_hosts: [ok.test, \"bad host\"]\n", code: .invalidValue, path: "virtual_hosts[1]", line: 4, fragment: "not a host name"),
        Case(yaml: "kind: breed\nname: a\nports: {web: 80}\nhealth_checks:\n  port: admin\n  initial_delay: 1s\n  timeout: 1s\n  interval: 1s\n  failures: 1\ndeployable: x\n", code: .invalidArtifact, path: "health_checks[0].port", line: 5, fragment: "port 'admin'"),
        Case(yaml: "kind: blueprint\nname: b\ngateways:\n  9050: web/port\n  9050/tcp: web/port\nclusters:\n  web: a:1\n", code: .duplicatePort, path: "gateways.9050/tcp", line: 5, fragment: "unique"),
        Case(yaml: "kind: blueprint\nname: b\nclusters:\n  web:\n    breed:\n      name: a:1\n      dependencies: {db: postgres:9.*}\n      deployable: x\n", code: .unresolvedDependency, path: "clusters.web.services[0].breed.dependencies.db", line: 7, fragment: "postgres:9.*"),
        Case(yaml: "kind: blueprint\nname: b\nclusters:\n  one: a:1\n  two: a:1\n", code: .invalidArtifact, path: "clusters.two.services[0].breed", line: 5, fragment: "already used"),
        Case(yaml: "kind: blueprint\nname: b\nclusters: {}\n", code: .invalidArtifact, path: "clusters", line: 3, fragment: "at least one service"),
        Case(yaml: "kind: blueprint\nname: b\ngateways: {80: api/port}\nclusters:\n  web: a:1\n", code: .invalidArtifact, path: "gateways.80/http.routes.api/port", line: 3, fragment: "cluster 'api'"),
        Case(yaml: "kind: breed\nname: a\nenv:\n  URL: http://$db.host\ndeployable: x\n", code: .invalidValue, path: "environment_variables.URL", line: 4, fragment: "not a dependency alias"),
        Case(yaml: "kind: breed\nname: a\nenv:\n  URL: ${db.host\ndeployable: x\n", code: .invalidValue, path: "environment_variables.URL", line: 4, fragment: "not closed"),
        // Issue 25: a time schedule the scheduler could not run is refused, so it is never stored.
        Case(yaml: "kind: workflow\nname: w\nbreed: b\nschedule:\n  time:\n    period: PT0S\n", code: .invalidValue, path: "schedule.time.period", line: 6, fragment: "is zero"),
        Case(yaml: "kind: workflow\nname: w\nbreed: b\nschedule: {time: P0D}\n", code: .invalidValue, path: "schedule.time.period", line: 4, fragment: "is zero"),
        Case(yaml: "kind: workflow\nname: w\nbreed: b\nschedule:\n  time:\n    period: PT1M\n    start: tomorrow\n", code: .invalidValue, path: "schedule.time.start", line: 7, fragment: "ISO-8601 timestamp"),
        Case(yaml: "kind: workflow\nname: w\nbreed: b\nschedule:\n  time:\n    period: PT1M\n    repeat: 0\n", code: .invalidValue, path: "schedule.time.repeat", line: 7, fragment: "1 or more"),
    ]

    @Test("validation errors carry the source line", arguments: validationCases)
    func validation(c: Case) throws {
        let documents = try DSLReader.read(c.yaml, kind: c.kind)
        let errors = try #require(documents.first).validate()
        let match = errors.first { $0.code == c.code && $0.path == c.path }
        #expect(match?.line == c.line, "\(errors)")
        #expect(match?.message.contains(c.fragment) == true, "\(errors)")
    }

    @Test("with several documents, errors name the document")
    func documentNumbers() throws {
        let results = try DSLReader.readEach("kind: scale\nname: s\ncpu: 1\nmemory: 1GB\n---\nkind: scale\nname: t\ncpu: 1\nmemory: 1\n")
        #expect(results.count == 2)
        guard case .failure(let failure) = results[1], let error = failure.errors.first else {
            Issue.record("the second document should fail")
            return
        }
        #expect(error.document == 2)
        #expect(error.line == 9)
        #expect(error.description.hasPrefix("document 2, scale 't', field memory, line 9:9"))
        #expect(throws: VampErrors.self) { try DSLReader.read("kind: scale\nname: s\ncpu: 1\nmemory: 1GB\n---\nkind: scale\nname: t\ncpu: 1\nmemory: 1\n") }
    }
}
