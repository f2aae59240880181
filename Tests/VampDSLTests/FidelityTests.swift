import Foundation
import Testing
import VampDSL
import VampModel

/// Documents in the forms Vamp 0.9.5 accepted are accepted; those it refused are refused, with
/// the field named. Fixtures in `Fixtures/fidelity/{accepted,refused}`, written from the
/// original's documented forms.
@Suite("Fidelity with Vamp 0.9.5 (fixture corpus)")
struct FidelityTests {
    static let base = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("fidelity")
    static func files(_ folder: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: base.appendingPathComponent(folder).path).filter { $0.hasSuffix(".yaml") }.sorted()) ?? []
    }
    static let accepted = files("accepted")
    static let refused = files("refused")

    static func text(_ folder: String, _ file: String) throws -> String {
        try String(contentsOf: base.appendingPathComponent(folder).appendingPathComponent(file), encoding: .utf8)
    }

    @Test("the corpus is there")
    func corpus() {
        #expect(Self.accepted.count >= 14)
        #expect(Self.refused.count >= 16)
    }

    /// Each file's first document is the 0.9.5 form; a second one, when present, is the same
    /// artifact written in the forms this reader already took.
    @Test("accepted: reads and validates; the same as its expanded form; survives a round trip", arguments: accepted)
    func accept(file: String) throws {
        let documents: [DSLDocument]
        do {
            documents = try DSLReader.load(try Self.text("accepted", file))
        } catch {
            Issue.record("\(file) was refused:\n\(error)")
            return
        }
        try #require(!documents.isEmpty)
        if documents.count == 2 { #expect(documents[0].artifact == documents[1].artifact, "\(file)") }
        let artifacts = documents.map(\.artifact)
        let yaml = DSLWriter.yaml(artifacts)
        #expect(try DSLReader.load(yaml).map(\.artifact) == artifacts, "\(file)\n\(yaml)")
        #expect(try DSLReader.load(DSLWriter.json(artifacts)).map(\.artifact) == artifacts, "\(file)")
    }

    /// `# expect: PATH | MESSAGE FRAGMENT` lines: each names an error the file must produce.
    @Test("refused: every expected error, with its field and line", arguments: refused)
    func refuse(file: String) throws {
        let text = try Self.text("refused", file)
        let expected = text.split(separator: "\n").filter { $0.hasPrefix("# expect: ") }.map { line in
            let parts = line.dropFirst("# expect: ".count).split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return (path: parts[0], fragment: parts[1])
        }
        try #require(!expected.isEmpty, "\(file) names no expected error")
        do {
            let documents = try DSLReader.load(text)
            Issue.record("\(file) was accepted: \(documents.map(\.artifact.kind))")
        } catch {
            for (path, fragment) in expected {
                let match = error.errors.first { $0.path == path && $0.message.contains(fragment) }
                #expect(match != nil, "\(file): no error at \(path) saying '\(fragment)'; got:\n\(error)")
                #expect(match?.line != nil, "\(file): the error at \(path) has no line")
            }
            if file == "every-error.yaml" { #expect(error.errors.count == expected.count, "\(error)") }
        }
    }

    @Test("a port reference is kept in the canonical form and resolved against the dependency")
    func portReference() throws {
        let documents = try DSLReader.load(try Self.text("accepted", "port-reference.yaml"))
        guard case .blueprint(let blueprint) = documents[0].artifact, case .inline(let breed) = blueprint.clusters[0].services[0].breed else {
            Issue.record("expected a blueprint with an inline breed")
            return
        }
        #expect(breed.ports == [BreedPort(name: "web", number: nil, type: .http, reference: "${db.constants.port}")])
    }

    @Test("a blueprint gateway keyed by a name takes its port from inside")
    func namedBlueprintGateway() throws {
        let documents = try DSLReader.load(try Self.text("accepted", "blueprint-gateway-named.yaml"))
        guard case .blueprint(let blueprint) = documents[0].artifact else { return }
        #expect(blueprint.gateways.map(\.name) == ["web", "admin"])
        #expect(blueprint.gateways.map(\.port) == [GatewayPort(number: 8080), GatewayPort(number: 8081)])
        #expect(blueprint.gateways[0].routes.map(\.path) == ["cluster/web"])
    }

    @Test("a cluster gateway without a port name is bound at deployment, or refused there when ambiguous")
    func bindAtDeployment() throws {
        let documents = try DSLReader.load(try Self.text("accepted", "cluster-gateway-unknown-ports.yaml"))
        guard case .blueprint(let blueprint) = documents[0].artifact else { return }
        #expect(blueprint.clusters[0].gateways.map(\.name) == [""])
        #expect(blueprint.clusters[0].gateways[0].sticky == .route)
        let onePort = { (name: String) -> Breed? in Breed(name: name, deployable: Deployable(definition: "x"), ports: [BreedPort(name: "web", number: 80)]) }
        let bound = try blueprint.bindingClusterGateways(breeds: onePort)
        #expect(bound.clusters[0].gateways.map(\.name) == ["web"])
        #expect(bound.clusters[0].gateways[0].routes.map(\.weight) == [Percentage(90), Percentage(10)])
        let twoPorts = { (name: String) -> Breed? in
            Breed(name: name, deployable: Deployable(definition: "x"), ports: [BreedPort(name: "web", number: 80), BreedPort(name: "admin", number: 81)])
        }
        #expect {
            _ = try blueprint.bindingClusterGateways(breeds: twoPorts)
        } throws: { error in
            let errors = (error as? VampErrors)?.errors ?? []
            return errors.count == 1 && errors[0].path == "clusters.web.gateways" && errors[0].message.contains("2 ports (web, admin)")
        }
        #expect(throws: VampErrors.self) { _ = try blueprint.bindingClusterGateways(breeds: { _ in nil }) }
    }

    @Test("the every-error document lists its errors in line order")
    func errorOrder() throws {
        do {
            _ = try DSLReader.load(try Self.text("refused", "every-error.yaml"))
            Issue.record("accepted")
        } catch let error as VampErrors {
            let lines = error.errors.compactMap(\.line)
            #expect(lines.count == error.errors.count)
            #expect(lines == lines.sorted(), "\(error)")
        }
    }
}
