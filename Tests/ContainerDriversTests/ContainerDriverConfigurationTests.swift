import Configuration
import ContainerDrivers
import Foundation
import Logging
import Testing
import VampTesting

@Suite("ContainerDriverConfiguration")
struct ContainerDriverConfigurationTests {
    @Test("defaults: local processes under .vamp/processes")
    func defaults() throws {
        let configuration = try ContainerDriverConfiguration(config: ConfigReader(provider: InMemoryProvider(values: [:])))
        #expect(configuration.kind == .local)
        #expect(configuration.localDirectory == ".vamp/processes")
    }

    @Test("VAMP_CONTAINER_DRIVER_* variables select Docker on a socket")
    func environment() throws {
        let config = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: [
                "VAMP_CONTAINER_DRIVER_TYPE": "Docker",
                "VAMP_CONTAINER_DRIVER_DOCKER_HOST": "unix:///tmp/other/docker.sock",
            ]))
        let configuration = try ContainerDriverConfiguration(config: config)
        #expect(configuration.kind == .docker)
        #expect(configuration.dockerHost == "unix:///tmp/other/docker.sock")
        #expect(configuration.shown["vamp.container-driver.type"] == "docker")
    }

    @Test("VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_* make the registry account; a username without a password is refused")
    func registryAccount() throws {
        let config = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: [
                "VAMP_CONTAINER_DRIVER_TYPE": "docker",
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_USERNAME": "vamp",
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_PASSWORD": "s3cret",
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_SERVER_ADDRESS": "127.0.0.1:5000",
                "VAMP_CONTAINER_DRIVER_DOCKER_EVENTS": "true",
            ]))
        let configuration = try ContainerDriverConfiguration(config: config)
        #expect(configuration.dockerCredentials == DockerDriver.RegistryCredentials(username: "vamp", password: "s3cret", serverAddress: "127.0.0.1:5000"))
        #expect(configuration.dockerFollowsEvents)
        #expect(!configuration.shown.values.contains("s3cret"))
        #expect(try ContainerDriverConfiguration(config: ConfigReader(provider: InMemoryProvider(values: [:]))).dockerCredentials == nil)
        let error = #expect(throws: ContainerDriverError.self) {
            try ContainerDriverConfiguration(config: ConfigReader(provider: InMemoryProvider(values: ["vamp.container-driver.docker.repository.username": "vamp"])))
        }
        #expect(error?.message.hasPrefix(
            "vamp.container-driver.docker.repository.password (VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_PASSWORD): missing") == true,
            "\(error?.message ?? "")")
    }

    @Test("malformed values are refused, naming the key and its variable")
    func refuses() throws {
        let cases: [([AbsoluteConfigKey: ConfigValue], String)] = [
            (["vamp.container-driver.type": "rancher"], "vamp.container-driver.type (VAMP_CONTAINER_DRIVER_TYPE): 'rancher' is not a driver"),
            (
                ["vamp.container-driver.type": "docker", "vamp.container-driver.docker.host": "tcp://10.0.0.1:2375"],
                "vamp.container-driver.docker.host (VAMP_CONTAINER_DRIVER_DOCKER_HOST): 'tcp://10.0.0.1:2375' is not a unix socket"
            ),
            (["vamp.container-driver.local.directory": ""], "vamp.container-driver.local.directory"),
            (
                ["vamp.container-driver.local.user": "no-such-user-of-vamp"],
                "vamp.container-driver.local.user (VAMP_CONTAINER_DRIVER_LOCAL_USER): no user 'no-such-user-of-vamp'"
            ),
        ]
        for (values, message) in cases {
            #expect {
                try ContainerDriverConfiguration(config: ConfigReader(provider: InMemoryProvider(values: values)))
            } throws: { error in
                (error as? ContainerDriverError)?.permanent == true
                    && (error as? ContainerDriverError)?.message.contains(message) == true
            }
        }
    }

    @Test("makes a local driver per namespace, each in its own folder, and none for `none`; making one writes nothing")
    func makesDrivers() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-driver-config")
        defer { folder.remove() }
        let configuration = ContainerDriverConfiguration(kind: .local, localDirectory: folder.url.path)
        let logger = Logger(label: "test")
        let first = try #require(try configuration.makeDriver(namespace: nil, logger: logger) as? LocalProcessDriver)
        let second = try #require(try configuration.makeDriver(namespace: "team-a", logger: logger) as? LocalProcessDriver)
        let namespaced = folder.url.appendingPathComponent("namespaces/team-a")
        #expect(!FileManager.default.fileExists(atPath: namespaced.path))
        // The records are read (and the folder made) on first use.
        #expect(try await second.services().isEmpty)
        #expect(FileManager.default.fileExists(atPath: namespaced.path))
        #expect(try await first.info().type == "local")
        #expect(try ContainerDriverConfiguration(kind: .none).makeDriver(namespace: nil, logger: logger) == nil)
        #expect(!ContainerDriverConfiguration(kind: .local).synchronizesGateways)
        #expect(ContainerDriverConfiguration(kind: .kubernetes).synchronizesGateways)
        #expect(!ContainerDriverConfiguration(kind: .kubernetes, kubernetesCreatesServices: false).synchronizesGateways)
    }
}
