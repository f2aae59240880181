import Foundation
import Persistence
import Testing
import VampModel
import VampTesting

/// A child process writes to SQLite in a loop and is killed with SIGKILL; every write it had
/// acknowledged must be there after reopening, and the file must pass `PRAGMA integrity_check`.
@Suite("SQLite crash safety")
struct SQLiteCrashSafetyTests {
    /// `PersistenceCrashWriter`, built by SwiftPM next to the test binary.
    static func writerExecutable() throws -> URL {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let writer = folder.appendingPathComponent("PersistenceCrashWriter")
        guard FileManager.default.isExecutableFile(atPath: writer.path) else {
            throw FixtureError("\(writer.path) is missing: build it with `swift build --build-tests` first")
        }
        return writer
    }

    @Test("acknowledged writes survive SIGKILL")
    func killedWriter() async throws {
        let writer = try Self.writerExecutable()
        let folder = try TemporaryDirectory(prefix: "vamp-crash")
        defer { folder.remove() }
        let database = folder.url.appendingPathComponent("vamp.sqlite").path
        var acknowledged: [Int] = []

        for round in 0..<3 {
            let process = Process()
            process.executableURL = writer
            process.arguments = [database, String(round * 1_000_000)]
            // stdout to a file: each acknowledgement is a write(2) that is complete before the
            // writer goes on, so after the kill the file holds every acknowledged step.
            let outputFile = folder.url.appendingPathComponent("acknowledged-\(round).txt")
            let errorFile = folder.url.appendingPathComponent("stderr-\(round).txt")
            _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: outputFile)
            process.standardError = try FileHandle(forWritingTo: errorFile)
            try process.run()
            // Kill it mid-stream: once it has acknowledged something, after a varying delay.
            try await waitUntil(timeout: .seconds(30), "the crash writer's first acknowledgement") {
                ((try? FileManager.default.attributesOfItem(atPath: outputFile.path)[.size] as? Int) ?? 0) > 0
                    || !process.isRunning
            }
            try await Task.sleep(for: .milliseconds(150 + 150 * round))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            #expect(process.terminationReason == .uncaughtSignal, "the writer stopped by itself: \(stderr)")
            let text = try String(contentsOf: outputFile, encoding: .utf8)
            // Only complete lines are acknowledgements.
            let steps = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { Int($0) }
            try #require(!steps.isEmpty, "the writer acknowledged nothing before it was killed; stderr: \(stderr)")
            acknowledged += steps
        }

        let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: database))
        #expect(try await store.integrityCheck() == ["ok"])
        let events = try await store.events(matching: EventQuery(tags: ["crash"]), page: PageRequest(perPage: 1_000_000))
        let eventIDs = Set(events.items.compactMap(\.id))
        var artifactNames: Set<String> = []
        var page = 1
        while true {
            let batch = try await store.list(kind: "breeds", page: PageRequest(page: page, perPage: 1000))
            artifactNames.formUnion(batch.items.map(\.name))
            if batch.items.isEmpty { break }
            page += 1
        }
        let lostArtifacts = acknowledged.filter { !artifactNames.contains("b\($0)") }
        let lostEvents = acknowledged.filter { !eventIDs.contains("e\($0)") }
        #expect(lostArtifacts.isEmpty, "acknowledged artifacts missing after SIGKILL: \(lostArtifacts.prefix(10))")
        #expect(lostEvents.isEmpty, "acknowledged events missing after SIGKILL: \(lostEvents.prefix(10))")
        // The change log agrees with the table: one create per stored artifact.
        let creates = try await store.changes(after: 0, limit: 10_000_000).filter { $0.operation == .create }
        #expect(Set(creates.map(\.name)) == artifactNames)
        // And the reopened store still takes writes.
        _ = try await store.create(kind: "breeds", name: "after-crash", body: Data(json: "{}"))
    }
}
