import Foundation

/// A real etcd (Debian `etcd-server`) on free loopback ports with its data in a temporary
/// folder. ``stop()`` and ``start()-swift.method`` keep the ports and the data, for outage tests.
public final class EtcdServer: @unchecked Sendable {
    /// The client port (HTTP/JSON gateway and gRPC).
    public let clientPort: Int
    /// The peer port.
    public let peerPort: Int
    /// The data folder (removed by ``remove()``).
    public let directory: TemporaryDirectory
    private let lock = NSLock()
    private var process: ExternalProcess?

    /// The client URL, `http://127.0.0.1:<clientPort>`.
    public var endpoint: String { "http://127.0.0.1:\(clientPort)" }

    /// Where etcd is looked for.
    public static let executable = "/usr/bin/etcd"

    /// Starts etcd and waits until `/health` says true. Fails (never skips) when etcd is missing.
    public static func start() async throws -> EtcdServer {
        let server = try EtcdServer(clientPort: FreePort.next(), peerPort: FreePort.next())
        do {
            try await server.start()
        } catch {
            await server.remove()
            throw error
        }
        return server
    }

    private init(clientPort: Int, peerPort: Int) throws {
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.directory = try TemporaryDirectory(prefix: "vamp-etcd")
    }

    /// (Re)starts etcd on the same ports and data folder and waits until it is healthy.
    public func start() async throws {
        let client = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        let process = try ExternalProcess(
            executable: Self.executable,
            arguments: [
                "--name", "vamp-test", "--data-dir", directory.url.appendingPathComponent("data").path,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "vamp-test=\(peer)",
            ],
            logFile: directory.url.appendingPathComponent("etcd-\(UUID().uuidString.prefix(4)).log"),
            installHint: "Install it with: apt-get install -y etcd-server")
        lock.withLock { self.process = process }
        let port = clientPort
        do {
            try await waitUntil(timeout: .seconds(20), "etcd on 127.0.0.1:\(port) to report healthy") {
                guard process.isRunning else {
                    throw FixtureError("etcd exited: \(process.logTail())")
                }
                let answer = LoopbackProbe.exchange(
                    port: port, request: "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return answer?.contains("\"health\":\"true\"") == true
            }
        } catch {
            throw FixtureError("\(error). etcd log: \(process.logTail())")
        }
    }

    /// Stops etcd (SIGTERM, then SIGKILL after 10 s); the ports and data stay for ``start()-swift.method``.
    public func stop() async {
        guard let process = lock.withLock({ self.process }) else { return }
        await process.stopOffThePool()
    }

    /// Freezes the server (SIGSTOP): its sockets stay open but nothing answers.
    public func pause() {
        lock.withLock { self.process }?.pause()
    }

    /// Lets a frozen server run again (SIGCONT).
    public func resume() {
        lock.withLock { self.process }?.resume()
    }

    /// Stops etcd and deletes its data folder.
    public func remove() async {
        await stop()
        directory.remove()
    }
}
