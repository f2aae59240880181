import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

/// The archive events scripts written for Vamp 0.9.5 wait for: the method decides, not whether the artifact existed.
@Suite("Archive events follow the method")
struct ArchiveEventTests {
    static func operations(_ vamp: Vamp, _ name: String) async throws -> [String] {
        let page = try await vamp.events.events(matching: EventQuery(tags: ["breeds:\(name)"]), page: PageRequest())
        return page.items.reversed().compactMap { $0.tags.first { $0.hasPrefix("archive:") } }
    }

    @Test("PUT publishes archive:update even for a new artifact; POST publishes archive:create even over an existing one")
    func methodDecides() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let breed = try DSLReader.read("kind: breed\nname: web:1.0\ndeployable: acme/web\n")
        _ = try await vamp.apply(breed, intent: .replace, expectedName: "web:1.0")
        _ = try await vamp.apply(breed, intent: .create)
        _ = try await vamp.apply(breed, intent: .replace, expectedName: "web:1.0")
        try await vamp.delete(.breed, name: "web:1.0")
        #expect(try await Self.operations(vamp, "web:1.0") == ["archive:update", "archive:create", "archive:update", "archive:delete"])
    }

    @Test("a multi-document PUT archives every document as an update")
    func multiDocumentPut() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let documents = try DSLReader.read("---\nkind: breed\nname: a:1.0\ndeployable: acme/a\n---\nkind: breed\nname: b:1.0\ndeployable: acme/b\n")
        _ = try await vamp.apply(documents, intent: .replace)
        #expect(try await Self.operations(vamp, "a:1.0") == ["archive:update"])
        #expect(try await Self.operations(vamp, "b:1.0") == ["archive:update"])
    }
}

/// A workflow that sets a variable its stored breed does not declare is refused when it is stored.
@Suite("Workflows and their stored breed")
struct WorkflowBreedTests {
    @Test("a variable the stored breed does not declare is refused, naming it; a declared one and the agent's VAMP_ variables are not")
    func undeclaredVariable() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        _ = try await vamp.apply(try DSLReader.read("kind: breed\nname: job:1.0\ndeployable: {type: command, definition: \"true\"}\nenvironment_variables: {TARGET: \"\"}\n"))
        let refused = await #expect(throws: OperationError.self) {
            _ = try await vamp.apply(try DSLReader.read("kind: workflow\nname: nightly\nbreed: job:1.0\nschedule: daemon\nenvironment_variables: {TARGET: a, OTHER: b}\n"))
        }
        #expect(refused?.message.contains("OTHER") == true, "\(refused?.message ?? "")")
        #expect(refused?.message.contains("line") == true, "the line of the document: \(refused?.message ?? "")")
        #expect(try await vamp.read(.workflow, name: "nightly") == nil)
        _ = try await vamp.apply(try DSLReader.read("kind: workflow\nname: nightly\nbreed: job:1.0\nschedule: daemon\nenvironment_variables: {TARGET: a, VAMP_WORKFLOW_EXECUTION_TIMEOUT: \"60\"}\n"))
        #expect(try await vamp.read(.workflow, name: "nightly") != nil)
    }
}
