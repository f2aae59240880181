import Foundation
import HAProxyConfigGen
import KVStores
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-gateway-agent` as an operator runs it: the original agent's `VAMP_*` variables, flags, SIGTERM.
@Suite("vamp-gateway-agent executable", .serialized)
struct ExecutableTests {
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("vamp-gateway-agent").path
    }

    @Test("VAMP_* variables pick the store and key; the gateway serves; /health is 200; SIGTERM stops it and HAProxy")
    func environmentAndSIGTERM() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-exe")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let kv = folder.url.appendingPathComponent("kv"), work = folder.url.appendingPathComponent("work")
        let key = "/vamp/exe/gateways/haproxy/2.6/configuration"
        let service = try TestHTTPService(name: "a")
        let (gatewayPort, statusPort) = (try FreePort.next(), try FreePort.next())
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: "127.0.0.1", socketDirectory: work.appendingPathComponent("run").path))
        let text = try generator.render([Gateway(name: "exe", port: GatewayPort(number: gatewayPort), routes: [
            Route(path: "a", weight: Percentage(100), targets: [.instance(name: "a", host: "127.0.0.1", port: service.port)]),
        ])])
        try await FileKeyValueStore(root: kv).set(key, string: text)

        let agent = try ExternalProcess(
            executable: Self.executable,
            arguments: ["--work-directory", work.path, "--socket-directory", work.appendingPathComponent("run").path,
                        "--status", "127.0.0.1:\(statusPort)", "--log-port", "0"],
            environment: [
                "VAMP_KEY_VALUE_STORE_TYPE": "file", "VAMP_KEY_VALUE_STORE_CONNECTION": kv.path, "VAMP_KEY_VALUE_STORE_PATH": key,
            ],
            logFile: folder.url.appendingPathComponent("agent.log"),
            installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(30), "the gateway to serve through the agent's HAProxy\n\(agent.logTail())") {
            (try? HTTPProbe.get(port: gatewayPort))?.header("X-Served-By") == "a"
        }
        try await waitUntil(timeout: .seconds(10), "/health to answer 200") {
            (try? HTTPProbe.get(port: statusPort, path: "/health"))?.status == 200
        }

        kill(agent.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the agent to exit after SIGTERM\n\(agent.logTail())") { !agent.isRunning }
        #expect(agent.exitedNormally, "the agent did not exit by itself after SIGTERM\n\(agent.logTail())")
        #expect(agent.terminationStatus == 0, "\(agent.logTail())")
        try await waitUntil(timeout: .seconds(10), "HAProxy to stop with the agent") { !FreePort.isAccepting(gatewayPort) }
    }

    /// HAProxy masters (not workers: a worker's parent is its master) whose command line names `directory`.
    static func haproxyMasters(in directory: String) -> [Int32] {
        func commandLine(_ pid: Int32) -> String {
            FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        func parent(_ pid: Int32) -> Int32? {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").first { $0.hasPrefix("PPid:") }.flatMap { Int32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
        }
        func isZombie(_ pid: Int32) -> Bool {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        let haproxies = pids.filter { commandLine($0).hasPrefix("/usr/sbin/haproxy") && commandLine($0).contains(directory) && !isZombie($0) }
        return haproxies.filter { pid in !haproxies.contains(parent(pid) ?? -1) && !commandLine(pid).contains("\0-c\0") }.sorted()
    }

    @Test("agent killed with SIGKILL: HAProxy keeps serving; a new agent on the same work folder takes that master over and reloads it")
    func orphanedMaster() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-orphan")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let kv = folder.url.appendingPathComponent("kv"), work = folder.url.appendingPathComponent("work")
        let key = "/vamp/exe/gateways/haproxy/2.6/configuration"
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let gatewayPort = try FreePort.next()
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: "127.0.0.1", socketDirectory: work.appendingPathComponent("run").path))
        func text(_ service: TestHTTPService) throws -> String {
            try generator.render([Gateway(name: "exe", port: GatewayPort(number: gatewayPort), routes: [
                Route(path: service.name, weight: Percentage(100), targets: [.instance(name: service.name, host: "127.0.0.1", port: service.port)]),
            ])])
        }
        let store = try FileKeyValueStore(root: kv)
        try await store.set(key, string: try text(a))
        func startAgent(_ name: String) throws -> ExternalProcess {
            try ExternalProcess(
                executable: Self.executable,
                arguments: ["--work-directory", work.path, "--socket-directory", work.appendingPathComponent("run").path,
                            "--status", "", "--log-port", "0", "--hard-stop-after", "5",
                            "--store-type", "file", "--store-connection", kv.path, "--store-path", key],
                logFile: folder.url.appendingPathComponent("\(name).log"),
                installHint: "build it first: swift build --build-tests")
        }
        let first = try startAgent("first")
        try await waitUntil(timeout: .seconds(30), "the first agent's HAProxy to serve\n\(first.logTail())") {
            (try? HTTPProbe.get(port: gatewayPort))?.header("X-Served-By") == "a"
        }
        let pidFile = work.appendingPathComponent("haproxy.pid")
        let orphan = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Self.haproxyMasters(in: work.path) == [orphan])

        kill(first.pid, SIGKILL)
        try await waitUntil(timeout: .seconds(10), "the first agent to die") { !first.isRunning }
        // The data plane outlives the agent.
        #expect(try HTTPProbe.get(port: gatewayPort).header("X-Served-By") == "a")
        #expect(Self.haproxyMasters(in: work.path) == [orphan])

        try await store.set(key, string: try text(b))
        let second = try startAgent("second")
        defer { kill(second.pid, SIGTERM) }
        try await waitUntil(timeout: .seconds(30), "the second agent to apply the new value\n\(second.logTail())") {
            (try? HTTPProbe.get(port: gatewayPort))?.header("X-Served-By") == "b"
        }
        // Taken over, not replaced: the same master, reloaded (its listening sockets go to the new worker, so no
        // connection is refused, which a second master plus a soft stop of the first cannot promise).
        #expect(Self.haproxyMasters(in: work.path) == [orphan])
        #expect(second.logTail().contains("took over the HAProxy master"), "\(second.logTail())")
        // Every request now goes to the new configuration.
        for _ in 0..<50 { #expect(try HTTPProbe.get(port: gatewayPort).header("X-Served-By") == "b") }
        let pid = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(pid == orphan)
        kill(second.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the second agent to exit") { !second.isRunning }
        #expect(Self.haproxyMasters(in: work.path).isEmpty)
    }

    @Test("README's settings alone: no flag, no variable, an empty folder; a gateway written with the generator's defaults serves")
    func readmeDefaults() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-defaults")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let service = try TestHTTPService(name: "defaults")
        let port = try FreePort.next()
        // The default store is a file store in ./.vamp/kv, the default key Vamp's for namespace vamp.
        let text = try HAProxyConfigurationGenerator().render([Gateway(name: "readme-\(port)", port: GatewayPort(number: port), routes: [
            Route(path: "a", weight: Percentage(100), targets: [.instance(name: "a", host: "127.0.0.1", port: service.port)]),
        ])])
        try await FileKeyValueStore(root: folder.url.appendingPathComponent(".vamp/kv"))
            .set(KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6"), string: text)
        let agent = try ExternalProcess(
            executable: Self.executable, arguments: [], workingDirectory: folder.url,
            logFile: folder.url.appendingPathComponent("agent.log"), installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(30), "the gateway to serve with README's settings\n\(agent.logTail())") {
            (try? HTTPProbe.get(port: port))?.header("X-Served-By") == "defaults"
        }
        kill(agent.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the agent to exit after SIGTERM") { !agent.isRunning }
        #expect(agent.terminationStatus == 0, "\(agent.logTail())")
    }

    @Test("a key no store accepts is an error at start naming the key and the rule, with a non-zero exit")
    func badKey() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-exe")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let agent = try ExternalProcess(
            executable: Self.executable,
            arguments: ["--work-directory", folder.url.appendingPathComponent("work").path, "--status", "", "--log-port", "0"],
            environment: [
                "VAMP_KEY_VALUE_STORE_TYPE": "file", "VAMP_KEY_VALUE_STORE_CONNECTION": folder.url.appendingPathComponent("kv").path,
                "VAMP_KEY_VALUE_STORE_PATH": "vamp/gateways//configuration",
            ],
            logFile: folder.url.appendingPathComponent("agent.log"),
            installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(15), "the agent to refuse the key") { !agent.isRunning }
        #expect(agent.terminationStatus != 0)
        #expect(agent.logTail().contains("vamp/gateways//configuration"), "\(agent.logTail())")
        #expect(agent.logTail().contains("must start with /"), "\(agent.logTail())")
    }

    @Test("a bad store type is an error at start naming the setting, with a non-zero exit")
    func badStoreType() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-exe")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let agent = try ExternalProcess(
            executable: Self.executable,
            arguments: ["--work-directory", folder.url.appendingPathComponent("work").path, "--status", "", "--log-port", "0"],
            environment: ["VAMP_KEY_VALUE_STORE_TYPE": "redis"],
            logFile: folder.url.appendingPathComponent("agent.log"),
            installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(15), "the agent to refuse the store type") { !agent.isRunning }
        #expect(agent.terminationStatus != 0)
        #expect(agent.logTail().contains("vamp.key-value-store.type"), "\(agent.logTail())")
        #expect(agent.logTail().contains("redis"), "\(agent.logTail())")
    }
}
