import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real Docker Engine (Debian `docker.io`'s `dockerd`) started without systemd, with everything under a temporary
/// folder: its own socket, data root, exec root, pid file and containerd namespace, `--iptables=false
/// --storage-driver=vfs`. ``start()`` also imports ``image``, a busybox image made from Debian's `busybox-static`
/// (`/bin/busybox` with `sh`, `echo`, `httpd`, `sleep`, `mkdir` and `cat` links and `/www/index.html` saying `hello`), since no registry can be
/// reached. ``stop()`` removes the containers, stops dockerd (its containerd exits with it) and deletes the folder.
public final class DockerEngine: @unchecked Sendable {
    /// The folder holding the socket, the engine's state and its log (removed by ``stop()``).
    public let directory: TemporaryDirectory
    /// The engine's socket.
    public let socketPath: String
    /// The busybox image ``start()`` imports.
    public let image = "localhost/vamp-busybox:latest"
    private let process: ExternalProcess

    /// `DOCKER_HOST` for this engine: `unix://<socket>`.
    public var host: String { "unix://\(socketPath)" }

    /// Where dockerd is looked for.
    public static let executable = "/usr/sbin/dockerd"
    /// Where the static busybox is looked for.
    public static let busybox = "/bin/busybox"
    static let installHint = "Install them with: apt-get install -y docker.io busybox-static"

    /// Starts dockerd, waits for `/_ping` and imports the busybox image. Fails (never skips) when `dockerd` or
    /// `busybox-static` is missing.
    ///
    /// One engine runs at a time in a test process: engines without iptables share the `docker0` bridge and its
    /// addresses, so two at once give two containers the same address. A second `start()` waits for the first engine's
    /// ``stop()``.
    public static func start() async throws -> DockerEngine {
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            throw FixtureError("\(busybox) not found. \(installHint)")
        }
        await gate.acquire()
        // A short path: a unix socket path is limited to 108 bytes.
        let directory = try TemporaryDirectory(prefix: "vamp-docker")
        let engine: DockerEngine
        do {
            engine = try DockerEngine(directory: directory)
        } catch {
            directory.remove()
            await gate.release()
            throw error
        }
        do {
            try await engine.waitForPing()
            try engine.importBusybox()
        } catch {
            await engine.stop()
            throw error
        }
        return engine
    }

    private init(directory: TemporaryDirectory) throws {
        self.directory = directory
        let root = directory.url.path
        socketPath = root + "/docker.sock"
        process = try ExternalProcess(
            executable: Self.executable,
            arguments: [
                "--data-root", root + "/root", "--exec-root", root + "/exec", "--pidfile", root + "/dockerd.pid",
                "-H", "unix://\(root)/docker.sock", "--containerd-namespace", "vamptest-\(directory.url.lastPathComponent)",
                "--containerd-plugins-namespace", "vamptest-plugins-\(directory.url.lastPathComponent)",
                "--iptables=false", "--storage-driver=vfs",
            ],
            logFile: directory.url.appendingPathComponent("dockerd.log"),
            installHint: Self.installHint)
    }

    private func waitForPing() async throws {
        let socket = socketPath
        let process = process
        do {
            try await waitUntil(timeout: .seconds(60), "dockerd to answer /_ping on \(socket)") {
                guard process.isRunning else { throw FixtureError("dockerd exited: \(process.logTail())") }
                return Self.exchange(socketPath: socket, method: "GET", path: "/_ping")?.body == "OK"
            }
        } catch {
            throw FixtureError("\(error). dockerd log: \(process.logTail())")
        }
    }

    /// Builds the busybox root file system and imports it with `POST /images/create?fromSrc=-`.
    private func importBusybox() throws {
        let rootfs = directory.url.appendingPathComponent("rootfs")
        let bin = rootfs.appendingPathComponent("bin")
        let www = rootfs.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.busybox, toPath: bin.appendingPathComponent("busybox").path)
        for link in ["sh", "echo", "httpd", "sleep", "mkdir", "cat"] {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(link).path, withDestinationPath: "busybox")
        }
        try Data("hello\n".utf8).write(to: www.appendingPathComponent("index.html"))
        let tarball = directory.url.appendingPathComponent("rootfs.tar")
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["-C", rootfs.path, "-cf", tarball.path, "."]
        try tar.run()
        tar.waitUntilExit()
        guard tar.terminationStatus == 0 else { throw FixtureError("tar of the busybox root file system failed") }
        let name = image.split(separator: ":").first.map(String.init) ?? image
        let answer = Self.exchange(
            socketPath: socketPath, method: "POST", path: "/v1.41/images/create?fromSrc=-&repo=\(name)&tag=latest",
            body: try Data(contentsOf: tarball), contentType: "application/x-tar")
        guard let answer, answer.status == 200, !answer.body.contains("\"error\"") else {
            throw FixtureError("importing the busybox image failed: \(answer.map { "\($0.status) \($0.body)" } ?? "no answer")")
        }
    }

    /// `DELETE /containers/{id}?force=true` on this engine (behind a driver's back).
    public func removeContainer(_ id: String) throws {
        guard let answer = Self.exchange(socketPath: socketPath, method: "DELETE", path: "/v1.41/containers/\(id)?force=true"),
            answer.status == 204
        else { throw FixtureError("could not remove container \(id)") }
    }

    /// `GET` on this engine's API: the status and the body.
    public func get(_ path: String) -> (status: Int, body: String)? {
        Self.exchange(socketPath: socketPath, method: "GET", path: path)
    }

    /// `POST` with a JSON body on this engine's API: the status and the body.
    public func post(_ path: String, json: String = "") -> (status: Int, body: String)? {
        Self.exchange(socketPath: socketPath, method: "POST", path: path, body: Data(json.utf8), contentType: "application/json")
    }

    /// `POST` on this engine's API with extra headers (`X-Registry-Auth`) and no body: the status and the body.
    public func post(_ path: String, headers: [String: String]) -> (status: Int, body: String)? {
        Self.exchange(socketPath: socketPath, method: "POST", path: path, headers: headers)
    }

    /// `DELETE` on this engine's API: the status and the body.
    public func delete(_ path: String) -> (status: Int, body: String)? {
        Self.exchange(socketPath: socketPath, method: "DELETE", path: path)
    }

    /// Puts ``image`` into `registry` as `<registry address>/<repository>:<tag>` (tag, then push with the registry's
    /// credentials), then removes that name from the engine so that a deployment of it has to pull. Returns the name.
    public func push(to registry: DockerRegistry, repository: String, tag: String) throws -> String {
        let name = "\(registry.address)/\(repository)"
        guard let tagged = post("/v1.41/images/\(image)/tag?repo=\(name)&tag=\(tag)"), tagged.status == 201 else {
            throw FixtureError("tagging \(image) as \(name):\(tag) failed")
        }
        let credentials = try JSONSerialization.data(withJSONObject: [
            "username": registry.username, "password": registry.password, "serveraddress": registry.address,
        ])
        let auth = credentials.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let pushed = post("/v1.41/images/\(name)/push?tag=\(tag)", headers: ["X-Registry-Auth": auth])
        guard let pushed, pushed.status == 200, !pushed.body.contains("\"error\"") else {
            throw FixtureError("pushing \(name):\(tag) failed: \(pushed.map { "\($0.status) \($0.body)" } ?? "no answer"). registry log: \(registry.logTail())")
        }
        guard let removed = delete("/v1.41/images/\(name):\(tag)"), removed.status == 200 else {
            throw FixtureError("removing the local name \(name):\(tag) failed")
        }
        return "\(name):\(tag)"
    }

    /// Removes every container, stops dockerd (SIGTERM, then SIGKILL after 10 s) and deletes its folder.
    public func stop() async {
        if process.isRunning, let list = get("/v1.41/containers/json?all=true"),
            let array = try? JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]]
        {
            for id in array.compactMap({ $0["Id"] as? String }) {
                _ = Self.exchange(socketPath: socketPath, method: "DELETE", path: "/v1.41/containers/\(id)?force=true")
            }
        }
        await process.stopOffThePool()
        // vfs layers are plain directories, some read-only: make them writable before removing.
        let chmod = Process()
        chmod.executableURL = URL(fileURLWithPath: "/bin/chmod")
        chmod.arguments = ["-R", "u+w", directory.url.path]
        if (try? chmod.run()) != nil { chmod.waitUntilExit() }
        directory.remove()
        if stopped.withLock({ was in defer { was = true }; return !was }) { await Self.gate.release() }
    }

    private let stopped = Mutex(false)
    private static let gate = Gate()

    /// A one-at-a-time lock that suspends waiters instead of blocking a thread.
    private actor Gate {
        private var held = false
        private var waiters: [CheckedContinuation<Void, Never>] = []

        func acquire() async {
            if !held {
                held = true
                return
            }
            await withCheckedContinuation { waiters.append($0) }
        }

        func release() {
            if waiters.isEmpty {
                held = false
            } else {
                waiters.removeFirst().resume()
            }
        }
    }

    /// One HTTP/1.0 exchange over a unix socket: status and body, nil when the socket did not answer.
    static func exchange(
        socketPath: String, method: String, path: String, body: Data = Data(), contentType: String? = nil,
        headers: [String: String] = [:]
    ) -> (status: Int, body: String)? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        var head = "\(method) \(path) HTTP/1.0\r\nHost: docker\r\nContent-Length: \(body.count)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8) + Array(body)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return nil }
            sent += count
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 { break }
            received += chunk[0..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let statusLine = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        return (status, String(text[split.upperBound...]))
    }
}
