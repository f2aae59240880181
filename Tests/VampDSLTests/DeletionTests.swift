import Testing
import VampDSL
import VampModel

/// `DELETE` bodies: cleanup scripts written for Vamp 0.9.5 send short documents; only the kind and name of each
/// are read, except a deployment's, which says what to slice.
@Suite("DELETE documents need only a kind and a name")
struct DeletionTests {
    /// The artifact deletions of `text`, as (kind, name) pairs.
    static func artifacts(_ text: String, kind: ArtifactKind? = nil) throws -> [String] {
        try DSLReader.deletions(text, kind: kind).map { deletion in
            switch deletion {
            case .artifact(let kind, let name): "\(kind)/\(name)"
            case .deployment(let document): "deployment-document/\(document.artifact.name ?? "")"
            }
        }
    }

    @Test("short documents that a full read refuses: a breed without its deployable, a gateway without its port, a scale without cpu")
    func shortDocuments() throws {
        let text = """
            ---
            kind: breed
            name: sava:1.0
            ---
            kind: gateways
            name: shop/9050
            routes: {"[legacy.test:8080]": {weight: 100%}}
            ---
            kind: scale
            name: small
            memory: 256MB
            ---
            kind: blueprint
            name: shop
            clusters: {web: {services: what-a-script-left-here}}
            ---
            kind: workflow
            name: nightly
            porst: a typo nobody reads
            """
        // What the reader refuses when it reads the documents in full.
        #expect(throws: VampErrors.self) { _ = try DSLReader.read(text) }
        #expect(try Self.artifacts(text) == ["breed/sava:1.0", "gateway/shop/9050", "scale/small", "blueprint/shop", "workflow/nightly"])
    }

    @Test("JSON bodies and a top-level list read the same")
    func jsonList() throws {
        let text = #"[{"kind": "breeds", "name": "a:1"}, {"kind": "condition", "name": "beta", "condition": ""}]"#
        #expect(try Self.artifacts(text) == ["breed/a:1", "condition/beta"])
    }

    @Test("the endpoint's kind stands for a missing kind; a document saying another is refused")
    func givenKind() throws {
        #expect(try Self.artifacts("name: a:1\n", kind: .breed) == ["breed/a:1"])
        #expect {
            _ = try DSLReader.deletions("kind: scale\nname: s\n", kind: .breed)
        } throws: { error in
            let found = (error as? VampErrors)?.errors ?? []
            return found.count == 1 && found[0].code == .kind && found[0].message.contains("inconsistent kind") && found[0].line == 1
        }
    }

    @Test("a deployment's document is read in full: what to slice")
    func deployment() throws {
        let text = "kind: breed\nname: a:1\n---\nkind: deployment\nname: shop\nclusters:\n  web:\n    services: [{breed: a:1}]\n"
        let deletions = try DSLReader.deletions(text)
        #expect(deletions.count == 2)
        guard case .deployment(let document) = deletions[1], case .blueprint(let blueprint) = document.artifact else {
            Issue.record("expected the deployment read as a blueprint to slice, got \(deletions)")
            return
        }
        #expect(document.isDeploymentRequest)
        #expect(blueprint.name == "shop")
        #expect(blueprint.clusters.map(\.name) == ["web"])
        #expect(blueprint.clusters[0].services.map(\.breedName) == ["a:1"])
    }

    @Test("a deployment's document still has to read: its errors carry their lines")
    func badDeployment() {
        #expect {
            _ = try DSLReader.deletions("kind: breed\nname: a:1\n---\nkind: deployment\nname: shop\nclusters:\n  web:\n    services: [{breed: a:1, scael: x}]\n")
        } throws: { error in
            let found = (error as? VampErrors)?.errors ?? []
            return found.contains { $0.code == .unexpectedKey && $0.line == 8 && $0.document == 2 }
        }
    }

    struct Refused: Sendable, CustomStringConvertible {
        var text: String
        var code: VampError.Code
        var path: String?
        var line: Int
        var document: Int?
        var fragment: String
        var description: String { "\(code) \(path ?? "-") line \(line)" }
    }

    static let refused: [Refused] = [
        Refused(text: "kind: breed\ndeployable: acme/a:1\n", code: .missingField, path: "name", line: 1, fragment: "names the breed to delete"),
        Refused(text: "kind: breed\nname: a:1\n---\nkind: bread\nname: b\n", code: .kind, path: "kind", line: 4, document: 2, fragment: "unknown kind"),
        Refused(text: "name: a:1\n", code: .kind, path: nil, line: 1, fragment: "no 'kind'"),
        Refused(text: "kind: breed\nname: ~\n", code: .invalidValue, path: "name", line: 2, fragment: "expected text but found null"),
        Refused(text: "kind: breed\nname: [a]\n", code: .invalidValue, path: "name", line: 2, fragment: "found a list"),
        Refused(text: "kind: breed\nname: a b\n", code: .illegalName, path: "name", line: 2, fragment: "illegal name"),
        Refused(text: "kind: gateway\nname: \"a b/9050\"\n", code: .illegalName, path: "name", line: 2, fragment: "illegal name"),
        Refused(text: "- kind: breed\n  name: a:1\n- just text\n", code: .invalidValue, path: nil, line: 3, document: 2, fragment: "expected an artifact"),
        Refused(text: "kind: breed\nname: a:1\nports: [80\n", code: .syntax, path: nil, line: 4, fragment: "invalid YAML"),
    ]

    @Test("what cannot name an artifact is refused with the line", arguments: refused)
    func refusedDocuments(c: Refused) {
        do {
            let deletions = try DSLReader.deletions(c.text)
            Issue.record("expected an error, read \(deletions)")
        } catch {
            let match = error.errors.first { $0.code == c.code && $0.path == c.path }
            #expect(match != nil, "\(error)")
            #expect(match?.line == c.line, "\(error)")
            #expect(match?.document == c.document, "\(error)")
            #expect(match?.message.contains(c.fragment) == true, "\(error)")
        }
    }

    @Test("every document's error at once")
    func everyError() {
        #expect {
            _ = try DSLReader.deletions("kind: breed\n---\nkind: scale\nname: s\n---\nkind: bread\nname: x\n")
        } throws: { error in
            let found = (error as? VampErrors)?.errors ?? []
            return found.map(\.document) == [1, 3] && found.map(\.code) == [.missingField, .kind]
        }
    }

    @Test("the reader's limits still hold")
    func limits() {
        let limits = DSLLimits(maximumBytes: 1 << 10, maximumDepth: 8)
        #expect(throws: VampErrors.self) {
            _ = try DSLReader.deletions("kind: breed\nname: a:1\nmetadata: \"" + String(repeating: "x", count: 2 << 10) + "\"\n", limits: limits)
        }
        #expect {
            _ = try DSLReader.deletions("kind: breed\nname: a:1\nmetadata: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n", limits: limits)
        } throws: { error in
            ((error as? VampErrors)?.errors ?? []).contains { $0.code == .limit }
        }
    }
}
