public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, `postgres` on a
/// free 127.0.0.1 port with trust authentication for user `vamp`, stopped by ``stop()`` or when
/// the test process exits.
///
/// PostgreSQL refuses to run as root, so as root the fixture runs the server binaries as the
/// `postgres` system user (`runuser -u postgres --`) and hands it the folder. A missing server
/// binary is an error that says which Debian package to install: the test fails, it never skips.
public final class PostgresServer: Sendable {
    /// Always `127.0.0.1`.
    public let host = "127.0.0.1"
    /// The TCP port the server listens on.
    public let port: Int
    /// The superuser, with trust authentication (no password).
    public let username = "vamp"
    /// The database created at start.
    public let database = "vamp"
    private let binaries: String
    /// Data folder, socket and logs: under /tmp, which the `postgres` user can reach (TMPDIR
    /// may not be) and short enough for a unix socket path.
    private let directory: URL
    private let process: ExternalProcess
    private let runAsPostgres: Bool

    private static let installHint =
        "Install the PostgreSQL server: apt-get install postgresql (Debian 12 puts it in /usr/lib/postgresql/15/bin)."

    /// Starts a new server and waits until it accepts connections.
    ///
    /// Tests run with `fsync=off` (a test database need not survive a power cut); pass
    /// `durable: true` for PostgreSQL's default, e.g. to measure write throughput.
    /// `binaryDirectory` overrides where `initdb` and `postgres` are looked for (by default the
    /// newest `/usr/lib/postgresql/*/bin`).
    /// `tls` (a certificate and its key, PEM) turns on TLS (`ssl=on`): clients may then ask for it (`sslmode`).
    public static func start(
        durable: Bool = false, binaryDirectory: String? = nil, timeout: Duration = .seconds(60), tls: (certificate: URL, key: URL)? = nil
    ) async throws -> PostgresServer {
        // Another process can take the free port before postgres binds it: try a new port then.
        var attempt = 1
        while true {
            do {
                return try await startOnce(durable: durable, binaryDirectory: binaryDirectory, timeout: timeout, tls: tls)
            } catch let error as FixtureError where attempt < 3 && error.message.contains("postgres exited") {
                attempt += 1
            }
        }
    }

    private static func startOnce(
        durable: Bool, binaryDirectory: String?, timeout: Duration, tls: (certificate: URL, key: URL)?
    ) async throws -> PostgresServer {
        let server = try PostgresServer(durable: durable, binaryDirectory: binaryDirectory, tls: tls)
        do {
            try await waitUntil(timeout: timeout, "PostgreSQL on port \(server.port) (log: \(server.process.logFile.path))") {
                // Accepting TCP is not enough: during start-up the server refuses sessions
                // ("the database system is starting up"); pg_isready says when it takes them.
                !server.process.isRunning
                    || (FreePort.isAccepting(server.port)
                        && (try? server.runTool("pg_isready", ["-h", server.host, "-p", String(server.port), "-U", server.username])) != nil)
            }
            guard server.process.isRunning else {
                throw FixtureError("postgres exited: \(server.process.logTail())")
            }
            try server.runTool("createdb", ["-h", server.host, "-p", String(server.port), "-U", server.username, server.database])
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    private init(durable: Bool, binaryDirectory: String?, tls: (certificate: URL, key: URL)?) throws {
        guard let binaries = binaryDirectory ?? Self.findBinaries(),
            FileManager.default.isExecutableFile(atPath: binaries + "/initdb"),
            FileManager.default.isExecutableFile(atPath: binaries + "/postgres")
        else {
            throw FixtureError(
                "PostgreSQL's initdb and postgres were not found in \(binaryDirectory ?? "/usr/lib/postgresql/*/bin"). "
                    + Self.installHint)
        }
        self.binaries = binaries
        runAsPostgres = getuid() == 0
        directory = URL(fileURLWithPath: "/tmp/vamp-postgres-\(UUID().uuidString.prefix(8).lowercased())", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let data = directory.appendingPathComponent("data").path
        do {
            if runAsPostgres {
                // The postgres user must own the folder.
                try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory.path)
            }
            try Self.run(
                binaries + "/initdb",
                ["-D", data, "-U", "vamp", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                asPostgres: runAsPostgres, log: directory.appendingPathComponent("initdb.log"))
            port = try FreePort.next()
            let folder = directory, owner = runAsPostgres ? "postgres" : nil
            let arguments = [
                "-D", data, "-p", String(port), "-k", directory.path, "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=200",
            ] + (durable ? [] : ["-c", "fsync=off"]) + (try tls.map { try Self.tlsSettings($0, in: folder, owner: owner) } ?? [])
            let executable = binaries + "/postgres"
            process = try ExternalProcess(
                executable: runAsPostgres ? "/usr/sbin/runuser" : executable,
                arguments: runAsPostgres ? ["-u", "postgres", "--", executable] + arguments : arguments,
                logFile: directory.appendingPathComponent("postgres.log"),
                installHint: Self.installHint)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        PostgresServerRegistry.add(self)
    }

    /// Copies the certificate and key where the server's user owns them (PostgreSQL refuses a key others can read)
    /// and returns the settings that turn TLS on.
    private static func tlsSettings(_ files: (certificate: URL, key: URL), in directory: URL, owner: String?) throws -> [String] {
        let certificate = directory.appendingPathComponent("server.crt"), key = directory.appendingPathComponent("server.key")
        try FileManager.default.copyItem(at: files.certificate, to: certificate)
        try FileManager.default.copyItem(at: files.key, to: key)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key.path)
        if let owner {
            for file in [certificate, key] { try FileManager.default.setAttributes([.ownerAccountName: owner], ofItemAtPath: file.path) }
        }
        return ["-c", "ssl=on", "-c", "ssl_cert_file=\(certificate.path)", "-c", "ssl_key_file=\(key.path)"]
    }

    /// Creates another empty database on this server, e.g. one per test.
    public func createDatabase(_ name: String) throws {
        try runTool("createdb", ["-h", host, "-p", String(port), "-U", username, name])
    }

    /// Stops the server (fast shutdown) and removes its folder.
    public func stop() {
        // Signal the postmaster itself (its pid is the first line of postmaster.pid): runuser
        // would turn any signal into SIGTERM, PostgreSQL's "smart" shutdown that waits for clients.
        let pidFile = directory.appendingPathComponent("data/postmaster.pid")
        if let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let line = text.split(separator: "\n").first, let pid = Int32(line)
        {
            kill(pid, SIGINT)
            let deadline = ContinuousClock.now + .seconds(10)
            while kill(pid, 0) == 0 && ContinuousClock.now < deadline { usleep(20_000) }
        }
        process.stop(signal: SIGINT, timeout: .seconds(5))
        try? FileManager.default.removeItem(at: directory)
    }

    private func runTool(_ tool: String, _ arguments: [String]) throws {
        try Self.run(
            binaries + "/" + tool, arguments, asPostgres: false,
            log: directory.appendingPathComponent("\(tool)-\(UUID().uuidString.prefix(6)).log"))
    }

    private static func findBinaries() -> String? {
        var candidates = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]
        if let installed = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            candidates += installed.sorted().reversed().map { "/usr/lib/postgresql/\($0)/bin" }
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    private static func run(_ executable: String, _ arguments: [String], asPostgres: Bool, log: URL) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw FixtureError("\(executable) not found. \(installHint)")
        }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: asPostgres ? "/usr/sbin/runuser" : executable)
        process.arguments = asPostgres ? ["-u", "postgres", "--", executable] + arguments : arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw FixtureError(
                "\(([executable] + arguments).joined(separator: " ")) exited with \(process.terminationStatus): \(output)")
        }
    }
}

/// Stops every server still running when the test process exits normally, so no orphaned
/// postgres outlives the test run.
private enum PostgresServerRegistry {
    nonisolated(unsafe) private static var servers: [PostgresServer] = []
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed = false

    static func add(_ server: PostgresServer) {
        lock.lock()
        defer { lock.unlock() }
        servers.append(server)
        if !installed {
            installed = true
            atexit { PostgresServerRegistry.stopAll() }
        }
    }

    static func stopAll() {
        lock.lock()
        let all = servers
        servers = []
        lock.unlock()
        for server in all { server.stop() }
    }
}
