import Foundation
import Testing
import VampTesting

/// `vamp.container-driver.type: marathon` as an operator gets it wrong: each mistake stops the built `vamp-server` at
/// start with a non-zero exit and a message naming the setting (no Marathon is called: the fake Marathon is not
/// needed for these).
@Suite("vamp-server Marathon settings")
struct MarathonSettingsTests {
    @Test("a missing or non-HTTP URL, a user without a password, a token with a user, a bad constraint: the server stops naming the setting")
    func badMarathonSettings() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-marathon")
        defer { folder.remove() }
        let cases: [([String: String], String)] = [
            ([:], "vamp.container-driver.marathon.url (VAMP_CONTAINER_DRIVER_MARATHON_URL): is required"),
            (["VAMP_CONTAINER_DRIVER_MARATHON_URL": "marathon.mesos:8080"], "is not an http:// or https:// address"),
            (["VAMP_CONTAINER_DRIVER_MARATHON_URL": "http://127.0.0.1:1", "VAMP_CONTAINER_DRIVER_MARATHON_USER": "vamp"],
             "vamp.container-driver.marathon.password (VAMP_CONTAINER_DRIVER_MARATHON_PASSWORD): is required"),
            (["VAMP_CONTAINER_DRIVER_MARATHON_URL": "http://127.0.0.1:1", "VAMP_CONTAINER_DRIVER_MARATHON_USER": "vamp",
              "VAMP_CONTAINER_DRIVER_MARATHON_PASSWORD": "x", "VAMP_CONTAINER_DRIVER_MARATHON_TOKEN": "t"], "not both"),
            (["VAMP_CONTAINER_DRIVER_MARATHON_URL": "http://127.0.0.1:1", "VAMP_CONTAINER_DRIVER_MARATHON_NAMESPACE_CONSTRAINT": "hostname"],
             "vamp.container-driver.marathon.namespace-constraint"),
        ]
        for (index, (settings, message)) in cases.enumerated() {
            var environment = settings
            environment["VAMP_CONTAINER_DRIVER_TYPE"] = "marathon"
            let server = try ServerExecutableTests.start(folder, environment: environment, log: "marathon-\(index).log")
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(settings)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(message), "\(settings): \(server.logTail())")
        }
    }
}
