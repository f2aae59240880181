public import Foundation

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

    /// The server's TLS files, when it serves clients over TLS.
    public let tls: TLS?

    /// The client URL, `http://127.0.0.1:<clientPort>` (`https://` with ``tls``).
    public var endpoint: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(clientPort)" }

    /// TLS for etcd's clients: its certificate and key, and the CA whose client certificates it takes (etcd's
    /// `--client-cert-auth`): a client without one is refused.
    public struct TLS: Sendable {
        public var certificate: URL
        public var key: URL
        public var clientCA: URL
        /// A client certificate and key signed by `clientCA`, for the health check.
        public var clientCertificate: URL
        public var clientKey: URL

        public init(certificate: URL, key: URL, clientCA: URL, clientCertificate: URL, clientKey: URL) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
            self.clientCertificate = clientCertificate
            self.clientKey = clientKey
        }
    }

    /// Where etcd is looked for.
    public static let executable = "/usr/bin/etcd"

    /// Starts etcd and waits until `/health` says true. Fails (never skips) when etcd is missing.
    public static func start(tls: TLS? = nil) async throws -> EtcdServer {
        let server = try EtcdServer(clientPort: FreePort.next(), peerPort: FreePort.next(), tls: tls)
        do {
            try await server.start()
        } catch {
            await server.remove()
            throw error
        }
        return server
    }

    private init(clientPort: Int, peerPort: Int, tls: TLS?) throws {
        self.tls = tls
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.directory = try TemporaryDirectory(prefix: "vamp-etcd")
    }

    /// (Re)starts etcd on the same ports and data folder and waits until it is healthy.
    public func start() async throws {
        let client = endpoint
        let peer = "http://127.0.0.1:\(peerPort)"
        let secure = tls.map {
            ["--cert-file", $0.certificate.path, "--key-file", $0.key.path, "--client-cert-auth", "--trusted-ca-file", $0.clientCA.path]
        } ?? []
        let process = try ExternalProcess(
            executable: Self.executable,
            arguments: [
                "--name", "vamp-test", "--data-dir", directory.url.appendingPathComponent("data").path,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "vamp-test=\(peer)",
            ] + secure,
            logFile: directory.url.appendingPathComponent("etcd-\(UUID().uuidString.prefix(4)).log"),
            installHint: "Install it with: apt-get install -y etcd-server")
        lock.withLock { self.process = process }
        let port = clientPort
        do {
            try await waitUntil(timeout: .seconds(20), "etcd on 127.0.0.1:\(port) to report healthy") {
                guard process.isRunning else {
                    throw FixtureError("etcd exited: \(process.logTail())")
                }
                if let tls = self.tls { return await Self.healthyOverTLS(port: port, tls) }
                let answer = LoopbackProbe.exchange(
                    port: port, request: "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return answer?.contains("\"health\":\"true\"") == true
            }
        } catch {
            throw FixtureError("\(error). etcd log: \(process.logTail())")
        }
    }

    /// `/health` over TLS with the client certificate, by the real `curl` (on a thread of its own).
    static func healthyOverTLS(port: Int, _ tls: TLS) async -> Bool {
        let answer = try? await Curl.run([
            "--cacert", tls.clientCA.path, "--cert", tls.clientCertificate.path, "--key", tls.clientKey.path, "https://127.0.0.1:\(port)/health",
        ], timeoutSeconds: 2)
        return answer?.output.contains("\"health\":\"true\"") == true
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
