import Foundation
import Testing
import VampDSL
import VampModel

/// The fixture corpus: each file holds a short form and its expanded form; both must read to
/// the same artifact.
@Suite("Short forms expand (fixture corpus)")
struct ShortFormTests {
    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("short-forms")
    static let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()) ?? []

    @Test("the corpus is there")
    func corpus() {
        #expect(Self.files.count >= 15)
    }

    @Test("short and expanded forms read to the same model", arguments: files)
    func pair(file: String) throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
        let documents = try DSLReader.read(text)
        try #require(documents.count == 2, "\(file) must hold a short and an expanded document")
        #expect(documents[0].artifact == documents[1].artifact, "\(file)")
        // Both forms are valid apart from unresolved references, which are fine in stored artifacts.
        let errors = documents[0].validate().filter { $0.code != .unresolvedDependency }
        #expect(errors.isEmpty, "\(file): \(errors)")
    }

    @Test("every artifact kind reads from the examples and the corpus")
    func everyKind() throws {
        var kinds = Set<ArtifactKind>()
        for file in Self.files {
            let text = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
            for document in try DSLReader.read(text) { kinds.insert(document.artifact.kind) }
        }
        let extra = """
        ---
        kind: route
        name: r
        weight: 50%
        ---
        kind: condition
        name: c
        condition: has cookie x
        ---
        kind: rewrite
        name: rw
        path: /x if { path_beg /y }
        ---
        kind: template
        name: t
        definition: {scale: {cpu: 1}}
        ---
        kind: release
        name: sava-1.1
        deployment: shop
        cluster: web
        port: web
        baseline: catalog:2.1
        canary: catalog:2.2
        steps: [10%, 100%]
        ---
        kind: event
        tags: [deployments:shop, health]
        value: 0.9
        timestamp: 2017-06-01T12:00:00Z
        type: health
        ---
        kind: deployment
        name: shop
        clusters:
          web:
            services:
              - status: {intention: Deployment, since: "2017-06-01T12:00:00Z", phase: {name: Done, since: "2017-06-01T12:00:05.250Z"}}
                breed: {name: catalog:2.1, deployable: acme/catalog:2.1, ports: {web: 8080/http}}
                scale: {cpu: 0.5, memory: 256.00MB, instances: 1}
                instances: [{name: shop_web-1, host: 10.0.0.7, ports: {web: 31107}, deployed: true}]
                dependencies: {}
                health: {staged: 0, running: 1, healthy: 1, unhealthy: 0}
            gateways:
              web: {routes: {catalog:2.1: {weight: 100%}}}
        ports: {web.web: 40001}
        hosts: {web: 10.0.0.2}
        ---
        kind: secret
        name: shop-cert
        certificate: |
          -----BEGIN CERTIFICATE-----
          MIIB
          -----END CERTIFICATE-----
          -----BEGIN PRIVATE KEY-----
          MIGH
          -----END PRIVATE KEY-----
        """
        for document in try DSLReader.read(extra) { kinds.insert(document.artifact.kind) }
        #expect(kinds == Set(ArtifactKind.allCases))
    }

    @Test("a top-level list yields several artifacts, each with its kind")
    func topLevelList() throws {
        let documents = try DSLReader.read("- {kind: scale, name: s, cpu: 1, memory: 1GB}\n- {kind: breed, name: b:1, deployable: acme/b:1}\n")
        #expect(documents.map(\.artifact.kind) == [.scale, .breed])
        #expect(documents.map(\.index) == [1, 2])
    }

    @Test("a given kind applies to documents without one")
    func givenKind() throws {
        let documents = try DSLReader.read("name: s\ncpu: 1\nmemory: 1GB\n", kind: .scale)
        #expect(documents.first?.artifact == .scale(Scale(name: "s", cpu: CPU(cores: 1)!, memory: Memory(megabytes: 1024)!)))
    }
}
