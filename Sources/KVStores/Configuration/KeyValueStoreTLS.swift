import AsyncHTTPClient
import NIOSSL
import Synchronization

extension KeyValueStoreConfiguration {
    /// The files of a TLS connection to etcd or Consul (an `https://` connection): the CA that signs the server's
    /// certificate (`nil`: the system's), and the client's certificate and key when the server asks for one
    /// (etcd's `--client-cert-auth`).
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

    /// The HTTP client of an etcd or Consul store with ``tlsFiles``: `nil` (the shared client) when there are none.
    /// The files are read here: a missing or unreadable one fails with its setting's name.
    func tlsHTTPClient() throws(KeyValueStoreError) -> HTTPClient? {
        guard !tlsFiles.isEmpty else { return nil }
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
        return TLSHTTPClients.client(for: tlsFiles, tls: tls)
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
