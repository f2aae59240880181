@testable import ContainerDrivers
import Foundation
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// ``DockerDriver/runJob(_:)`` on a real Docker Engine (``DockerEngine``: Debian's `dockerd` and the busybox image it
/// imports), command lines run by the image's `sh -c`.
@Suite("DockerDriver: one-off runs", .serialized)
struct DockerJobTests {
    static func job(
        _ command: String, image: String, run: String = UUID().uuidString.lowercased(), timeout: Duration = .seconds(2),
        outputLimit: Int = 16_384, environment: [String: String] = [:]
    ) -> JobSpecification {
        JobSpecification(
            id: .workflow("nightly", breed: "reporter:1.0"), run: run,
            breed: Breed(name: "reporter:1.0", deployable: Deployable(type: "docker", definition: image)),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!), environment: environment,
            dialects: ["docker": .string(command)], timeout: timeout, outputLimit: outputLimit)
    }

    /// The containers labelled with run `run`, in any state: their state and labels, straight from the engine.
    static func containers(_ engine: DockerEngine, run: String) throws -> [(state: String, labels: [String: String])] {
        let query = JSONHTTPClient.queryString([("all", "true"), ("filters", DockerPlan.jobFilters(run: run))])
        let list = try #require(engine.get("/v1.41/containers/json\(query)"))
        #expect(list.status == 200)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
        return array.map { ($0["State"] as? String ?? "", $0["Labels"] as? [String: String] ?? [:]) }
    }

    @Test func aContainerRunsOnceWithItsEnvironmentAndItsExitStatus() async throws {
        try await DockerDriverTests.withEngine { engine, driver in
            let job = Self.job(#"echo "hello $GREETING"; echo oops >&2"#, image: engine.image, environment: ["GREETING": "world"])
            let outcome = try await driver.runJob(job)
            #expect(outcome.exitStatus == 0)
            #expect(outcome.signal == nil)
            #expect(!outcome.timedOut)
            #expect(!outcome.cancelled)
            // stdout and stderr are logged apart: their order between them is the engine's.
            #expect(outcome.output.count == "hello world\noops\n".count)
            #expect(outcome.output.contains("hello world\n"))
            #expect(outcome.output.contains("oops\n"))
            #expect(try Self.containers(engine, run: job.run).isEmpty)

            let failing = Self.job("echo failing; exit 3", image: engine.image)
            let failed = try await driver.runJob(failing)
            #expect(failed.exitStatus == 3)
            #expect(failed.output == "failing\n")
            #expect(try Self.containers(engine, run: failing.run).isEmpty)
        }
    }

    @Test func theOutputKeepsItsLastBytesAsValidUTF8() async throws {
        try await DockerDriverTests.withEngine { engine, driver in
            let job = Self.job(
                #"i=0; while [ $i -lt 2000 ]; do printf 'é€%05d\n' $i; i=$((i+1)); done; printf '\377'"#, image: engine.image, outputLimit: 100)
            let outcome = try await driver.runJob(job)
            #expect(outcome.exitStatus == 0)
            // The last 100 bytes: the byte 0xFF (or the engine's U+FFFD for it) and nine whole lines, less the first "é".
            let expected = "€01991\n" + (1992...1999).map { "é€0\($0)\n" }.joined() + "\u{FFFD}"
            #expect(outcome.output == expected)
            #expect(outcome.output.utf8.count <= 100)
            #expect(try Self.containers(engine, run: job.run).isEmpty)
        }
    }

    @Test func aTimeoutKillsTheContainerAndRemovesIt() async throws {
        try await DockerDriverTests.withEngine { engine, driver in
            let job = Self.job(#"echo started; trap "" TERM; sleep 30"#, image: engine.image, timeout: .seconds(1))
            let outcome = try await driver.runJob(job)
            #expect(outcome.timedOut)
            #expect(!outcome.cancelled)
            #expect(outcome.exitStatus == nil)
            #expect(outcome.signal == SIGKILL)
            #expect(outcome.output == "started\n")
            #expect(outcome.ended.timeIntervalSince(outcome.started) < 15)
            #expect(try Self.containers(engine, run: job.run).isEmpty)
        }
    }

    @Test func cancellingTheCallerKillsAndRemovesTheContainerWhichDiscoveryNeverSaw() async throws {
        try await DockerDriverTests.withEngine { engine, driver in
            let job = Self.job("sleep 30", image: engine.image, timeout: .seconds(60))
            let running = Task { try await driver.runJob(job) }
            #expect(try await DockerDriverTests.eventually { try Self.containers(engine, run: job.run).first?.state == "running" })
            let labels = try #require(try Self.containers(engine, run: job.run).first?.labels)
            #expect(labels == [
                "io.vamp": "workflow", "io.vamp.workflow": "nightly", "io.vamp.breed": "reporter:1.0", "io.vamp.namespace": "default",
                "io.vamp.run": job.run,
            ])
            // No daemon's instance: discovery does not report it, so no reconciler removes or counts it.
            #expect(try await driver.services().isEmpty)
            running.cancel()
            let outcome = try await running.value
            #expect(outcome.cancelled)
            #expect(!outcome.timedOut)
            #expect(outcome.exitStatus == nil)
            #expect(outcome.signal == SIGKILL)
            #expect(outcome.ended.timeIntervalSince(outcome.started) < 30)
            #expect(try Self.containers(engine, run: job.run).isEmpty)
        }
    }
}
