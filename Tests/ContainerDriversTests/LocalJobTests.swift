@testable import ContainerDrivers
import Foundation
import Logging
import Testing
import VampModel

#if canImport(Glibc)
import Glibc
#endif

/// ``LocalProcessDriver/runJob(_:)`` with real processes: `/bin/sh` command lines, their process groups seen in `/proc`
/// by the driver's marker.
@Suite("LocalProcessDriver: one-off runs", .serialized)
struct LocalJobTests {
    /// A driver on a temporary state directory (grace period 1 s), its working directory beside it, and a teardown that
    /// kills whatever carries its marker.
    final class Fixture: Sendable {
        let directory: URL
        let work: URL
        let driver: LocalProcessDriver
        let owner: String

        init() throws {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("local-jobs-\(UUID().uuidString)")
            directory = root.appendingPathComponent("state")
            work = root.appendingPathComponent("work")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            var logger = Logger(label: "local-jobs-test")
            logger.logLevel = .debug
            let configuration = LocalProcessDriver.Configuration(workingDirectory: work, gracePeriod: .seconds(1))
            driver = LocalProcessDriver(directory: directory, logger: logger, configuration: configuration)
            owner = LocalRecordStore(directory: directory).owner
        }

        /// The living processes that carry `run`'s marker.
        func processes(of run: String) -> [LocalProcesses.MarkedProcess] {
            LocalProcesses.marked(owner: owner).filter { $0.run == LocalJob.markerRun(run) }
        }

        func tearDown() {
            for process in LocalProcesses.marked(owner: owner) { kill(process.pid, SIGKILL) }
            try? FileManager.default.removeItem(at: directory.deletingLastPathComponent())
        }
    }

    static func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        let fixture = try Fixture()
        defer { fixture.tearDown() }
        try await body(fixture)
    }

    static func job(
        _ command: String, run: String = UUID().uuidString.lowercased(), timeout: Duration = .seconds(2), outputLimit: Int = 16_384,
        environment: [String: String] = [:]
    ) -> JobSpecification {
        JobSpecification(
            id: .workflow("nightly", breed: "reporter:1.0"), run: run,
            breed: Breed(name: "reporter:1.0", deployable: Deployable(type: "command", definition: command)),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!), environment: environment, timeout: timeout,
            outputLimit: outputLimit)
    }

    /// Polls `condition` every 20 ms until it holds or 10 s have passed.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func aCommandThatSucceedsReportsItsOutputWithItsEnvironmentInTheWorkingDirectory() async throws {
        try await Self.withFixture { fixture in
            let job = Self.job(
                #"echo "hello $GREETING"; echo oops >&2; cat /dev/null && echo "in $(pwd)"; echo "marker ${IO_VAMP_INSTANCE#*/}""#,
                environment: ["GREETING": "world"])
            let outcome = try await fixture.driver.runJob(job)
            #expect(outcome.exitStatus == 0)
            #expect(outcome.signal == nil)
            #expect(!outcome.timedOut)
            #expect(!outcome.cancelled)
            #expect(outcome.output == "hello world\noops\nin \(fixture.work.path)\nmarker job-\(job.run)\n")
            #expect(outcome.started <= outcome.ended)
            #expect(fixture.processes(of: job.run).isEmpty)
        }
    }

    @Test func aFailingCommandReportsItsStatusAndOneKilledBySignalItsSignal() async throws {
        try await Self.withFixture { fixture in
            let failed = try await fixture.driver.runJob(Self.job("echo failing; exit 3"))
            #expect(failed.exitStatus == 3)
            #expect(failed.signal == nil)
            #expect(failed.output == "failing\n")
            let killed = try await fixture.driver.runJob(Self.job("kill -9 $$"))
            #expect(killed.exitStatus == nil)
            #expect(killed.signal == SIGKILL)
            #expect(!killed.timedOut)
            #expect(!killed.cancelled)
        }
    }

    @Test func theOutputKeepsItsLastBytesAsValidUTF8() async throws {
        try await Self.withFixture { fixture in
            // 10,000 lines of 11 bytes ("é€" and five digits), then a byte that is not UTF-8.
            let job = Self.job(#"i=0; while [ $i -lt 10000 ]; do printf 'é€%05d\n' $i; i=$((i+1)); done; printf '\377'"#, outputLimit: 100)
            let outcome = try await fixture.driver.runJob(job)
            #expect(outcome.exitStatus == 0)
            // The last 100 bytes: the byte 0xFF and nine whole lines. U+FFFD takes three bytes, so the first "é" goes.
            let expected = "€09991\n" + (9992...9999).map { "é€0\($0)\n" }.joined() + "\u{FFFD}"
            #expect(outcome.output == expected)
            #expect(outcome.output.utf8.count == 100)
        }
    }

    @Test func aTimeoutStopsTheWholeProcessGroupWithSIGTERM() async throws {
        try await Self.withFixture { fixture in
            let job = Self.job("sleep 30 & sleep 30 & echo started; wait", timeout: .seconds(1))
            let outcome = try await fixture.driver.runJob(job)
            #expect(outcome.timedOut)
            #expect(!outcome.cancelled)
            #expect(outcome.exitStatus == nil)
            #expect(outcome.signal == SIGTERM)
            #expect(outcome.output == "started\n")
            #expect(fixture.processes(of: job.run).isEmpty)
        }
    }

    @Test func aChildThatIgnoresSIGTERMIsKilledAfterTheGracePeriod() async throws {
        try await Self.withFixture { fixture in
            // The shell dies of SIGTERM; its child ignores it, and so does the child's sleep.
            let job = Self.job(#"sh -c 'trap "" TERM; echo child; sleep 30' & wait"#, timeout: .seconds(1))
            let clock = ContinuousClock()
            let start = clock.now
            let outcome = try await fixture.driver.runJob(job)
            let elapsed = clock.now - start
            #expect(outcome.timedOut)
            #expect(outcome.exitStatus == nil)
            #expect(outcome.signal == SIGTERM)
            #expect(outcome.output == "child\n")
            // The timeout, then the grace period before SIGKILL.
            #expect(elapsed >= .seconds(2))
            #expect(elapsed < .seconds(10))
            #expect(fixture.processes(of: job.run).isEmpty)

            let stubborn = Self.job(#"trap "" TERM; sleep 30"#, timeout: .seconds(1))
            let killed = try await fixture.driver.runJob(stubborn)
            #expect(killed.timedOut)
            #expect(killed.signal == SIGKILL)
            #expect(fixture.processes(of: stubborn.run).isEmpty)
        }
    }

    @Test func cancellingTheCallerStopsTheRunAndLeavesNothing() async throws {
        try await Self.withFixture { fixture in
            let job = Self.job("echo started; sleep 30", timeout: .seconds(60))
            let driver = fixture.driver
            let running = Task { try await driver.runJob(job) }
            // The shell and its sleep run.
            #expect(await Self.eventually { fixture.processes(of: job.run).count >= 2 })
            running.cancel()
            let outcome = try await running.value
            #expect(outcome.cancelled)
            #expect(!outcome.timedOut)
            #expect(outcome.exitStatus == nil)
            #expect(outcome.signal == SIGTERM)
            #expect(outcome.output == "started\n")
            #expect(outcome.ended.timeIntervalSince(outcome.started) < 30)
            #expect(fixture.processes(of: job.run).isEmpty)
        }
    }

    @Test func whatAFinishedCommandLeftRunningIsKilled() async throws {
        try await Self.withFixture { fixture in
            // The sleep keeps the output pipe open: the run still ends with its shell.
            let job = Self.job("sleep 30 & echo done", timeout: .seconds(20))
            let outcome = try await fixture.driver.runJob(job)
            #expect(outcome.exitStatus == 0)
            #expect(outcome.output == "done\n")
            #expect(!outcome.timedOut)
            #expect(outcome.ended.timeIntervalSince(outcome.started) < 10)
            #expect(fixture.processes(of: job.run).isEmpty)
        }
    }

    @Test func whatTheDriverCannotRunIsRefusedForGood() async throws {
        try await Self.withFixture { fixture in
            var docker = Self.job("busybox")
            docker.breed.deployable = Deployable(type: "docker", definition: "busybox")
            do throws(ContainerDriverError) {
                _ = try await fixture.driver.runJob(docker)
                Issue.record("a Docker breed was run")
            } catch {
                #expect(error.permanent)
                #expect(error.message.contains("command"))
            }
            do throws(ContainerDriverError) {
                _ = try await fixture.driver.runJob(Self.job("true", run: "Not_A_Run"))
                Issue.record("a bad run id was accepted")
            } catch {
                #expect(error.permanent)
            }
            // Marathon and Kubernetes run workflows only as daemons: the protocol's default.
            let marathon = try MarathonDriver(configuration: .init(url: "http://127.0.0.1:1"), logger: Logger(label: "test"))
            do throws(ContainerDriverError) {
                _ = try await marathon.runJob(Self.job("true"))
                Issue.record("Marathon ran a one-off run")
            } catch {
                #expect(error.permanent)
                #expect(error.message.contains("MarathonDriver runs workflows only as daemon schedules"))
            }
        }
    }
}
