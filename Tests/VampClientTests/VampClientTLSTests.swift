import Foundation
import Synchronization
import Testing
import VampClient
import VampModel
import VampTesting

/// VampClient against a real `vamp-server` serving its API over HTTPS with a certificate of a CA the test makes
/// with `openssl`.
@Suite("VampClient over HTTPS", .serialized)
struct VampClientTLSTests {
    @Test("with the CA file: reads, writes and the event stream work; without it, a certificate error at once naming the CA file setting; a CA file that does not read is refused",
          .timeLimit(.minutes(3)))
    func caFile() async throws {
        let pki = try TemporaryDirectory(prefix: "vamp-client-pki")
        defer { pki.remove() }
        let authority = try await TestCertificateAuthority(in: pki.url)
        let issued = try await authority.issue("api", serial: "C11E07")
        let server = try await VampServerFixture(binaries: VampClientServerTests.bin, tls: (issued, authority.caFile))
        defer { server.tearDown() }
        #expect(server.host.absoluteString.hasPrefix("https://"))

        let vamp = try VampClient(host: server.host, token: VampServerFixture.adminToken, caFile: authority.caFile.path)
        #expect(try await vamp.info()["version"] != nil)
        let breed = Breed(name: "tls-breed", deployable: Deployable(type: "container/docker", definition: "magneticio/sava:1.0.0"))
        try await vamp.create(.breed(breed))
        #expect(try await vamp.read(.breed, name: "tls-breed") != nil)
        let stream = vamp.eventStream(tags: ["tls:test"])
        let received = Mutex<Event?>(nil)
        let receiving = Task {
            for try await event in stream {
                received.withLock { $0 = event }
                return
            }
        }
        // The stream subscribes when its request is answered: publish until it delivers.
        try await VampClientServerTests.until("the event over the HTTPS stream") {
            try await vamp.publish(Event(tags: ["tls:test"], type: "tls"))
            try await Task.sleep(for: .milliseconds(100))
            return received.withLock { $0 } != nil
        }
        receiving.cancel()
        #expect(received.withLock { $0 }?.tags.contains("tls:test") == true)

        let untrusting = VampClient(host: server.host, token: VampServerFixture.adminToken)
        let started = ContinuousClock.now
        do {
            _ = try await untrusting.info()
            Issue.record("a client without the CA was answered")
        } catch {
            #expect(error.code == .connection, "\(error)")
            #expect(error.message.contains("not trusted") && error.message.contains("VAMP_CA_FILE"), "\(error.message)")
        }
        #expect(ContinuousClock.now - started < .seconds(5), "a certificate error, not a hang")

        let garbage = pki.url.appendingPathComponent("garbage.pem")
        try "nothing".write(to: garbage, atomically: true, encoding: .utf8)
        #expect(throws: VampClientError.self) { try VampClient(host: server.host, caFile: garbage.path) }
    }
}
