import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VampTesting

/// HTTPS gateways through the real server, its embedded agent and HAProxy, with curl as the client (issue 28).
@Suite("vamp-server: HTTPS gateways", .serialized)
struct HTTPSGatewayServerTests {
    static let bin = GatewayBindingServerTests.bin

    static func gateway(_ name: String, port: Int, backend: Int, certificate: String) -> String {
        ServerExecutableTests.gateway(name, port: port, backend: backend) + "tls: {certificate: \(certificate)}\n"
    }

    static func curlTrusting(_ authority: TestCertificateAuthority, port: Int) -> [String] {
        ["--cacert", authority.caFile.path, "--resolve", "shop.test:\(port):127.0.0.1"]
    }

    /// The subject of the certificate the gateway on `port` presents, from curl's handshake log.
    static func subject(port: Int, authority: TestCertificateAuthority) async throws -> String? {
        let result = try await Curl.run(curlTrusting(authority, port: port) + ["-v", "-o", "/dev/null", "https://shop.test:\(port)/"])
        return result.errors.split(separator: "\n").first { $0.contains(" subject: ") }.map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
    }

    @Test("curl --http2 over TLS reaches the backend through a gateway with a certificate: ALPN h2, verified with the CA")
    func http2() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let certificate = try await authority.serverCertificate(fileName: "shop.pem", commonName: "shop-v1", serial: 1)
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let backend = try TestHTTPService(name: "catalog")
        let port = try FreePort.next()
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            let created = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: certificate.path))
            #expect(created.status == 202, "\(created.body)")
            let read = try await ServerExecutableTests.call(client, .GET, "\(api)/gateways/shop")
            #expect(read.body.contains("\"tls\":{\"certificate\":\"\(certificate.path)\"}"), "\(read.body)")
            try await waitUntil(timeout: .seconds(30), "the HTTPS gateway on \(port)\n\(server.process.logTail())") { FreePort.isAccepting(port) }
            let h2 = try await Curl.run(Self.curlTrusting(authority, port: port) + ["--http2", "-D", "-", "-w", "\n%{http_version}", "https://shop.test:\(port)/catalog"])
            #expect(h2.status == 0, "\(h2.errors)")
            #expect(h2.output.lowercased().contains("x-served-by: catalog"), "\(h2.output)")
            #expect(h2.output.hasSuffix("\n2"), "\(h2.output)")
            #expect(try await Self.subject(port: port, authority: authority) == "CN=shop-v1")
        }
    }

    @Test("a certificate HAProxy refuses (garbage, a key of another certificate) is refused with 400 naming the gateway and field; the gateway served before keeps its certificate; a served gateway's file rewritten with garbage holds back no other gateway's write")
    func refused() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let good = try await authority.serverCertificate(fileName: "shop.pem", commonName: "shop-v1", serial: 1)
        let other = try await authority.serverCertificate(fileName: "other.pem", commonName: "other", serial: 2)
        let garbage = authority.folder.appendingPathComponent("garbage.pem")
        try Data("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n".utf8).write(to: garbage)
        let goodText = try String(contentsOf: good, encoding: .utf8), otherText = try String(contentsOf: other, encoding: .utf8)
        let mismatch = authority.folder.appendingPathComponent("mismatch.pem")
        let cut = try #require(goodText.range(of: "-----BEGIN PRIVATE KEY-----")), otherKey = try #require(otherText.range(of: "-----BEGIN PRIVATE KEY-----"))
        try Data((String(goodText[..<cut.lowerBound]) + String(otherText[otherKey.lowerBound...])).utf8).write(to: mismatch)

        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let backend = try TestHTTPService(name: "catalog")
        let port = try FreePort.next()
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            for file in [garbage, mismatch] {
                let refused = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("bad", port: try FreePort.next(), backend: backend.port, certificate: file.path))
                #expect(refused.status == 400, "\(refused.body)")
                #expect(refused.body.contains("gateway 'bad', field tls.certificate: HAProxy cannot use the certificate \(file.path)"), "\(refused.body)")
                #expect(try await ServerExecutableTests.call(client, .GET, "\(api)/gateways/bad").status == 404)
            }
            let unsafe = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("bad", port: try FreePort.next(), backend: backend.port, certificate: "\"/x.pem alpn h2\""))
            #expect(unsafe.status == 400 && unsafe.body.contains("tls.certificate"), "\(unsafe.body)")

            #expect(try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: good.path)).status == 202)
            try await waitUntil(timeout: .seconds(30), "the HTTPS gateway on \(port)\n\(server.process.logTail())") { FreePort.isAccepting(port) }
            let put = try await ServerExecutableTests.call(client, .PUT, "\(api)/gateways/shop", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: mismatch.path))
            #expect(put.status == 400 && put.body.contains("gateway 'shop', field tls.certificate"), "\(put.body)")
            #expect(try await Self.subject(port: port, authority: authority) == "CN=shop-v1")

            // The served gateway's file is rewritten with garbage in place: a write of another gateway is not held
            // back by it; a write of that gateway is refused.
            try FileManager.default.removeItem(at: good)
            try FileManager.default.copyItem(at: garbage, to: good)
            let other = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway("other", port: try FreePort.next(), backend: backend.port))
            #expect(other.status == 202, "\(other.body)")
            let again = try await ServerExecutableTests.call(client, .PUT, "\(api)/gateways/shop", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: good.path) + "sticky: route\n")
            #expect(again.status == 400 && again.body.contains("gateway 'shop', field tls.certificate"), "\(again.body)")
        }
    }

    @Test("a certificate path the server does not hold is taken (it names a file on the agents' machines); an agent without the file leaves that gateway out, named in /info, and serves the others")
    func missingOnTheAgent() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let good = try await authority.serverCertificate(fileName: "shop.pem", commonName: "shop-v1", serial: 1)
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let backend = try TestHTTPService(name: "catalog")
        let (missingPort, port) = (try FreePort.next(), try FreePort.next())
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            let missing = authority.folder.appendingPathComponent("not-here.pem").path
            let taken = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("elsewhere", port: missingPort, backend: backend.port, certificate: missing))
            #expect(taken.status == 202, "\(taken.body)")
            #expect(try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: good.path)).status == 202)
            try await waitUntil(timeout: .seconds(30), "shop served, elsewhere named in /info\n\(server.process.logTail())") {
                let info = try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent").body
                return FreePort.isAccepting(port) && info.contains("\"left_out\":{\"elsewhere\"")
            }
            #expect(!FreePort.isAccepting(missingPort))
        }
    }

    @Test("a certificate change under load (two curl loops, a new TLS connection per request): no failed request, and the new certificate is presented afterwards")
    func changeUnderLoad() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let first = try await authority.serverCertificate(fileName: "shop-v1.pem", commonName: "shop-v1", serial: 1)
        let second = try await authority.serverCertificate(fileName: "shop-v2.pem", commonName: "shop-v2", serial: 2)
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let backend = try TestHTTPService(name: "catalog")
        let port = try FreePort.next()
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            #expect(try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: first.path)).status == 202)
            try await waitUntil(timeout: .seconds(30), "the HTTPS gateway on \(port)\n\(server.process.logTail())") { FreePort.isAccepting(port) }
            #expect(try await Self.subject(port: port, authority: authority) == "CN=shop-v1")

            try await Self.expectNoFailedRequest(port: port, authority: authority, presenting: "CN=shop-v2", log: server) {
                let changed = try await ServerExecutableTests.call(client, .PUT, "\(api)/gateways/shop", yaml: Self.gateway("shop", port: port, backend: backend.port, certificate: second.path))
                #expect(changed.status == 202, "\(changed.body)")
            }
        }
    }
}

extension HTTPSGatewayServerTests {
    /// Two curl loops (a new TLS connection per request) run against the HTTPS gateway on `port` while `change` is
    /// made: at least 40 requests before it, the gateway then presents `expected`, at least 40 requests after; every
    /// one of them must have been answered with 200.
    static func expectNoFailedRequest(
        port: Int, authority: TestCertificateAuthority, presenting expected: String, log server: VampServerFixture,
        during change: () async throws -> Void
    ) async throws {
        let load = try CurlLoad(folder: authority.folder, loops: 2, arguments: curlTrusting(authority, port: port) + ["https://shop.test:\(port)/"])
        try await waitUntil(timeout: .seconds(30), "requests before the change") { load.results().count >= 40 }
        try await change()
        try await waitUntil(timeout: .seconds(30), "the new certificate \(expected)\n\(server.process.logTail())") {
            try await subject(port: port, authority: authority) == expected
        }
        let atChange = load.results().count
        try await waitUntil(timeout: .seconds(30), "requests after the change") { load.results().count >= atChange + 40 }
        await load.stop()
        let results = load.results()
        let failed = results.filter { $0 != "200" }
        #expect(failed.isEmpty, "\(failed.count) of \(results.count) requests failed: \(Set(failed))")
        #expect(results.count >= 80)
    }
}

/// `loops` shell loops running `curl -w '%{http_code}' arguments` one request after another (a new connection each
/// time), each writing one status per line to its own file, until ``stop()`` (or until it is released: the loops
/// then end after their current request, so a test that fails half-way leaves none running).
final class CurlLoad: @unchecked Sendable {
    let files: [URL]
    let stopFile: URL
    let processes: [Process]

    init(folder: URL, loops: Int, arguments: [String]) throws {
        let stopFile = folder.appendingPathComponent("stop-\(UUID().uuidString.prefix(8))")
        let files = (0..<loops).map { folder.appendingPathComponent("codes-\($0)-\(UUID().uuidString.prefix(8))") }
        self.stopFile = stopFile
        self.files = files
        let quoted = (["/usr/bin/curl", "-s", "-o", "/dev/null", "--max-time", "5", "-w", "%{http_code}\\n"] + arguments)
            .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        processes = try files.map { file in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "while [ ! -e '\(stopFile.path)' ]; do \(quoted) >> '\(file.path)'; done"]
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return process
        }
    }

    deinit { FileManager.default.createFile(atPath: stopFile.path, contents: nil) }

    /// Every status written so far (a line per finished request).
    func results() -> [String] {
        files.flatMap { file in
            ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    /// Asks the loops to stop after their current request and waits for them, on a thread of its own (waiting for a
    /// process blocks; the cooperative pool other tests run on must not).
    func stop() async {
        FileManager.default.createFile(atPath: stopFile.path, contents: nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                for process in self.processes { process.waitUntilExit() }
                done.resume()
            }
        }
    }
}
