import AsyncHTTPClient
import NIOSSL
import Synchronization

extension KeyValueStoreConfiguration {
    /// The files of a TLS connection to a store: the CA that signs the server's certificate, and the client's
    /// certificate and key when the server asks for one (etcd's `--client-cert-auth`, ZooKeeper's
    /// `ssl.clientAuth=need`). etcd and Consul use them with an `https://` connection (no CA file: the system's);
    /// ZooKeeper talks TLS when the CA file is set.
    public struct TLSFiles: Sendable, Hashable {
        /// The CA certificates (PEM).
        public var caFile: String?
        /// The client's certificate chain (PEM).
        public var certificateFile: String?
        /// The client's private key (PEM).
        public var keyFile: String?

        /// Files for a TLS connection; none given: the system's CAs, no client certificate.
        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }

        /// Whether no file is given.
        public var isEmpty: Bool { caFile == nil && certificateFile == nil && keyFile == nil }
    }

    /// Whether the store talks TLS: etcd and Consul with an `https://` connection, ZooKeeper (whose addresses have no
    /// scheme) when `vamp.key-value-store.tls.ca-file` is set.
    public var usesTLS: Bool {
        switch kind {
        case .etcd, .consul: tls
        case .zookeeper: tlsFiles.caFile != nil
        case .file, .memory: false
        }
    }

    /// The client TLS configuration of ``tlsFiles``: full verification of the server's certificate (and of its
    /// name), the client certificate when given. The files are read here: a missing or unreadable one fails with
    /// its setting's name.
    func tlsConfiguration() throws(KeyValueStoreError) -> TLSConfiguration {
        func fail(_ key: String, _ file: String, _ error: any Error) -> KeyValueStoreError {
            KeyValueStoreError(.invalidConfiguration, "vamp.key-value-store.tls.\(key) '\(file)': \(error)", server: kind.rawValue)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = tlsFiles.caFile {
            do { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file)) } catch { throw fail("ca-file", file, error) }
        }
        if let file = tlsFiles.certificateFile {
            do { tls.certificateChain = try NIOSSLCertificate.fromPEMFile(file).map { .certificate($0) } } catch { throw fail("certificate-file", file, error) }
        }
        if let file = tlsFiles.keyFile {
            do { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: file, format: .pem)) } catch { throw fail("key-file", file, error) }
        }
        return tls
    }

    /// The HTTP client of an etcd or Consul store with ``tlsFiles``: `nil` (the shared client) when there are none.
    func tlsHTTPClient() throws(KeyValueStoreError) -> HTTPClient? {
        guard !tlsFiles.isEmpty else { return nil }
        return TLSHTTPClients.client(for: tlsFiles, tls: try tlsConfiguration())
    }

    /// The TLS context of a ZooKeeper store: `nil` (plain TCP) without a CA file. A certificate and key that do not
    /// belong together are refused here, when the store is made, rather than at each connection.
    func zooKeeperTLSContext() throws(KeyValueStoreError) -> NIOSSLContext? {
        guard usesTLS else { return nil }
        let configuration = try tlsConfiguration()
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw KeyValueStoreError(
                .invalidConfiguration,
                "vamp.key-value-store.tls.*: the files do not make a TLS client (does the key belong to the certificate?): \(error)",
                server: kind.rawValue)
        }
    }
}

/// One HTTP client per set of TLS files, for the life of the process like the shared one (an `HTTPClient` must be
/// shut down before it goes; these never go).
enum TLSHTTPClients {
    static let clients = Mutex<[KeyValueStoreConfiguration.TLSFiles: HTTPClient]>([:])

    static func client(for files: KeyValueStoreConfiguration.TLSFiles, tls: TLSConfiguration) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[files] { return client }
            let client = SharedHTTPClient.make(tls: tls)
            clients[files] = client
            return client
        }
    }
}
