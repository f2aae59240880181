import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Issue 22's files and processes, against the built `vamp-server` with its embedded agent (real HAProxy) and the
/// local driver running real `sava` processes: everything under `.vamp/` is owner-only, HAProxy's sockets are in the
/// server's own work directory, no child inherits a `VAMP_*` setting, and command breeds can run as another user.
@Suite("End to end: owner-only files, HAProxy's sockets, child environments, an unprivileged user", .serialized)
struct FilesAndChildProcessesTests {
    typealias Server = VampServerFixture

    static func blueprint(_ name: String, gateway: Int, text: String) -> String {
        """
        name: \(name)
        gateways:
          \(gateway)/http: web/web
        clusters:
          web:
            services:
              - breed:
                  name: \(name):1.0
                  deployable: {type: command, definition: "sava --text \(text)"}
                  ports: {web: 8080/http}
                  environment_variables:
                    GREETING: hello-from-the-breed
                scale: {cpu: 0.1, memory: 64MB, instances: 1}
        """
    }

    /// Deploys `blueprint(name, ...)` and waits until its gateway answers `text`; returns the gateway's port.
    static func deploy(_ server: Server, _ name: String, text: String) async throws -> Int {
        let port = try FreePort.next()
        let (status, body) = try await CanaryReleaseTests.call(
            HTTPClient.shared, .POST, "\(server.api)/deployments", yaml: blueprint(name, gateway: port, text: text))
        #expect(status == 202, "\(body)")
        try await CanaryReleaseTests.eventually("\(name) serves through its gateway\n\(server.process.logTail())") {
            let (status, answer) = try await CanaryReleaseTests.get(HTTPClient.shared, "http://127.0.0.1:\(port)/")
            return status == 200 && answer == text
        }
        return port
    }

    /// Every entry under `folder` (the folder included, symbolic links not followed) whose mode gives group or others
    /// any right, with its mode.
    static func openToOthers(_ folder: URL) -> [String] {
        var found: [String] = []
        func check(_ path: String) {
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFLNK else { return }
            if info.st_mode & 0o077 != 0 { found.append("\(String(info.st_mode & 0o7777, radix: 8)) \(path)") }
        }
        check(folder.path)
        let walker = FileManager.default.enumerator(atPath: folder.path)
        while let relative = walker?.nextObject() as? String { check(folder.appendingPathComponent(relative).path) }
        return found
    }

    /// `/proc/<pid>/environ` as name → value.
    static func environment(of pid: Int32) -> [String: String] {
        let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
        var result: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return result
    }

    /// The HAProxy processes (master and workers) running the configuration of `server`'s embedded agent.
    static func haproxies(of server: Server) -> [Int32] {
        let configuration = server.folder.url.appendingPathComponent(".vamp/gateway-agent/haproxy.cfg").path
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.filter { pid in
            let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? ""
            return line.hasPrefix("/usr/sbin/haproxy") && line.contains(configuration) && !line.contains("\0-c\0")
        }
    }

    /// A field of `/proc/<pid>/status` (`Uid:`), its first value.
    static func status(_ pid: Int32, _ field: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(field) }?.dropFirst(field.count)
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
    }

    @Test("after a deploy and a gateway every file and folder under .vamp/ is owner-only, sockets included; an older world-readable .vamp/ is tightened at start")
    func ownerOnlyFiles() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let state = server.folder.url.appendingPathComponent(".vamp")
        _ = try await Self.deploy(server, "files", text: "files")
        let gatewayPort = try FreePort.next()
        let backend = try FreePort.next()
        let (created, body) = try await CanaryReleaseTests.call(
            HTTPClient.shared, .POST, "\(server.api)/gateways",
            yaml: "name: standalone\nport: \(gatewayPort)/http\nroutes:\n  \"[127.0.0.1:\(backend)]\": {weight: 100%}\n")
        #expect(created == 202, "\(body)")
        let configuration = state.appendingPathComponent("gateway-agent/haproxy.cfg")
        try await CanaryReleaseTests.eventually("HAProxy runs the standalone gateway") {
            (try String(contentsOf: configuration, encoding: .utf8)).contains("standalone")
        }
        // HAProxy's sockets are in the server's own work directory, named relative to it in the KV text.
        let text = try String(contentsOf: configuration, encoding: .utf8)
        #expect(text.contains("unix@run/") && !text.contains("/var/run/vamp"), "\(text)")
        let sockets = try FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("gateway-agent/run").path)
        #expect(sockets.contains { $0.hasSuffix(".sock") }, "\(sockets)")
        for name in ["vamp.sqlite", "kv", "processes", "gateway-agent/haproxy.pid"] {
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent(name).path), "\(name) exists")
        }
        let open = Self.openToOthers(state)
        #expect(open.isEmpty, "readable, writable or executable by group or others:\n\(open.joined(separator: "\n"))")

        // As an older version left it: everything world-readable. The next start takes that away.
        for entry in [".", "vamp.sqlite", "kv", "processes", "processes/logs", "gateway-agent", "gateway-agent/haproxy.cfg"] {
            let path = state.appendingPathComponent(entry).path
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            chmod(path, (info.st_mode & S_IFMT) == S_IFDIR ? 0o755 : 0o644)
        }
        #expect(!Self.openToOthers(state).isEmpty)
        try await server.restart(signal: SIGTERM, log: "restarted.log")
        let reopened = Self.openToOthers(state)
        #expect(reopened.isEmpty, "after a restart:\n\(reopened.joined(separator: "\n"))\n\(server.process.logTail())")
    }

    @Test("no VAMP_* setting and no secret reaches a command breed's process or HAProxy; the breed's variables do")
    func childrenGetTheirOwnEnvironment() async throws {
        let secrets = [
            "VAMP_CONTAINER_DRIVER_MARATHON_PASSWORD": "s3cret-marathon", "VAMP_CONTAINER_DRIVER_KUBERNETES_BEARER": "s3cret-bearer",
            "VAMP_SOME_SECRET": "s3cret-some",
        ]
        let server = try await Server.start(extraEnvironment: secrets)
        defer { server.tearDown() }
        _ = try await Self.deploy(server, "envprobe", text: "envprobe")
        let services = CanaryReleaseTests.savaPids(text: "envprobe", folder: server.folder)
        try #require(!services.isEmpty, "the service process runs")
        let haproxies = Self.haproxies(of: server)
        try #require(haproxies.count >= 2, "HAProxy's master and a worker run: \(haproxies)")
        for pid in services + haproxies {
            let environment = Self.environment(of: pid)
            #expect(!environment.isEmpty, "/proc/\(pid)/environ is readable")
            let leaked = environment.filter { key, value in key.hasPrefix("VAMP_") || value.contains("s3cret") }
            #expect(leaked.isEmpty, "pid \(pid) inherited \(leaked.keys.sorted())")
        }
        for pid in services {
            let environment = Self.environment(of: pid)
            #expect(environment["GREETING"] == "hello-from-the-breed", "\(environment)")
            #expect(environment["PORT"] != nil && environment["PATH"] != nil, "\(environment)")
        }
    }

    @Test("with vamp.container-driver.local.user nobody (the server as root) a command breed runs as nobody and serves; a server that cannot switch users refuses to start, naming the setting")
    func commandsAsAnUnprivilegedUser() async throws {
        guard let nobody = getpwnam("nobody")?.pointee else {
            Issue.record("no user nobody on this machine: useradd nobody")
            return
        }
        if geteuid() == 0 {
            let server = try await Server.start(extraEnvironment: ["VAMP_CONTAINER_DRIVER_LOCAL_USER": "nobody"])
            defer { server.tearDown() }
            _ = try await Self.deploy(server, "asnobody", text: "asnobody")
            let pids = CanaryReleaseTests.savaPids(text: "asnobody", folder: server.folder)
            try #require(!pids.isEmpty, "the service process runs")
            for pid in pids {
                #expect(Self.status(pid, "Uid:") == String(nobody.pw_uid), "pid \(pid) runs as nobody")
                #expect(Self.status(pid, "Gid:") == String(nobody.pw_gid), "pid \(pid) has nobody's group")
                #expect(Self.status(pid, "Groups:") ?? String(nobody.pw_gid) == String(nobody.pw_gid), "no supplementary group of root's")
                let cwd = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
                #expect(cwd.contains("/.vamp-work/"), "its working folder is outside .vamp/: \(cwd)")
                var info = stat()
                #expect(stat(cwd, &info) == 0 && info.st_uid == nobody.pw_uid && info.st_mode & 0o777 == 0o700, "owned by nobody, 0700")
            }
            #expect(Self.openToOthers(server.folder.url.appendingPathComponent(".vamp")).isEmpty)
        }
        // The refusal: a server that is not root asked to run commands as another user. As root, the server is started
        // as nobody (setpriv) and asked for root; otherwise as itself and asked for nobody.
        let folder = try TemporaryDirectory(prefix: "vamp-local-user")
        defer { folder.remove() }
        chmod(folder.url.path, 0o777)
        let asRoot = geteuid() == 0
        let setpriv = "/usr/bin/setpriv"
        if asRoot {
            try #require(FileManager.default.isExecutableFile(atPath: setpriv), "setpriv is missing: apt-get install -y util-linux")
        }
        let executable = CanaryReleaseTests.bin.appendingPathComponent("vamp-server").path
        let process = try ExternalProcess(
            executable: asRoot ? setpriv : executable,
            arguments: asRoot ? ["--reuid=\(nobody.pw_uid)", "--regid=\(nobody.pw_gid)", "--clear-groups", executable] : [],
            environment: [
                "VAMP_CONTAINER_DRIVER_LOCAL_USER": asRoot ? "root" : "nobody", "VAMP_HTTP_API_PORT": String(try FreePort.next()),
                "VAMP_GATEWAY_AGENT_EMBEDDED": "false",
            ],
            workingDirectory: folder.url, logFile: folder.url.appendingPathComponent("refused.log"),
            installHint: "build it first: swift build --build-tests")
        defer { process.stop() }
        try await waitUntil(timeout: .seconds(15), "the server refuses to start\n\(process.logTail())") { !process.isRunning }
        #expect(process.terminationStatus != 0)
        #expect(process.logTail().contains("vamp.container-driver.local.user"), "\(process.logTail())")
    }
}
