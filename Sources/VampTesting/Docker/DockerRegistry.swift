import Foundation

/// A real image registry (Debian `docker-registry`, the CNCF Distribution registry 2.8) on 127.0.0.1 with its storage
/// in a temporary folder and `htpasswd` authentication (one user, a bcrypt entry made by `htpasswd -B` from
/// `apache2-utils`). It speaks plain HTTP: a Docker Engine treats registries on 127.0.0.0/8 as insecure ones, so it
/// pulls from ``address`` without TLS. ``stop()`` stops it and deletes the folder.
public final class DockerRegistry: @unchecked Sendable {
    /// The folder holding the configuration, the password file, the storage and the log.
    public let directory: TemporaryDirectory
    /// `127.0.0.1:<port>`: the registry part of an image name (`127.0.0.1:<port>/vamp/bbox:1.0`).
    public let address: String
    /// The user the registry accepts.
    public let username: String
    /// Its password.
    public let password: String
    private let process: ExternalProcess

    /// Where the registry is looked for.
    public static let executable = "/usr/bin/docker-registry"
    /// Where `htpasswd` is looked for.
    public static let htpasswd = "/usr/bin/htpasswd"
    static let installHint = "Install them with: apt-get install -y docker-registry apache2-utils"

    /// Starts the registry on a free port and waits until `GET /v2/` asks for credentials (401). Fails (never skips)
    /// when `docker-registry` or `htpasswd` is missing.
    public static func start(username: String = "vamp", password: String = "s3cret-Pass") async throws -> DockerRegistry {
        guard FileManager.default.isExecutableFile(atPath: htpasswd) else { throw FixtureError("\(htpasswd) not found. \(installHint)") }
        var lastError: (any Error)?
        for _ in 0..<3 {
            let directory = try TemporaryDirectory(prefix: "vamp-registry")
            do {
                let registry = try DockerRegistry(directory: directory, port: try FreePort.next(), username: username, password: password)
                do {
                    try await registry.waitUntilAsking()
                    return registry
                } catch {
                    lastError = error
                    await registry.stop()
                }
            } catch {
                directory.remove()
                throw error
            }
        }
        throw lastError ?? FixtureError("docker-registry did not start")
    }

    private init(directory: TemporaryDirectory, port: Int, username: String, password: String) throws {
        self.directory = directory
        self.username = username
        self.password = password
        address = "127.0.0.1:\(port)"
        let root = directory.url.path
        let passwords = root + "/htpasswd"
        let hash = Process()
        hash.executableURL = URL(fileURLWithPath: Self.htpasswd)
        hash.arguments = ["-B", "-b", "-c", passwords, username, password]
        hash.standardOutput = FileHandle.nullDevice
        hash.standardError = FileHandle.nullDevice
        try hash.run()
        hash.waitUntilExit()
        guard hash.terminationStatus == 0 else { throw FixtureError("htpasswd -B failed with status \(hash.terminationStatus)") }
        let configuration = """
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: \(root)/storage
            http:
              addr: 127.0.0.1:\(port)
            auth:
              htpasswd:
                realm: vamp-test-registry
                path: \(passwords)
            """
        let file = directory.url.appendingPathComponent("config.yml")
        try Data(configuration.utf8).write(to: file)
        process = try ExternalProcess(
            executable: Self.executable, arguments: ["serve", file.path],
            logFile: directory.url.appendingPathComponent("registry.log"), installHint: Self.installHint)
    }

    private func waitUntilAsking() async throws {
        let process = process
        let port = Int(address.split(separator: ":").last!)!
        do {
            try await waitUntil(timeout: .seconds(20), "docker-registry to listen on \(address)") {
                guard process.isRunning else { throw FixtureError("docker-registry exited: \(process.logTail())") }
                return FreePort.isAccepting(port)
            }
        } catch {
            throw FixtureError("\(error). docker-registry log: \(process.logTail())")
        }
    }

    /// The registry's log, for failure messages.
    public func logTail() -> String { process.logTail() }

    /// Stops the registry and deletes its folder.
    public func stop() async {
        await process.stopOffThePool()
        directory.remove()
    }
}
