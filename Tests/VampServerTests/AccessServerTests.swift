import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VampTesting

/// The real `vamp-server` binary: which settings of authentication it accepts, configured tokens, and who may open a
/// namespace.
@Suite("vamp-server: authentication settings", .serialized)
struct AccessServerTests {
    @Test("auth none on a non-loopback interface, a short configured secret and a duplicate name stop the server, naming the setting")
    func refusedSettings() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-auth-bad")
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("tokens.yaml")
        try "- {name: ci, role: write, secret: short}\n".write(to: file, atomically: true, encoding: .utf8)
        let twice = folder.url.appendingPathComponent("twice.yaml")
        try "- {name: ci, secret: 0123456789abcdef0123456789}\n- {name: ci, secret: 0123456789abcdef01234567xx}\n".write(to: twice, atomically: true, encoding: .utf8)
        for (environment, named) in [
            (["VAMP_HTTP_API_AUTH": "none", "VAMP_HTTP_API_INTERFACE": "0.0.0.0"], "vamp.http-api.auth (VAMP_HTTP_API_AUTH): none turns authentication off"),
            (["VAMP_HTTP_API_AUTH": "sometimes"], "vamp.http-api.auth (VAMP_HTTP_API_AUTH): 'sometimes' is not tokens or none"),
            (["VAMP_HTTP_API_TOKENS_FILE": file.path], "shorter than 24 characters"),
            (["VAMP_HTTP_API_TOKENS_FILE": twice.path], "the token name 'ci' is given twice"),
        ] {
            var full = ProcessInfo.processInfo.environment
            full.merge(environment) { _, new in new }
            let server = try ServerExecutableTests.start(folder, environment: full, log: "\(environment.values.joined()).log".replacingOccurrences(of: "/", with: "_"))
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(environment)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(named), "\(environment): \(server.logTail())")
        }
    }

    @Test("configured tokens from a file; a write token may not open a new namespace, an admin may, then the write token works there; a restart keeps the first start's token")
    func configuredTokens() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-auth-file")
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("tokens.yaml")
        let write = "write-0123456789abcdef0123456789"
        try "- {name: ci, role: write, secret: \(write)}\n".write(to: file, atomically: true, encoding: .utf8)
        let port = try FreePort.next()
        var environment = ProcessInfo.processInfo.environment
        environment["VAMP_HTTP_API_TOKENS_FILE"] = file.path
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], environment: environment)
        defer { server.stop() }
        let root = "http://127.0.0.1:\(port)"
        try await ServerExecutableTests.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info").status == 200
            }
            #expect(try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info", token: write).status == 200)
            let tokens = try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/tokens", token: write)
            #expect(tokens.status == 403, "\(tokens.body)")
            let gateway = ServerExecutableTests.gateway("shop", port: 9063, backend: 1)
            let refused = try await ServerExecutableTests.call(client, .POST, "\(root)/acme/api/v1/gateways", yaml: gateway, token: write)
            #expect(refused.status == 403 && refused.body.contains("opening a namespace needs a token with the role admin"), "\(refused.body)")
            #expect(try await ServerExecutableTests.call(client, .GET, "\(root)/acme/api/v1/gateways").status == 200, "the admin opens it")
            let created = try await ServerExecutableTests.call(client, .POST, "\(root)/acme/api/v1/gateways", yaml: gateway, token: write)
            #expect(created.status == 202, "\(created.body)")
            let listed = try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/tokens")
            #expect(listed.body.contains("\"ci\"") && listed.body.contains("\"configuration\"") && !listed.body.contains(write), "\(listed.body)")
        }
        // No admin token was made at this first start: tokens were configured.
        #expect(!FileManager.default.fileExists(atPath: folder.url.appendingPathComponent(".vamp/admin-token").path))
    }

    @Test("a restart keeps the first start's admin token and prints no other; auth none on loopback needs no token")
    func restartAndNone() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-auth-restart")
        defer { folder.remove() }
        let port = try FreePort.next()
        let root = "http://127.0.0.1:\(port)"
        let tokenFile = folder.url.appendingPathComponent(".vamp/admin-token").path
        try await ServerExecutableTests.withClient { client in
            var first = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], firstStart: true, log: "first.log")
            try await waitUntil(timeout: .seconds(30), "the API\n\(first.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info", token: nil).status == 401
            }
            let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            first.stop()
            first = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], firstStart: true, log: "second.log")
            try await waitUntil(timeout: .seconds(30), "the API again\n\(first.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info", token: token).status == 200
            }
            #expect(!first.logTail().contains("created the admin token"), "\(first.logTail())")
            #expect(try String(contentsOfFile: tokenFile, encoding: .utf8).contains(token))
            first.stop()

            var environment = ProcessInfo.processInfo.environment
            environment["VAMP_HTTP_API_AUTH"] = "none"
            let open = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], environment: environment, log: "none.log")
            defer { open.stop() }
            try await waitUntil(timeout: .seconds(30), "the API without tokens\n\(open.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info", token: nil).status == 200
            }
            #expect(open.logTail().contains("authentication is off"))
        }
    }
}
