@testable import ContainerDrivers
import Foundation
import NIOHTTP1
import Synchronization
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// What the drivers share: the background work of run(), the polling watcher, the JSON-over-HTTP client.
@Suite("Shared driver plumbing")
struct SharedPlumbingTests {
    /// Which jobs ran and ended.
    final class Journal: Sendable {
        private let entries = Mutex<[String]>([])
        func note(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
        func contains(_ entry: String) -> Bool { all.contains(entry) }
    }

    static func eventually(within timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    /// Runs until cancelled, noting its start and end.
    static func longJob(_ name: String, _ journal: Journal) -> BackgroundWork.Work {
        {
            journal.note("\(name) started")
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) }
            journal.note("\(name) ended")
        }
    }

    @Test func jobsWaitForRunEachCanBeCancelledAndAllEndWithIt() async throws {
        let work = BackgroundWork()
        let journal = Journal()
        let early = work.start(Self.longJob("early", journal))
        let never = work.start(Self.longJob("never", journal))
        work.cancel(never)
        #expect(early != nil)
        #expect(journal.all.isEmpty, "a job ran before run()")

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await work.run() }
            #expect(await Self.eventually { journal.contains("early started") })
            let late = work.start(Self.longJob("late", journal))
            #expect(await Self.eventually { journal.contains("late started") })
            work.cancel(late)
            #expect(await Self.eventually { journal.contains("late ended") })
            #expect(!journal.contains("early ended"))
            // A second run() returns at once.
            await work.run()
            group.cancelAll()
        }
        // run() returned: every job has ended; one cancelled before it started never ran; nothing starts any more.
        #expect(journal.contains("early ended"))
        #expect(!journal.all.contains { $0.hasPrefix("never") })
        #expect(work.start(Self.longJob("after", journal)) == nil)
    }

    /// A number several tasks add to.
    final class Tally: Sendable {
        private let value = Mutex(0)
        /// Adds one; returns the value before.
        @discardableResult
        func add() -> Int {
            value.withLock { value in
                defer { value += 1 }
                return value
            }
        }
        var count: Int { value.withLock { $0 } }
    }

    @Test func theWatcherNoticesOnlyChangesAndSkipsFailedLooks() async throws {
        let clock = TestClock()
        let script: [[String]?] = [["a"], ["a"], ["b"], nil, ["b"], ["c"], ["c"]]
        let looks = Tally()
        let changes = Tally()
        let watcher = PollingWatcher(interval: .seconds(1), look: {
            let look = looks.add()
            return look < script.count ? script[look] : ["c"]
        }, clock: clock)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await watcher.run { changes.add() } }
            var seen: [Int] = []
            for _ in script.indices {
                #expect(await clock.waitForSleepers(1))
                seen.append(changes.count)
                await clock.advance(by: .seconds(1))
            }
            // The first look is the baseline; a, a: nothing; b: one; nil: skipped; b: nothing; c: two; c: nothing.
            #expect(seen == [0, 0, 1, 1, 1, 2, 2])
            group.cancelAll()
        }
        #expect(looks.count >= script.count)
    }

    /// A port where the kernel accepts connections (the listen backlog) but nothing ever answers.
    static func silentPort() throws -> (port: Int, socket: Int32) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw FixtureError("cannot listen on 127.0.0.1") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (Int(UInt16(bigEndian: address.sin_port)), fd)
    }

    /// The timeout keeps its sub-seconds (a `Duration` cut to whole seconds made 1.5 s into 1 s, and 300 ms into none),
    /// and the error names the server, the call and keeps what went wrong.
    @Test func aTimeoutKeepsItsSubSecondsAndTheErrorItsCause() async throws {
        let (port, fd) = try Self.silentPort()
        defer { close(fd) }
        let client = JSONHTTPClient(endpoint: .url("http://127.0.0.1:\(port)"), name: "the silent server", timeout: .milliseconds(1500)) { _, _, _ in
            ContainerDriverError("unexpected answer")
        }
        let started = ContinuousClock.now
        let error = await #expect(throws: ContainerDriverError.self) { try await client.call(.GET, "/v2/apps", query: [("label", "io.vamp")]) }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(1400), "waited \(waited)")
        #expect(waited < .seconds(10), "waited \(waited)")
        #expect(error?.permanent == false)
        #expect(error?.message.contains("the silent server did not answer GET /v2/apps") == true, "\(error?.message ?? "")")
        #expect(error?.cause != nil)
        // The cause is not part of equality.
        #expect(error == ContainerDriverError(error?.message ?? "", permanent: false))
    }

    @Test func queriesArePercentEncoded() {
        #expect(JSONHTTPClient.queryString([]) == "")
        #expect(JSONHTTPClient.queryString([("all", "true"), ("filters", #"{"label":["io.vamp=x y"]}"#)])
            == "?all=true&filters=%7B%22label%22%3A%5B%22io.vamp%3Dx%20y%22%5D%7D")
    }
}
