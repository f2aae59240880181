import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

/// What a workflow must be to be stored: a breed the driver runs, and a schedule the driver can keep; nothing is stored
/// otherwise, and the refusal names the field.
@Suite("Workflows: refused when they could not run")
struct WorkflowAdmissionTests {
    static func vamp(types: Set<String>, jobs: Bool) -> Vamp {
        var configuration = Vamp.Configuration()
        configuration.workflowDeployableTypes = types
        configuration.workflowJobs = jobs
        return Vamp(artifacts: InMemoryArtifactStore(), configuration: configuration)
    }

    static func refusal(_ vamp: Vamp, _ yaml: String) async throws -> String? {
        do {
            _ = try await vamp.apply(try DSLReader.read("kind: workflow\n" + yaml))
            return nil
        } catch let error as OperationError {
            return error.message
        }
    }

    @Test("a driver that runs workflows only as daemons (Kubernetes, Marathon) refuses time and event schedules, takes a daemon")
    func daemonOnlyDrivers() async throws {
        let vamp = Self.vamp(types: ["container/docker"], jobs: false)
        let breed = "breed: {name: b, deployable: {type: container/docker, definition: busybox}}"
        for schedule in ["{time: {period: PT1M}}", "{event: [release]}"] {
            let message = try await Self.refusal(vamp, "name: w\n\(breed)\nschedule: \(schedule)")
            #expect(message?.contains("schedule: the container driver runs workflows only as daemon schedules") == true, "\(message ?? "stored")")
            #expect(try await vamp.workflow(named: "w") == nil)
        }
        #expect(try await Self.refusal(vamp, "name: w\n\(breed)\nschedule: daemon") == nil)
    }

    @Test("a breed of a type the driver does not run is refused naming breed.deployable.type; docker and cmd are aliases; the built-in jobs pass")
    func deployableTypes() async throws {
        let vamp = Self.vamp(types: ["command"], jobs: true)
        let docker = try await Self.refusal(vamp, "name: w\nbreed: {name: b, deployable: {type: docker, definition: busybox}}\nschedule: daemon")
        #expect(docker?.contains("breed.deployable.type") == true && docker?.contains("use one of: command") == true, "\(docker ?? "stored")")
        #expect(try await Self.refusal(vamp, "name: w\nbreed: {name: b, deployable: {type: cmd, definition: \"true\"}}\nschedule: daemon") == nil)
        let builtIn = "name: metrics\nbreed: {name: metrics, deployable: {type: vamp/builtin, definition: metrics}}\nschedule: daemon"
        #expect(try await Self.refusal(vamp, builtIn) == nil)
        let none = Self.vamp(types: [], jobs: false)
        let message = try await Self.refusal(none, "name: w\nbreed: {name: b, deployable: {type: command, definition: \"true\"}}\nschedule: daemon")
        #expect(message?.contains("no container driver") == true, "\(message ?? "stored")")
    }
}
