@testable import ContainerDrivers
import Foundation
import Testing
import VampModel

/// The pure parts of one-off runs: the output tail, Docker's log frames, a run's container and the refusals.
@Suite("One-off runs: plan")
struct JobPlanTests {
    static func job(run: String = "1733490000123-7", definition: String = "localhost/vamp-busybox:latest", type: String = "docker") -> JobSpecification {
        JobSpecification(
            id: .workflow("nightly", breed: "reporter:1.0"), run: run,
            breed: Breed(name: "reporter:1.0", deployable: Deployable(type: type, definition: definition)),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!), environment: ["B": "2", "A": "1"],
            arguments: [RunArgument(key: "privileged", value: "true")], dialects: ["docker": .string("echo hi")], timeout: .seconds(2))
    }

    @Test func theTailKeepsTheLastBytesWithinItsLimit() {
        var tail = JobOutputTail(limit: 10)
        for number in 0..<1000 { tail.append(Array("line \(number)\n".utf8)) }
        #expect(tail.text == "\nline 999\n")
        #expect(tail.text.utf8.count == 10)
        var big = JobOutputTail(limit: 4)
        big.append(Array("abcdefgh".utf8))
        #expect(big.text == "efgh")
        var none = JobOutputTail(limit: 0)
        none.append(Array("abc".utf8))
        #expect(none.text.isEmpty)
    }

    @Test func aCharacterCutByTheLimitIsLeftOutAndInvalidBytesStayWithinIt() {
        // "é" is two bytes, "€" three: the limit cuts into the first "€".
        var tail = JobOutputTail(limit: 7)
        tail.append(Array("x€€é".utf8))
        #expect(tail.text == "€é")
        // Three invalid bytes become three U+FFFD (nine bytes): characters go from the start until it fits.
        var invalid = JobOutputTail(limit: 5)
        invalid.append([0xFF, 0xFE, 0xFD, 0x6F, 0x6B])
        #expect(invalid.text == "\u{FFFD}ok")
        #expect(invalid.text.utf8.count <= 5)
        // Whatever the cut, the text is valid and within the limit.
        let bytes = Array("a€b\u{1F600}c".utf8) + [0xC3]
        let whole = String(decoding: bytes, as: UTF8.self)
        for limit in 0..<14 {
            var any = JobOutputTail(limit: limit)
            any.append(bytes)
            #expect(any.text.utf8.count <= limit)
            #expect(whole.hasSuffix(any.text), "limit \(limit)")
        }
    }

    @Test func dockerLogFramesAreDemultiplexedWhereverTheChunksBreak() {
        func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
            let payload = Array(text.utf8)
            let size = UInt32(payload.count)
            return [stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)] + payload
        }
        let stream = frame(1, "out one\n") + frame(2, "err\n") + frame(1, String(repeating: "x", count: 300) + "\n")
        let expected = "out one\nerr\n" + String(repeating: "x", count: 300) + "\n"
        for chunkSize in [1, 3, 8, 9, 100, stream.count] {
            var reader = DockerPlan.LogDemultiplexer()
            var tail = JobOutputTail(limit: 1000)
            var offset = 0
            while offset < stream.count {
                reader.feed(Array(stream[offset..<min(stream.count, offset + chunkSize)]), into: &tail)
                offset += chunkSize
            }
            #expect(tail.text == expected, "chunks of \(chunkSize)")
        }
    }

    @Test func aRunsContainerIsTheWorkflowsWithItsRunAndNoInstance() throws {
        let job = Self.job()
        let labels = DockerPlan.jobLabels(job, namespace: "prod")
        #expect(labels == [
            "io.vamp": "workflow", "io.vamp.workflow": "nightly", "io.vamp.breed": "reporter:1.0", "io.vamp.namespace": "prod",
            "io.vamp.run": "1733490000123-7",
        ])
        // Discovery passes it by: it is no instance.
        #expect(DockerPlan.container(id: "c1", labels: labels, state: "running", created: 0) == nil)
        let name = DockerPlan.jobContainerName(job, namespace: "prod")
        #expect(name.hasPrefix("vamp-workflow-nightly-reporter_1.0-"))
        #expect(name.hasSuffix("-run-1733490000123-7"))
        #expect(name != DockerPlan.jobContainerName(Self.job(run: "2"), namespace: "prod"))

        guard case .object(let body) = DockerPlan.jobBody(job, namespace: "prod") else { Issue.record("not an object"); return }
        #expect(body["Image"] == .string("localhost/vamp-busybox:latest"))
        #expect(body["Env"] == .array([.string("A=1"), .string("B=2")]))
        #expect(body["Cmd"] == .array([.string("/bin/sh"), .string("-c"), .string("echo hi")]))
        #expect(body["HostConfig"] == .object(["Privileged": .bool(true)]))
        #expect(body["ExposedPorts"] == nil)
        // A run's container ticks no change notice.
        let event = #"{"Type":"container","Action":"die","Actor":{"Attributes":{"io.vamp":"workflow","io.vamp.namespace":"prod","io.vamp.run":"1"}}}"#
        #expect(!DockerPlan.eventMatters(Substring(event), namespace: "prod"))
    }

    @Test func aBadRunIdTimeoutOrLimitIsRefusedForGood() {
        for run in ["", "Upper", "a_b", "a/b", String(repeating: "a", count: 65)] {
            #expect(Self.job(run: run).refusal?.permanent == true, "run \(run)")
        }
        var job = Self.job()
        #expect(job.refusal == nil)
        job.timeout = .zero
        #expect(job.refusal?.permanent == true)
        job.timeout = .seconds(1)
        job.outputLimit = -1
        #expect(job.refusal?.permanent == true)
    }
}
