import Foundation

/// A real ZooKeeper (Debian `zookeeper`, run with `java` directly) standalone on a free loopback
/// port with its data in a temporary folder, serving plain TCP or, with ``TLS``, TLS only. ``stop()`` and
/// ``start()-swift.method`` keep the port and data, for outage tests.
public final class ZooKeeperServer: @unchecked Sendable {
    /// The client port: with ``tls``, the `secureClientPort` (and there is no plain one).
    public let port: Int
    /// The server's TLS files, when it serves its clients over TLS.
    public let tls: TLS?
    /// The folder with `zoo.cfg`, the data and the log (removed by ``remove()``).
    public let directory: TemporaryDirectory
    private let lock = NSLock()
    private var process: ExternalProcess?

    /// `127.0.0.1:<port>`.
    public var address: String { "127.0.0.1:\(port)" }

    /// The server jar (its manifest carries the whole class path).
    public static let jar = "/usr/share/java/zookeeper.jar"
    static let installHint = "Install it with: apt-get install -y zookeeper"

    /// Starts ZooKeeper and waits until it answers `srvr` with `Mode: standalone` (over TLS with `tls`, with the
    /// client certificate). Fails (never skips) when ZooKeeper or Java is missing.
    public static func start(tls: TLS? = nil) async throws -> ZooKeeperServer {
        let server = try ZooKeeperServer(port: FreePort.next(), tls: tls)
        do {
            try await server.start()
        } catch {
            await server.remove()
            throw error
        }
        return server
    }

    private init(port: Int, tls: TLS?) throws {
        self.port = port
        self.tls = tls
        self.directory = try TemporaryDirectory(prefix: "vamp-zk")
        let listen = try tls.map { try $0.configuration(port: port, directory: directory.url) } ?? """
            clientPort=\(port)
            clientPortAddress=127.0.0.1
            """
        let config = """
            tickTime=2000
            dataDir=\(directory.url.appendingPathComponent("data").path)
            \(listen)
            admin.enableServer=false
            4lw.commands.whitelist=ruok,srvr
            maxSessionTimeout=60000

            """
        try config.write(to: directory.url.appendingPathComponent("zoo.cfg"), atomically: true, encoding: .utf8)
    }

    /// (Re)starts ZooKeeper on the same port and data folder and waits until it is serving.
    public func start() async throws {
        guard FileManager.default.fileExists(atPath: Self.jar) else {
            throw FixtureError("\(Self.jar) not found. \(Self.installHint)")
        }
        let java = ["/usr/bin/java", "/usr/lib/jvm/default-java/bin/java"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "/usr/bin/java"
        let process = try ExternalProcess(
            executable: java,
            arguments: [
                "-Xmx256m", "-cp", tls == nil ? Self.jar : TLS.classPath, "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                directory.url.appendingPathComponent("zoo.cfg").path,
            ],
            logFile: directory.url.appendingPathComponent("zk-\(UUID().uuidString.prefix(4)).log"),
            installHint: Self.installHint + " (it brings a Java runtime)")
        lock.withLock { self.process = process }
        let port = port, tls = tls, folder = directory.url
        do {
            try await waitUntil(timeout: .seconds(30), "ZooKeeper on 127.0.0.1:\(port) to serve (srvr says Mode: standalone)") {
                guard process.isRunning else { throw FixtureError("ZooKeeper exited: \(process.logTail())") }
                let answer = if let tls { await tls.srvr(port: port, directory: folder) } else { LoopbackProbe.exchange(port: port, request: "srvr") }
                return answer?.contains("Mode: standalone") == true
            }
        } catch {
            throw FixtureError("\(error). ZooKeeper log: \(process.logTail())")
        }
    }

    /// Stops ZooKeeper; the port and data stay for ``start()-swift.method``.
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

    /// Stops ZooKeeper and deletes its folder.
    public func remove() async {
        await stop()
        directory.remove()
    }
}
