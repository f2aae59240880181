import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOSSL
import Synchronization

extension VampClient {
    /// Creates a client of a server served over HTTPS with a certificate of a CA of your own: only the CA
    /// certificates in `caFile` (PEM) are trusted, and the server's certificate must name the URL's host.
    ///
    /// - Parameters:
    ///   - host: the server, e.g. `https://vamp.example.com:8080`.
    ///   - token: the API token sent with every request.
    ///   - caFile: the PEM file of the CA certificate(s) that signed the server's certificate.
    ///   - timeout: how long one request may take.
    /// - Throws: ``VampClientError/Code-swift.struct/connection`` when `caFile` does not read as certificates.
    public init(host: URL, token: String? = nil, caFile: String, timeout: Duration = .seconds(30)) throws(VampClientError) {
        self.init(host: host, token: token, httpClient: try Self.httpClient(trusting: caFile), timeout: timeout)
    }

    /// One shared client per CA file content: like the default client, it lives as long as the process.
    static func httpClient(trusting caFile: String) throws(VampClientError) -> HTTPClient {
        guard let data = FileManager.default.contents(atPath: caFile) else {
            throw VampClientError(.connection, message: "the CA file \(caFile) cannot be read; check that it exists and is readable")
        }
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMBytes(Array(data))
        } catch {
            throw VampClientError(.connection, message: "the CA file \(caFile) is not a PEM certificate (-----BEGIN CERTIFICATE-----): \(error)")
        }
        guard !roots.isEmpty else {
            throw VampClientError(.connection, message: "the CA file \(caFile) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        let key = String(decoding: data, as: UTF8.self)
        return trustingClients.withLock { clients in
            if let client = clients[key] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(roots)
            var configuration = HTTPClient.Configuration()
            configuration.tlsConfiguration = tls
            configuration.timeout = .init(connect: .seconds(3))
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// What a TLS failure means to the user, or `nil` when `error` is none.
    static func tlsProblem(_ error: any Error, scheme: String?) -> String? {
        let text = String(reflecting: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return "its TLS certificate is not trusted (\(text)): give the CA certificate that signed it (vamp --ca-file, VAMP_CA_FILE)"
        }
        if error as? NIOSSLExtraError == .failedToValidateHostname {
            return "its TLS certificate does not name the host of the URL: use a name or address the certificate has (\(text))"
        }
        if text.contains("WRONG_VERSION_NUMBER") {
            return "it does not speak TLS: use an http:// URL (\(text))"
        }
        if scheme == "http", let error = error as? HTTPClientError, error == .remoteConnectionClosed {
            return "it closed the connection: does it serve HTTPS? Then use an https:// URL"
        }
        if error is NIOSSLError || text.contains("BoringSSL") {
            return "the TLS handshake failed: \(text)"
        }
        return nil
    }
}

/// The clients made by ``VampClient/init(host:token:caFile:timeout:)``, by CA file content.
private let trustingClients = Mutex<[String: HTTPClient]>([:])
