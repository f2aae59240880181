import ContainerDrivers
import Testing
import VampModel

@Suite struct ServiceSpecificationTests {
    func specification(environment: [String: String] = ["A": "1"], instances: Int = 1) -> ServiceSpecification {
        ServiceSpecification(
            id: ServiceIdentity(deployment: "d", cluster: "c", service: "s:1.0"),
            breed: Breed(name: "s:1.0", deployable: Deployable(type: "command", definition: "sava"), ports: [BreedPort(name: "web", number: 8080)]),
            scale: Scale(cpu: CPU(cores: 1)!, memory: Memory(megabytes: 64)!, instances: instances),
            environment: environment)
    }

    @Test func digestChangesWithWhatRunsButNotWithTheInstanceCount() {
        #expect(specification().digest == specification(instances: 3).digest)
        #expect(specification().digest != specification(environment: ["A": "2"]).digest)
    }
}
