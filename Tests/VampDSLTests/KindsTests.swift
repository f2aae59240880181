import Foundation
import Testing
import VampDSL
import VampModel

/// The kinds the server reads besides artifacts: events (`POST /events`), event queries
/// (`GET /events` with a body), templates with `import:`, and docker-compose files.
/// Fixtures in `Fixtures/kinds/<kind>/{accepted,refused}`; refusals name their fields in
/// `# expect: PATH | FRAGMENT` lines.
@Suite("Events, event queries, templates and docker-compose (fixture corpus)")
struct KindsTests {
    static let base = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("kinds")
    static let kinds = ["event", "event-query", "template", "docker-compose"]

    static func cases(_ outcome: String) -> [String] {
        kinds.flatMap { kind in
            ((try? FileManager.default.contentsOfDirectory(atPath: base.appendingPathComponent("\(kind)/\(outcome)").path)) ?? [])
                .filter { $0.hasSuffix(".yaml") }.sorted().map { "\(kind)/\(outcome)/\($0)" }
        }
    }

    static func text(_ file: String) throws -> String {
        try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
    }

    /// Reads a fixture as its kind, the way the server and `vamp validate --kind` do.
    static func read(_ file: String) throws(VampErrors) -> Any {
        let text: String
        do { text = try Self.text(file) } catch { throw VampErrors([VampError(.syntax, "\(error)")]) }
        switch file.split(separator: "/")[0] {
        case "event": return try DSLReader.events(text)
        case "event-query": return try DSLReader.eventQuery(text)
        case "template": return try DSLReader.load(text, imports: DSLReader.templates(in: [text]))
        default: return try DockerCompose.blueprint(from: text, name: "shop")
        }
    }

    @Test("the corpus is there")
    func corpus() {
        #expect(Self.cases("accepted").count >= 7)
        #expect(Self.cases("refused").count >= 14)
    }

    @Test("accepted", arguments: cases("accepted"))
    func accept(file: String) {
        do { _ = try Self.read(file) } catch { Issue.record("\(file) was refused:\n\(error)") }
    }

    @Test("refused, with every expected error at its field and line", arguments: cases("refused"))
    func refuse(file: String) throws {
        let expected = try Self.text(file).split(separator: "\n").filter { $0.hasPrefix("# expect: ") }.map { line in
            let parts = line.dropFirst("# expect: ".count).split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return (path: parts[0], fragment: parts[1])
        }
        try #require(!expected.isEmpty)
        do {
            _ = try Self.read(file)
            Issue.record("\(file) was accepted")
        } catch {
            for (path, fragment) in expected {
                let match = error.errors.first { $0.path == path && $0.message.contains(fragment) }
                #expect(match != nil, "\(file): no error at \(path) saying '\(fragment)'; got:\n\(error)")
                #expect(match?.line != nil, "\(file): the error at \(path) has no line")
            }
            if file.hasSuffix("every-error.yaml") { #expect(error.errors.count == expected.count, "\(error)") }
        }
    }

    @Test("events: tags, value, timestamp with its offset, default type")
    func events() throws {
        let events = try DSLReader.events(try Self.text("event/accepted/events.yaml"))
        try #require(events.count == 3)
        #expect(events[0].tags == ["deployments:shop", "clusters:web", "health"])
        #expect(events[0].value == .number("0.97"))
        #expect(events[0].timestamp == Date(timeIntervalSince1970: 1_496_311_200))
        #expect(events[0].type == "health")
        #expect(events[1].tags == ["synchronization:deployed"])
        #expect(events[1].type == "event")
        #expect(events[1].value == .object(["instances": .number("2"), "since": .string("2017-06-01T12:00:05.250Z")]))
        #expect(abs(events[2].timestamp.timeIntervalSinceNow) < 60, "no timestamp means now")
    }

    @Test("event queries keep date math for the store to resolve")
    func eventQuery() throws {
        let query = try DSLReader.eventQuery(try Self.text("event-query/accepted/date-math.yaml"))
        #expect(query == EventQueryRequest(
            tags: ["deployments:shop", "health"], type: "health", timestamp: .init(lt: "now", gte: "now-1m"),
            aggregator: .average, aggregatorField: "value"))
        let count = try DSLReader.eventQuery(try Self.text("event-query/accepted/tags-only.yaml"))
        #expect(count.tags == ["gateways:shop/9050"])
        #expect(count.aggregator == .count)
        for good in ["now", "now-30s", "now+2h/d", "now/M", "2017-06-01T12:00:00Z", "2017-06-01T12:00:00.5+02:00||-1h", "1496275200000",
                     "now()", "now() - 10m", "now()-10m", "now - 1h / d", "2017-06-01T12:00:00Z || -1h"] {
            #expect(EventQueryRequest.isTimeExpression(good), "\(good)")
        }
        for bad in ["", "yesterday", "now-", "now-1x", "2017-06-01", "2017-06-01T12:00:00", "1||2||3", "now() -", "now() - 10 m", "now(", "now() 10m"] {
            #expect(!EventQueryRequest.isTimeExpression(bad), "\(bad)")
        }
    }

    @Test("import: the template's definition is merged under the document, whose own keys win")
    func imports() throws {
        let text = """
        kind: blueprint
        name: shop
        import: [web-scale, blueprints/base]
        clusters:
          web:
            breed: catalog:2.1
            scale: {cpu: 1, memory: 1GB}
        """
        #expect(try DSLReader.importReferences(in: text) == [ImportReference(name: "web-scale"), ImportReference(kind: "blueprints", name: "base")])
        let imports: [ImportReference: [String: JSONValue]] = [
            ImportReference(name: "web-scale"): ["clusters": .object(["web": .object(["scale": .object(["cpu": .number("0.5"), "memory": .string("256MB")])])])],
            ImportReference(kind: "blueprints", name: "base"): ["environment_variables": .object(["web.LOG_LEVEL": .string("debug")])],
        ]
        let documents = try DSLReader.load(text, imports: imports)
        guard case .blueprint(let blueprint) = documents[0].artifact else {
            Issue.record("expected a blueprint")
            return
        }
        #expect(blueprint.clusters[0].services[0].scale == .inline(Scale(cpu: CPU(cores: 1)!, memory: Memory(megabytes: 1024)!)))
        #expect(blueprint.environmentVariables == [EnvironmentVariable(name: "web.LOG_LEVEL", value: "debug")])

        let local = try DSLReader.load(try Self.text("template/accepted/import.yaml"), imports: DSLReader.templates(in: [try Self.text("template/accepted/import.yaml")]))
        guard case .blueprint(let imported) = local[1].artifact else { return }
        #expect(imported.clusters[0].services[0].scale == .inline(Scale(cpu: CPU(cores: 0.5)!, memory: Memory(megabytes: 256)!, instances: 2)))
    }

    @Test("docker-compose: services become clusters with inline breeds, references for service:port values")
    func dockerCompose() throws {
        let conversion = try DockerCompose.blueprint(from: try Self.text("docker-compose/accepted/shop.yaml"), name: "shop")
        let blueprint = conversion.blueprint
        #expect(blueprint.name == "shop")
        #expect(blueprint.clusters.map(\.name) == ["web", "db", "cache"])
        guard case .inline(let web) = blueprint.clusters[0].services[0].breed, case .inline(let db) = blueprint.clusters[1].services[0].breed,
              case .inline(let cache) = blueprint.clusters[2].services[0].breed else {
            Issue.record("expected inline breeds")
            return
        }
        #expect(web.name == "web:1.0.0")
        #expect(web.deployable == Deployable(definition: "acme/web:1.0"))
        #expect(web.ports == [BreedPort(name: "port_80", number: 80), BreedPort(name: "port_9000", number: 9000, type: .tcp)])
        #expect(web.environmentVariables == [
            EnvironmentVariable(name: "DB_HOST", value: "$db.host:$db.ports.port_5432"), EnvironmentVariable(name: "LOG_LEVEL", value: "info"),
        ])
        #expect(web.dependencies == [Dependency(alias: "db", breed: .reference("db:1.0.0"))])
        #expect(blueprint.clusters[0].services[0].dialects == ["docker": .string("serve --port 80")])
        #expect(db.ports == [BreedPort(name: "port_5432", number: 5432)])
        #expect(db.environmentVariables == [EnvironmentVariable(name: "POSTGRES_DB", value: "shop")])
        #expect(cache.dependencies == [Dependency(alias: "database", breed: .reference("db:1.0.0"))])
        #expect(cache.ports == [BreedPort(name: "port_6379", number: 6379, type: .tcp)])
        #expect(conversion.notes.contains("Ignored host port: 8080 of 'web'."))
        #expect(conversion.notes.contains("Did not include unsupported field: 'volumes'."))
        #expect(conversion.notes.contains("Did not include unsupported field: 'volumes' of service 'db'."))
        #expect(conversion.notes.contains("Created port: 'port_5432' in breed: 'db:1.0.0'."))
        // The converted blueprint is a valid document in its own right.
        #expect(try DSLReader.load(conversion.yaml).map(\.artifact) == [.blueprint(blueprint)])
    }
}
