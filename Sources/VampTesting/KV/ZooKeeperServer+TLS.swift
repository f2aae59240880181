public import Foundation

extension ZooKeeperServer {
    /// TLS for ZooKeeper's clients, as ZooKeeper 3.8 does it: Netty (`serverCnxnFactory`) on a `secureClientPort`
    /// only (no plain `clientPort`), PEM key and trust stores, and `ssl.clientAuth=need`: a client without a
    /// certificate signed by `clientCA` is refused.
    public struct TLS: Sendable {
        /// The server's certificate and key (PEM), both written into one key store file for ZooKeeper.
        public var certificate: URL
        public var key: URL
        /// The CA whose client certificates the server takes; it also signed `certificate` (the readiness probe
        /// verifies the server with it).
        public var clientCA: URL
        /// A client certificate and key signed by `clientCA`, for the readiness probe.
        public var clientCertificate: URL
        public var clientKey: URL

        public init(certificate: URL, key: URL, clientCA: URL, clientCertificate: URL, clientKey: URL) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
            self.clientCertificate = clientCertificate
            self.clientKey = clientKey
        }

        /// The server's class path: Debian's `zookeeper.jar` names Netty's transport and handler in its manifest but
        /// not Netty's codec, which the TLS handler needs (without it every TLS connection fails with
        /// `NoClassDefFoundError: io/netty/handler/codec/ByteToMessageDecoder`); slf4j-simple makes the server log,
        /// handshake failures included, go to the fixture's log file. Both jars come with the package's dependencies
        /// (libnetty-java, libslf4j-java).
        static let classPath = [ZooKeeperServer.jar, "/usr/share/java/netty-codec.jar", "/usr/share/java/slf4j-simple.jar"]
            .joined(separator: ":")

        /// The `zoo.cfg` lines of a TLS-only server on 127.0.0.1:`port`; writes the PEM key store (key, then
        /// certificate) into `directory`. ZooKeeper turns the `ssl.*` lines into its `zookeeper.ssl.*` properties.
        func configuration(port: Int, directory: URL) throws -> String {
            let store = directory.appendingPathComponent("server-keystore.pem")
            let pem = try [key, certificate].map { try String(contentsOf: $0, encoding: .utf8) }.joined()
            try Data(pem.utf8).write(to: store)
            return """
                secureClientPort=\(port)
                secureClientPortAddress=127.0.0.1
                serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
                ssl.keyStore.location=\(store.path)
                ssl.keyStore.type=PEM
                ssl.trustStore.location=\(clientCA.path)
                ssl.trustStore.type=PEM
                ssl.clientAuth=need
                """
        }

        /// ZooKeeper's answer to `srvr` over TLS with the client certificate, by the real `openssl s_client` (at most
        /// 5 s, on a thread of its own); nil when it could not be run.
        func srvr(port: Int, directory: URL) async -> String? {
            let request = directory.appendingPathComponent("srvr.txt")
            guard (try? Data("srvr".utf8).write(to: request)) != nil else { return nil }
            let arguments = [
                "5", "/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", clientCA.path,
                "-cert", clientCertificate.path, "-key", clientKey.path, "-verify_return_error", "-quiet",
            ]
            return await withCheckedContinuation { (done: CheckedContinuation<String?, Never>) in
                Thread.detachNewThread {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
                    process.arguments = arguments
                    // The command from a file rather than a pipe: nothing to write to an openssl that is gone.
                    guard let input = FileHandle(forReadingAtPath: request.path) else { return done.resume(returning: nil) }
                    defer { try? input.close() }
                    let output = Pipe()
                    process.standardInput = input
                    process.standardOutput = output
                    process.standardError = FileHandle.nullDevice
                    guard (try? process.run()) != nil else { return done.resume(returning: nil) }
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    done.resume(returning: String(decoding: data, as: UTF8.self))
                }
            }
        }
    }
}
