import Foundation
import Testing
import VampTesting

/// The built `vamp` against a real `vamp-server` serving its API over HTTPS with a certificate of a CA the test
/// makes with `openssl`.
@Suite("vamp CLI over HTTPS", .serialized)
struct VampCLITLSTests {
    @Test("VAMP_CA_FILE or --ca-file trusts the server's CA; without one, exit 2 at once with a certificate error naming both; a host without a scheme is https with a CA file",
          .timeLimit(.minutes(3)))
    func caFile() async throws {
        let pki = try TemporaryDirectory(prefix: "vamp-cli-pki")
        defer { pki.remove() }
        let authority = try await TestCertificateAuthority(in: pki.url)
        let issued = try await authority.issue("api", serial: "C1170001")
        let server = try await VampServerFixture(binaries: VampCLIServerTests.bin, tls: (issued, authority.caFile))
        defer { server.tearDown() }
        var environment = server.environment
        #expect(environment["VAMP_HOST"]?.hasPrefix("https://") == true)

        let trusted = try VampCLIServerTests.run(["list", "breeds"], environment: environment)
        #expect(trusted.status == 0, "VAMP_CA_FILE: \(trusted.stderr)")

        environment["VAMP_CA_FILE"] = nil
        let started = ContinuousClock.now
        let untrusted = try VampCLIServerTests.run(["list", "breeds"], environment: environment)
        #expect(untrusted.status == 2, "a connection error: \(untrusted.stdout)")
        #expect(untrusted.stderr.contains("not trusted") && untrusted.stderr.contains("--ca-file") && untrusted.stderr.contains("VAMP_CA_FILE"),
                "\(untrusted.stderr)")
        #expect(ContinuousClock.now - started < .seconds(10), "an error, not a hang")

        let flag = try VampCLIServerTests.run(["list", "breeds", "--ca-file", authority.caFile.path], environment: environment)
        #expect(flag.status == 0, "--ca-file: \(flag.stderr)")
        let withoutScheme = try VampCLIServerTests.run(
            ["list", "breeds", "--ca-file", authority.caFile.path, "--host", "localhost:\(server.apiPort)"], environment: environment)
        #expect(withoutScheme.status == 0, "localhost:port with a CA file: \(withoutScheme.stderr)")

        let missing = try VampCLIServerTests.run(["list", "breeds", "--ca-file", pki.url.appendingPathComponent("none.pem").path], environment: environment)
        #expect(missing.status != 0 && missing.stderr.contains("--ca-file") && missing.stderr.contains("none.pem"), "\(missing.stderr)")
    }
}
