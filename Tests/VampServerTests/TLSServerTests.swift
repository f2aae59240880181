import Foundation
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-server` serving its API over HTTPS (`vamp.http-api.tls.certificate` and `.key`), with
/// certificates of a CA the test makes with the real `openssl`, and real `curl` and `openssl s_client` as clients.
@Suite("vamp-server executable: HTTPS for the API", .serialized)
struct TLSServerTests {
    /// A CA with two server certificates, `first` and `second`, and the files the server is given (`api.pem`,
    /// `api.key`: copies of `first`'s).
    struct Certificates {
        let authority: TestCertificateAuthority
        let first: TestCertificateAuthority.Issued
        let second: TestCertificateAuthority.Issued
        let certificate: URL
        let key: URL

        init(_ folder: TemporaryDirectory) async throws {
            let pki = folder.url.appendingPathComponent("pki")
            try FileManager.default.createDirectory(at: pki, withIntermediateDirectories: true)
            authority = try await TestCertificateAuthority(in: pki)
            first = try await authority.issue("first", serial: "0A11CE01")
            second = try await authority.issue("second", serial: "0B0B0002")
            certificate = folder.url.appendingPathComponent("api.pem")
            key = folder.url.appendingPathComponent("api.key")
            try serve(first)
        }

        /// Puts `issued`'s files where the server reads them.
        func serve(_ issued: TestCertificateAuthority.Issued) throws {
            try Data(contentsOf: issued.certificate).write(to: certificate)
            try Data(contentsOf: issued.key).write(to: key)
        }

        var environment: [String: String] {
            var environment = ProcessInfo.processInfo.environment
            environment["VAMP_HTTP_API_TLS_CERTIFICATE"] = certificate.path
            environment["VAMP_HTTP_API_TLS_KEY"] = key.path
            return environment
        }
    }

    /// Starts the server with `certificates` (and `settings`) and waits for its log line saying it serves HTTPS.
    static func started(
        _ folder: TemporaryDirectory, _ certificates: Certificates, settings: [String: String] = [:]
    ) async throws -> (ExternalProcess, Int) {
        let port = try FreePort.next()
        let environment = certificates.environment.merging(settings) { _, new in new }
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], environment: environment)
        try await waitUntil(timeout: .seconds(30), "the API over HTTPS\n\(server.logTail())") {
            server.logTail().contains("serving the API") && FreePort.isAccepting(port)
        }
        return (server, port)
    }

    /// `curl` of `url` with the admin token and `arguments`: the exit status and what it printed (`-w` status code).
    static func curl(_ url: String, _ arguments: [String] = []) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            throw FixtureError("curl is not installed; install it: apt-get install -y curl (Scripts/test does)")
        }
        process.arguments = ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(VampServerFixture.adminToken)"]
            + arguments + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The body `curl` gets for `url` with the admin token, trusting `caFile`.
    static func body(_ url: String, caFile: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sS", "--max-time", "10", "--cacert", caFile.path, "-H", "Authorization: Bearer \(VampServerFixture.adminToken)", url]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func infoRequest() -> String {
        "GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(VampServerFixture.adminToken)\r\n\r\n"
    }

    @Test("HTTPS: curl trusting the CA gets 200 at 127.0.0.1 and localhost; without it, a certificate error at once; plain HTTP gets no answer but a closed connection; the log says https",
          .timeLimit(.minutes(2)))
    func servesHTTPS() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-tls")
        defer { folder.remove() }
        let certificates = try await Certificates(folder)
        let (server, port) = try await Self.started(folder, certificates)
        defer { server.stop() }
        #expect(server.logTail().contains("https://127.0.0.1:\(port)"), "\(server.logTail())")
        let ca = ["--cacert", certificates.authority.caFile.path]
        #expect(try Self.curl("https://127.0.0.1:\(port)/api/v1/info", ca).output == "200")
        #expect(try Self.curl("https://localhost:\(port)/api/v1/info", ca).output == "200")
        let untrusted = try Self.curl("https://127.0.0.1:\(port)/api/v1/info")
        #expect(untrusted.status == 60, "curl's 'peer certificate cannot be authenticated': \(untrusted.output)")
        let plain = try Self.curl("http://127.0.0.1:\(port)/api/v1/info")
        #expect(plain.status != 0 && plain.status != 28, "plain HTTP is refused, not left to time out: \(plain)")
        #expect(try await TestCertificateAuthority.served(port: port).contains("serial=\(certificates.first.serial)"))
    }

    @Test("a client that connects and sends nothing, or half a ClientHello, is closed within vamp.http-api.read-timeout (1 s here), not the idle timeout; a connection whose handshake completed is not",
          .timeLimit(.minutes(2)))
    func handshakeTimeout() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-tls-handshake")
        defer { folder.remove() }
        let certificates = try await Certificates(folder)
        let (server, port) = try await Self.started(folder, certificates, settings: ["VAMP_HTTP_API_READ_TIMEOUT": "1"])
        defer { server.stop() }
        // Handshake done before the silent clients connect: it lives past the bound below.
        let kept = try await TestConnection.open(port: port, caFile: certificates.authority.caFile)
        try await kept.send(Self.infoRequest())
        #expect(try await kept.read { $0.contains("\r\n\r\n") && $0.hasSuffix("}") }.hasPrefix("HTTP/1.1 200"))

        let opened = ContinuousClock.now
        let silent = try await TestConnection.open(port: port)
        let partial = try await TestConnection.open(port: port)
        // A TLS record header announcing 64 bytes of handshake, then the start of a ClientHello (type 1, TLS 1.2):
        // the server waits for the rest.
        try await partial.send("\u{16}\u{03}\u{01}\u{00}\u{40}\u{01}\u{00}\u{00}\u{3C}\u{03}\u{03}" + String(repeating: "A", count: 16))
        for (name, connection) in [("silent", silent), ("partial ClientHello", partial)] {
            try await connection.read(timeout: .seconds(10)) { _ in false }
            let after = ContinuousClock.now - opened
            #expect(connection.isClosed, "\(name)")
            #expect(after >= .milliseconds(900) && after < .seconds(4), "\(name) closed after \(after), the bound is 1 s")
            #expect(!connection.received.contains("HTTP/1.1"), "\(name): no answer in clear: \(connection.received.prefix(100))")
        }
        // The completed handshake's connection is still served, more than the bound after it opened.
        kept.clear()
        try await kept.send(Self.infoRequest())
        #expect(try await kept.read { $0.contains("\r\n\r\n") && $0.hasSuffix("}") }.hasPrefix("HTTP/1.1 200"))
        #expect(!kept.isClosed)
        await kept.close()
        #expect(server.isRunning, "\(server.logTail())")
    }

    @Test("SIGHUP reads the files again: a connection open across the reload keeps working on the old certificate, a new one gets the new certificate; the log says so",
          .timeLimit(.minutes(2)))
    func reloadsOnSIGHUP() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-tls-reload")
        defer { folder.remove() }
        let certificates = try await Certificates(folder)
        let (server, port) = try await Self.started(folder, certificates)
        defer { server.stop() }
        let kept = try await TestConnection.open(port: port, caFile: certificates.authority.caFile)
        try await kept.send(Self.infoRequest())
        #expect(try await kept.read { $0.contains("\r\n\r\n") && $0.hasSuffix("}") }.hasPrefix("HTTP/1.1 200"))
        #expect(try await kept.peerCertificateSerial() == certificates.first.serial)

        try certificates.serve(certificates.second)
        kill(server.pid, SIGHUP)
        try await waitUntil(timeout: .seconds(10), "a new connection gets the second certificate\n\(server.logTail())") {
            let served = (try? await TestCertificateAuthority.served(port: port)) ?? ""
            return served.contains("serial=\(certificates.second.serial)") && served.contains("CN = second")
        }
        #expect(server.isRunning, "SIGHUP does not stop the server")
        #expect(server.logTail().contains("SIGHUP: the API's certificate is read again"), "\(server.logTail())")
        #expect(try Self.curl("https://127.0.0.1:\(port)/api/v1/info", ["--cacert", certificates.authority.caFile.path]).output == "200")

        // The connection opened before is still open, still on the first certificate, and answers.
        kept.clear()
        try await kept.send(Self.infoRequest())
        let again = try await kept.read { $0.contains("\r\n\r\n") && $0.hasSuffix("}") }
        #expect(again.hasPrefix("HTTP/1.1 200"), "\(again.prefix(300))")
        #expect(!kept.isClosed)
        #expect(try await kept.peerCertificateSerial() == certificates.first.serial)
        await kept.close()
    }

    @Test("SIGHUP with a certificate file that does not read, or a key of another certificate: the certificate served before stays, and the log says why",
          .timeLimit(.minutes(2)))
    func badFilesAtReload() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-tls-bad-reload")
        defer { folder.remove() }
        let certificates = try await Certificates(folder)
        let (server, port) = try await Self.started(folder, certificates)
        defer { server.stop() }
        try "not a certificate\n".write(to: certificates.certificate, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        try await waitUntil(timeout: .seconds(10), "the log to say the certificate was not replaced\n\(server.logTail())") {
            server.logTail().contains("the API's certificate was not replaced")
        }
        #expect(server.logTail().contains("vamp.http-api.tls.certificate \(certificates.certificate.path)"), "\(server.logTail())")
        #expect(try await TestCertificateAuthority.served(port: port).contains("serial=\(certificates.first.serial)"))

        // The second certificate with the first's key: refused the same way.
        try Data(contentsOf: certificates.second.certificate).write(to: certificates.certificate)
        kill(server.pid, SIGHUP)
        try await waitUntil(timeout: .seconds(10), "the log to refuse the key\n\(server.logTail())") {
            server.logTail().components(separatedBy: "the API's certificate was not replaced").count == 3
        }
        #expect(server.logTail().contains("is not the private key of"), "\(server.logTail())")
        #expect(try await TestCertificateAuthority.served(port: port).contains("serial=\(certificates.first.serial)"))
        #expect(try Self.curl("https://127.0.0.1:\(port)/api/v1/info", ["--cacert", certificates.authority.caFile.path]).output == "200")
    }

    @Test("at start: a certificate file that does not read, a key of another certificate, or one file without the other stop the server with a message naming the setting")
    func badFilesAtStart() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-tls-bad-start")
        defer { folder.remove() }
        let certificates = try await Certificates(folder)
        let garbage = folder.url.appendingPathComponent("garbage.pem")
        try "-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n".write(to: garbage, atomically: true, encoding: .utf8)
        let cases: [([String: String], String)] = [
            (["VAMP_HTTP_API_TLS_CERTIFICATE": garbage.path, "VAMP_HTTP_API_TLS_KEY": certificates.key.path], "vamp.http-api.tls.certificate \(garbage.path)"),
            (["VAMP_HTTP_API_TLS_CERTIFICATE": folder.url.appendingPathComponent("missing.pem").path, "VAMP_HTTP_API_TLS_KEY": certificates.key.path], "no such file"),
            (["VAMP_HTTP_API_TLS_CERTIFICATE": certificates.second.certificate.path, "VAMP_HTTP_API_TLS_KEY": certificates.key.path], "is not the private key of"),
            (["VAMP_HTTP_API_TLS_CERTIFICATE": certificates.certificate.path], "vamp.http-api.tls.key (VAMP_HTTP_API_TLS_KEY)"),
            (["VAMP_HTTP_API_TLS_KEY": certificates.key.path], "vamp.http-api.tls.certificate (VAMP_HTTP_API_TLS_CERTIFICATE)"),
        ]
        for (index, (settings, named)) in cases.enumerated() {
            var environment = ProcessInfo.processInfo.environment
            environment.merge(settings) { _, new in new }
            let server = try ServerExecutableTests.start(folder, arguments: ["--port", "0"], environment: environment, log: "bad-\(index).log")
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(settings)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(named), "\(settings): \(server.logTail())")
        }
    }

    @Test("a workflow gets VAMP_URL with https and VAMP_CA_FILE (vamp.http-api.tls.ca-file), and its curl --cacert \"$VAMP_CA_FILE\" calls the API back",
          .timeLimit(.minutes(2)))
    func workflowVerifiesTheAPI() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-tls-workflow")
        defer { folder.remove() }
        let certificates = try await Certificates(folder)
        let server = try await VampServerFixture(
            binaries: URL(fileURLWithPath: ServerExecutableTests.executable("vamp-server")).deletingLastPathComponent(),
            extraEnvironment: ["VAMP_HTTP_API_TLS_CA_FILE": certificates.authority.caFile.path],
            tls: (certificates.first, certificates.authority.caFile))
        defer { server.tearDown() }
        let script = server.folder.url.appendingPathComponent("call.sh")
        try """
            #!/bin/sh
            case "$VAMP_URL" in https://*) ;; *) echo "VAMP_URL is $VAMP_URL"; exit 4;; esac
            curl -sS --cacert "$VAMP_CA_FILE" -X POST -H "Authorization: Bearer $VAMP_API_TOKEN" -H 'Content-Type: application/json' \\
              -d '{"tags":["tls:workflow"]}' "$VAMP_URL/api/v1/events" > /dev/null || exit 3

            """.write(to: script, atomically: true, encoding: .utf8)
        let api = "\(server.host.absoluteString)/api/v1"
        let ca = ["--cacert", certificates.authority.caFile.path, "-H", "Content-Type: application/x-yaml"]
        #expect(try Self.curl("\(api)/breeds", ca + ["-X", "POST", "--data-binary", "name: call\ndeployable: {type: command, definition: \"sh \(script.path)\"}\n"]).output == "201")
        #expect(try Self.curl("\(api)/workflows", ca + ["-X", "POST", "--data-binary", "name: caller\nbreed: call\nschedule: {time: {period: PT2S}}\n"]).output == "202")
        try await waitUntil(timeout: .seconds(30), "the workflow's event\n\(server.process.logTail())\n\((try? Self.body("\(api)/workflows/caller/runs", caFile: certificates.authority.caFile)) ?? "")") {
            try Self.body("\(api)/events?tag=tls:workflow", caFile: certificates.authority.caFile).contains("tls:workflow")
        }
    }
}
