public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A built `vamp-server` (embedded gateway agent with real HAProxy, the local-process driver) running in a temporary
/// folder on a free API port and a free range of gateway ports, with `binaries` first on its `PATH` so that breeds can
/// run `sava`. ``tearDown()`` stops it, the processes it deployed and HAProxy.
public final class VampServerFixture: @unchecked Sendable {
    /// The server's folder (its `.vamp/` state and `server.log`).
    public let folder: TemporaryDirectory
    /// The API's port.
    public let apiPort: Int
    /// The server's environment, with `VAMP_HOST` pointing at it: what a CLI run against it needs.
    public let environment: [String: String]
    /// The server process (a new one after ``restart(signal:log:waitingForAPI:)``).
    public private(set) var process: ExternalProcess
    let binaries: URL

    /// The admin token every fixture server is started with (`vamp.http-api.tokens.admin`), for tests that call
    /// its API: `Authorization: Bearer <adminToken>`.
    public static let adminToken = "vamp-test-admin-0123456789abcdef0123456789abcdef"

    /// `http://127.0.0.1:<apiPort>`, or `https://` when the server was started with a certificate.
    public var host: URL { URL(string: "\(tls == nil ? "http" : "https")://127.0.0.1:\(apiPort)")! }
    /// The certificate the API is served with (`vamp.http-api.tls.*`), and its CA; `nil`: plain HTTP.
    public let tls: (certificate: TestCertificateAuthority.Issued, caFile: URL)?

    /// Starts `binaries/vamp-server` and waits until its API accepts connections; `extraEnvironment` adds or
    /// overrides settings (`VAMP_CONTAINER_DRIVER_TYPE`, ...). With `tls`, the API is served over HTTPS with that
    /// certificate, and the environment has `VAMP_HOST=https://...` and `VAMP_CA_FILE` (what the CLI reads).
    public init(
        binaries: URL, extraEnvironment: [String: String] = [:], tls: (certificate: TestCertificateAuthority.Issued, caFile: URL)? = nil
    ) async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") else {
            throw FixtureError("HAProxy is not installed; install it: apt-get install -y haproxy (Scripts/test does)")
        }
        folder = try TemporaryDirectory(prefix: "vamp-server")
        apiPort = try FreePort.next()
        let base = try Self.freeRange(count: 40)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = binaries.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["VAMP_HTTP_API_PORT"] = String(apiPort)
        environment["VAMP_OPERATION_GATEWAY_PORT_RANGE"] = "\(base)-\(base + 39)"
        // Port 80 may be another test's; tests reach gateways by port.
        environment["VAMP_OPERATION_GATEWAY_VIRTUAL_HOSTS_ENABLED"] = "false"
        environment["VAMP_HOST"] = "\(tls == nil ? "http" : "https")://127.0.0.1:\(apiPort)"
        if let tls {
            environment["VAMP_HTTP_API_TLS_CERTIFICATE"] = tls.certificate.certificate.path
            environment["VAMP_HTTP_API_TLS_KEY"] = tls.certificate.key.path
            environment["VAMP_CA_FILE"] = tls.caFile.path
        }
        self.tls = tls
        // An admin token the tests know (the server hashes it); the CLI reads VAMP_TOKEN.
        environment["VAMP_HTTP_API_TOKENS_ADMIN"] = Self.adminToken
        environment["VAMP_TOKEN"] = Self.adminToken
        environment.merge(extraEnvironment) { _, new in new }
        self.environment = environment
        self.binaries = binaries
        process = try Self.launch(binaries, folder, environment, log: "server.log")
        try await waitForAPI()
    }

    static func launch(_ binaries: URL, _ folder: TemporaryDirectory, _ environment: [String: String], log: String) throws -> ExternalProcess {
        try ExternalProcess(
            executable: binaries.appendingPathComponent("vamp-server").path, arguments: [],
            environment: environment, workingDirectory: folder.url, logFile: folder.url.appendingPathComponent(log),
            installHint: "build it first: swift build --build-tests")
    }

    func waitForAPI() async throws {
        let port = apiPort, process = self.process
        try await waitUntil(timeout: .seconds(30), "vamp-server answers on \(port)\n\(process.logTail())") { FreePort.isAccepting(port) }
    }

    /// Stops the server (SIGTERM, or SIGKILL as a crash would) and starts it again in the same folder with the same
    /// settings, its output in `log`; returns once the API answers, or at once unless `waitingForAPI` (so that the
    /// next kill can land while the server starts).
    public func restart(signal: Int32, log: String, waitingForAPI: Bool = true) async throws {
        if signal == SIGKILL { kill(process.pid, SIGKILL) }
        await process.stopOffThePool()
        process = try Self.launch(binaries, folder, environment, log: log)
        if waitingForAPI { try await waitForAPI() }
    }

    /// Waits until the API accepts connections (after a ``restart(signal:log:waitingForAPI:)`` that did not wait).
    public func waitUntilServing() async throws { try await waitForAPI() }

    /// Stops the server, the processes it deployed (their working folder is under the server's) and HAProxy, and
    /// removes the folder.
    public func tearDown() {
        process.stop()
        let root = folder.url.resolvingSymlinksInPath().path
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd"),
                  cwd.hasPrefix(root) || cwd.hasPrefix(folder.url.path) else { continue }
            kill(pid, SIGKILL)
        }
        let pidFile = folder.url.appendingPathComponent(".vamp/gateway-agent/haproxy.pid")
        if let text = try? String(contentsOf: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        folder.remove()
    }

    /// `count` consecutive free ports (each binds), from ``FreePort/range``: outside the kernel's ephemeral range, as
    /// Vamp's default gateway range is, so that no client's source port stops HAProxy from binding a gateway.
    static func freeRange(count: Int) throws -> Int {
        for _ in 0..<50 {
            let base = Int.random(in: FreePort.range.lowerBound...(FreePort.range.upperBound - count))
            if (base..<(base + count)).allSatisfy({ FreePort.canBind($0) }) { return base }
        }
        throw FixtureError("no \(count) free ports in a row")
    }
}
