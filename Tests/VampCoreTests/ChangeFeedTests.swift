import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

/// The change feed: any number of subscribers, each reading the store's change log on its own.
@Suite("Change feed")
struct ChangeFeedTests {
    static func breed(_ name: String) throws -> [DSLDocument] {
        try DSLReader.read("kind: breed\nname: \(name)\ndeployable: acme/\(name.prefix(1))\n")
    }

    /// The first `count` changes a subscription yields, or fewer when `timeout` passes first.
    static func first(_ count: Int, of changes: ChangeFeed.Changes, timeout: Duration = .seconds(10)) async throws -> [ArtifactChange] {
        try await withThrowingTaskGroup(of: [ArtifactChange].self) { group in
            group.addTask {
                var seen: [ArtifactChange] = []
                for try await change in changes {
                    seen.append(change)
                    if seen.count == count { break }
                }
                return seen
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return []
            }
            let result = try await group.next() ?? []
            group.cancelAll()
            return result
        }
    }

    @Test("two subscribers both see every change, in order; neither takes a change from the other")
    func twoSubscribers() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let start = try await vamp.changes.position()
        let first = vamp.changes.changes(after: start), second = vamp.changes.changes(after: start)
        for name in ["a:1.0", "b:1.0", "c:1.0"] { _ = try await vamp.apply(try Self.breed(name)) }
        async let one = Self.first(3, of: first)
        async let two = Self.first(3, of: second)
        let (seenByFirst, seenBySecond) = try await (one, two)
        #expect(seenByFirst.map(\.name) == ["a:1.0", "b:1.0", "c:1.0"])
        #expect(seenBySecond.map(\.name) == ["a:1.0", "b:1.0", "c:1.0"])
    }

    @Test("a subscriber that was away resumes from the last position it saw; kinds filter what it gets")
    func resume() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        _ = try await vamp.apply(try Self.breed("a:1.0"))
        let seen = try await vamp.changes.position()
        _ = try await vamp.apply(try Self.breed("b:1.0"))
        _ = try await vamp.apply(try DSLReader.read("name: web\nport: 9050/http\nroutes:\n  \"[127.0.0.1:8081]\": {weight: 100%}\n", kind: .gateway))
        let resumed = try await Self.first(2, of: vamp.changes.changes(after: seen))
        #expect(resumed.map(\.name) == ["b:1.0", "web"], "what happened while it was away, and nothing from before")
        let gateways = try await Self.first(1, of: vamp.changes.changes(after: 0, of: [.gateway]))
        #expect(gateways.map(\.kind) == ["gateways"])
    }
}
