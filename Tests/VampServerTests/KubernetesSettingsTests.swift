import Foundation
import Testing
import VampTesting

/// `vamp.container-driver.type: kubernetes` with settings that cannot work: the server stops at start, non-zero,
/// naming the key (no API server is contacted for these).
@Suite("vamp-server Kubernetes driver settings")
struct KubernetesSettingsTests {
    @Test("a missing CA or token file, no token, a bad URL or service type stops the server naming the key")
    func badKubernetesSettings() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-k8s-bad")
        defer { folder.remove() }
        let token = folder.url.appendingPathComponent("token")
        try "t".write(to: token, atomically: true, encoding: .utf8)
        let base = ["VAMP_CONTAINER_DRIVER_TYPE": "kubernetes", "VAMP_CONTAINER_DRIVER_KUBERNETES_URL": "https://127.0.0.1:6443"]
        let cases: [([String: String], String)] = [
            (["VAMP_CONTAINER_DRIVER_KUBERNETES_TOKEN": token.path, "VAMP_CONTAINER_DRIVER_KUBERNETES_SERVER_CA_CERT": "/nonexistent/ca.crt"],
             "vamp.container-driver.kubernetes.server-ca-cert"),
            (["VAMP_CONTAINER_DRIVER_KUBERNETES_TOKEN": "/nonexistent/token"], "vamp.container-driver.kubernetes.token"),
            ([:], "no bearer token"),
            (["VAMP_CONTAINER_DRIVER_KUBERNETES_BEARER": "t", "VAMP_CONTAINER_DRIVER_KUBERNETES_URL": "ftp://x"], "vamp.container-driver.kubernetes.url"),
            (["VAMP_CONTAINER_DRIVER_KUBERNETES_BEARER": "t", "VAMP_CONTAINER_DRIVER_KUBERNETES_SERVICE_TYPE": "ClusterIP"],
             "vamp.container-driver.kubernetes.service-type"),
        ]
        for (index, (extra, named)) in cases.enumerated() {
            let environment = base.merging(extra) { _, new in new }
            let server = try ServerExecutableTests.start(folder, environment: environment, log: "k8s-\(index).log")
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(extra)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(named), "\(extra): \(server.logTail())")
        }
    }
}
