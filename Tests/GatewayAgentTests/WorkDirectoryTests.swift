import Foundation
@testable import GatewayAgent
import HAProxyConfigGen
import KVStores
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The agent's work directory with the defaults of both the generator and the agent: HAProxy's sockets in
/// `<work>/run` (never the machine-wide `/var/run/vamp`), stale ones of a previous run removed, the folders
/// owner-only, and HAProxy started with an environment built for it.
@Suite("Gateway agent work directory: sockets, modes, HAProxy's environment", .serialized)
struct WorkDirectoryTests {
    /// Leaves a unix socket file at `path` (bound, then closed: nothing listens on it), as a HAProxy killed without
    /// its clean-up leaves one.
    static func leaveSocket(at path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind \(path): errno \(errno)")
    }

    static func mode(_ path: String) -> mode_t {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let permissions = attributes[.posixPermissions] as? NSNumber else { return 0o7777 }
        return mode_t(permissions.uint16Value) & 0o7777
    }

    @Test("with the defaults the sockets are in <work>/run; stale sockets of a previous run go at start; the work folders are 0700; HAProxy gets no VAMP_* variable")
    func defaults() async throws {
        let directory = try TemporaryDirectory(prefix: "va")
        let work = directory.url.appendingPathComponent("work")
        defer {
            Teardown.stopHAProxy(in: work.path)
            directory.remove()
        }
        // A previous run's leftovers, and a work folder an older version made world-readable.
        let run = work.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        chmod(work.path, 0o755)
        let stale = run.appendingPathComponent("o_gone.sock").path
        try Self.leaveSocket(at: stale)
        let other = run.appendingPathComponent("notes.txt").path
        #expect(FileManager.default.createFile(atPath: other, contents: Data("mine".utf8)))
        // A setting the agent's process has, which HAProxy must not see.
        setenv("VAMP_WORK_DIRECTORY_TEST_SECRET", "s3cret-agent", 1)
        defer { unsetenv("VAMP_WORK_DIRECTORY_TEST_SECRET") }

        let configuration = GatewayAgentConfiguration(key: "/vamp/test/haproxy/2.6", workDirectory: work, haproxyOutput: work.appendingPathComponent("haproxy.log"))
        #expect(configuration.socketDirectory.path == run.path)
        try #require(FileManager.default.isExecutableFile(atPath: configuration.haproxyExecutable), "apt-get install -y haproxy")
        let store = InMemoryKeyValueStore()
        let agent = GatewayAgent(configuration: configuration, store: store)
        let task = Task { try await agent.run() }
        defer { task.cancel() }

        let service = try TestHTTPService(name: "a")
        let port = try FreePort.next()
        let text = try HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1"))
            .render([GatewayAgentTests.gateway(port: port, [(service, 100)])])
        #expect(text.contains("unix@run/"))
        try await store.set(configuration.key, string: text)
        try await GatewayAgentTests.waitUntilServed(by: "a", port: port)

        let names = try FileManager.default.contentsOfDirectory(atPath: run.path)
        #expect(!names.contains("o_gone.sock"), "the stale socket is gone: \(names)")
        #expect(names.contains("notes.txt"), "only sockets are removed: \(names)")
        #expect(names.contains { $0.hasSuffix(".sock") }, "the route's sockets are in <work>/run: \(names)")
        #expect(Self.mode(work.path) == 0o700 && Self.mode(run.path) == 0o700)
        let haproxies = Teardown.haproxies(in: work.path)
        try #require(!haproxies.isEmpty)
        for pid in haproxies {
            let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ").map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(!environ.contains("VAMP_") && !environ.contains("s3cret"), "HAProxy \(pid) inherited the agent's settings")
            let cwd = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
            #expect(URL(fileURLWithPath: cwd).resolvingSymlinksInPath().path == work.resolvingSymlinksInPath().path, "HAProxy runs in the work folder")
        }
        task.cancel()
        _ = await task.result
    }
}
