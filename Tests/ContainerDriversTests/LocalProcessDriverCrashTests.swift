@testable import ContainerDrivers
import Foundation
import Testing
import VampModel

#if canImport(Glibc)
import Glibc
#endif

/// ``LocalProcessDriver`` after its server was killed with SIGKILL: the server is `ContainerDriverCrashServer`, a real
/// process running the driver on a state folder, killed at random moments or at a crash point; a driver made on the
/// folder afterwards must neither leak a process nor run two for one instance. The processes are found by a variable
/// the test gives them (`CRASH_TEST_TAG`), not by anything the driver writes.
@Suite("LocalProcessDriver crashes", .serialized)
struct LocalProcessDriverCrashTests {
    typealias Base = LocalProcessDriverTests

    /// A state folder and a tag; whatever the test did, every process with the tag is killed at the end.
    static func withFixture(_ body: (LocalProcessDriverTests.Fixture, String) async throws -> Void) async throws {
        let tag = UUID().uuidString
        defer { killTaggedProcesses(tag) }
        try await Base.withFixture { fixture in try await body(fixture, tag) }
    }

    /// The crash server's command for `serve`: sava on its `PORT`, behind a shell that stays its parent (so an
    /// instance is a process group of two).
    static var savaCommand: String { "echo \"starting on $PORT\"; '\(Base.sava)' --text \"served-$PORT\"; exit $?" }

    /// The instance records on disk, as JSON objects.
    static func records(_ fixture: LocalProcessDriverTests.Fixture) -> [[String: Any]] {
        let services = fixture.directory.appendingPathComponent("services")
        var records: [[String: Any]] = []
        for folder in (try? FileManager.default.contentsOfDirectory(at: services, includingPropertiesForKeys: nil)) ?? [] {
            for file in (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
            where file.lastPathComponent.hasPrefix("instance-") {
                if let data = try? Data(contentsOf: file), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    records.append(object)
                }
            }
        }
        return records
    }

    static let served = ServiceIdentity(deployment: "crash", cluster: "c", service: "serve")

    /// The finding of issue 23: servers killed at random moments while services are deployed and undeployed. Each
    /// later server adopts what the killed one left; at the end a driver on the folder has exactly one process (one
    /// session) per recorded instance, and once everything is undeployed no process of the test is left.
    @Test func aServerKilledAtRandomMomentsNeitherLeaksNorDoublesProcesses() async throws {
        try await Self.withFixture { fixture, tag in
            var delays: [Int] = []
            let started = ContinuousClock.now
            for round in 0..<20 {
                let server = try CrashServer(
                    ["local", fixture.directory.path, "churn", "--tag", tag],
                    output: fixture.directory.appendingPathComponent("server-\(round).log"))
                try await server.waitForLine("ack")
                let delay = Int.random(in: 0...300)
                delays.append(delay)
                try await Task.sleep(for: .milliseconds(delay))
                await server.kill()
                #expect(server.killed, "the crash server stopped by itself: \(server.text.suffix(2000))")
            }
            // What the servers did after each crash, from their logs (not asserted: where the kills fall is random).
            var logs = ""
            for round in 0..<20 {
                logs += (try? String(contentsOf: fixture.directory.appendingPathComponent("server-\(round).log"), encoding: .utf8)) ?? ""
            }
            print(
                "local crash test: 20 SIGKILLs in \(ContinuousClock.now - started), after \(delays) ms of work each; "
                    + "\(logs.components(separatedBy: "found an instance's process by its marker").count - 1) processes adopted by their marker, "
                    + "\(logs.components(separatedBy: "no record claims").count - 1) killed as no record's, "
                    + "\(logs.components(separatedBy: "finishes the removal").count - 1) removals finished")

            try await fixture.withDriver { (driver) async throws in
                let settled = try await Base.eventually(within: .seconds(30)) {
                    try await driver.services().allSatisfy { service in
                        service.instances.count == service.desiredInstances && service.instances.allSatisfy(\.deployed)
                    }
                }
                let services = try await driver.services()
                #expect(settled, "not settled: \(services)")
                let recorded = fixture.pids()
                let sessions = Set(taggedProcesses(tag).values)
                #expect(
                    sessions.subtracting(recorded.values).isEmpty,
                    "processes that no instance on record owns: sessions \(sessions.subtracting(recorded.values).sorted())")
                #expect(sessions == Set(recorded.values), "instances on record \(recorded), process sessions \(sessions.sorted())")
                #expect(recorded.count == services.map(\.instances.count).reduce(0, +))

                for service in services { try await driver.undeploy(service.id) }
                #expect(try await driver.services().isEmpty)
                #expect(await Base.eventually(within: .seconds(10)) { taggedProcesses(tag).isEmpty }, "left running: \(taggedProcesses(tag))")
            }
        }
    }

    /// The server is killed right after it started an instance's process, before it recorded its pid: the next driver
    /// adopts that process (it finds it by the run its record names), reports it up in its first answer, and never
    /// starts a second one; undeploying stops it.
    @Test func aProcessStartedButNotRecordedIsAdoptedNotStartedTwice() async throws {
        try await Self.withFixture { fixture, tag in
            let server = try CrashServer(
                ["local", fixture.directory.path, "serve", "--tag", tag, "--instances", "1", "--command", Self.savaCommand, "--crash-at", "spawned"],
                output: fixture.directory.appendingPathComponent("server.log"))
            await server.waitForExit()
            #expect(server.killed, "the crash server did not die at its crash point: \(server.text.suffix(2000))")
            let record = try #require(Self.records(fixture).first)
            #expect(record["pid"] == nil, "the pid was recorded before the crash point")
            let port = try #require((record["ports"] as? [String: Int])?["web"])
            // The process the killed server started serves on its own.
            #expect(await Base.eventually { await Base.get(port) == "served-\(port)" })
            let leaders = Set(taggedProcesses(tag).values)
            #expect(leaders.count == 1)
            let leader = try #require(leaders.first)

            let driver = fixture.makeDriver()
            let first = try await Base.instances(driver)
            #expect(first.map(\.deployed) == [true], "a serving adopted instance was not deployed in the first report: \(first)")
            #expect(fixture.pids().values.sorted() == [leader])
            try await withRunning(driver) { (driver) async throws in
                // An absence: over ten probe and poll intervals, no second process starts.
                try await Task.sleep(for: .seconds(1))
                #expect(Set(taggedProcesses(tag).values) == [leader])
                #expect(fixture.pids().values.sorted() == [leader])
                #expect(try await Base.allDeployed(driver, 1))
                try await driver.undeploy(Self.served)
                #expect(await Base.eventually(within: .seconds(10)) { taggedProcesses(tag).isEmpty })
                #expect(try await driver.services().isEmpty)
            }
        }
    }

    /// The server is killed in the middle of an undeploy (an instance was sent SIGTERM, the records are still
    /// there): the next driver finishes the undeploy. It starts nothing again, stops what still runs and forgets the
    /// service.
    @Test func aServerKilledWhileUndeployingLeavesNothingThatStartsAgain() async throws {
        try await Self.withFixture { fixture, tag in
            let server = try CrashServer(
                ["local", fixture.directory.path, "undeploy", "--tag", tag, "--command", Self.savaCommand, "--crash-at", "signalled"],
                output: fixture.directory.appendingPathComponent("server.log"))
            await server.waitForExit()
            #expect(server.killed, "the crash server did not die at its crash point: \(server.text.suffix(2000))")
            #expect(server.text.contains("up\n"))
            #expect(!server.text.contains("undeployed"))
            let logs = Self.records(fixture).compactMap { $0["logFile"] as? String }
            #expect(logs.count == 2)

            try await fixture.withDriver { (driver) async throws in
                let forgotten = try await Base.eventually(within: .seconds(15)) { try await driver.services().isEmpty }
                let services = try await driver.services()
                #expect(forgotten, "the service is still there: \(services)")
                #expect(await Base.eventually(within: .seconds(10)) { taggedProcesses(tag).isEmpty }, "left running: \(taggedProcesses(tag))")
                #expect(Self.records(fixture).isEmpty)
                for log in logs {
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    #expect(text.components(separatedBy: "--- ").count - 1 == 1, "started again after the crash: \(text)")
                }
            }
            // And a driver after that finds nothing to run.
            #expect(try await fixture.makeDriver().services().isEmpty)
        }
    }

    /// A process with this driver's marker that no record claims (a run no record names) is killed when a driver
    /// reads the records; one with another directory's marker, or none, is left alone.
    @Test func aProcessWithTheDriversMarkerThatNoRecordClaimsIsKilled() async throws {
        try await Self.withFixture { fixture, tag in
            func start(marker: String?) throws -> Process {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", "exec sleep 600"]
                var environment = ["CRASH_TEST_TAG": tag, "PATH": "/usr/bin:/bin"]
                environment[LocalProcessPlan.markerVariable] = marker
                process.environment = environment
                try process.run()
                return process
            }
            let owner = LocalRecordStore(directory: fixture.directory).owner
            let stray = try start(marker: LocalProcessPlan.marker(owner: owner, run: UUID().uuidString.lowercased()))
            let another = try start(marker: LocalProcessPlan.marker(owner: "0123456789abcdef", run: UUID().uuidString.lowercased()))
            let unmarked = try start(marker: nil)
            #expect(await Base.eventually { taggedProcesses(tag).count == 3 })

            #expect(try await fixture.makeDriver().services().isEmpty)
            #expect(await Base.eventually { !stray.isRunning }, "the stray process of this driver still runs")
            #expect(stray.terminationStatus == SIGKILL)
            #expect(another.isRunning && unmarked.isRunning)
            another.terminate()
            unmarked.terminate()
        }
    }

    /// A server killed while its instances serve: the next driver reports them deployed in its first answer, before its
    /// own probes ran, and at every moment after (polled every 20 ms for 1.5 s), so a restart never takes them out of
    /// their gateway.
    @Test func instancesOfAKilledServerAreDeployedAtOnceAndStaySo() async throws {
        try await Self.withFixture { fixture, tag in
            let server = try CrashServer(
                ["local", fixture.directory.path, "serve", "--tag", tag, "--command", Self.savaCommand],
                output: fixture.directory.appendingPathComponent("server.log"))
            try await server.waitForLine("up")
            let pids = fixture.pids()
            await server.kill()
            #expect(server.killed)

            let driver = fixture.makeDriver()
            let first = try await Base.instances(driver)
            #expect(first.count == 2 && first.allSatisfy(\.deployed), "not deployed in the first report: \(first)")
            try await withRunning(driver) { (driver) async throws in
                var reports = 0
                var down: [[Instance]] = []
                let end = ContinuousClock.now + .milliseconds(1500)
                while ContinuousClock.now < end {
                    let instances = try await Base.instances(driver)
                    reports += 1
                    if instances.count != 2 || !instances.allSatisfy(\.deployed) { down.append(instances) }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(down.isEmpty, "\(down.count) of \(reports) reports had an instance not deployed: \(down.prefix(3))")
                #expect(fixture.pids() == pids, "not adopted: \(fixture.pids()) after \(pids)")
                try await driver.undeploy(Self.served)
                #expect(await Base.eventually(within: .seconds(10)) { taggedProcesses(tag).isEmpty })
            }
        }
    }
}
