import Foundation
import NIOSSL
import Synchronization

/// The certificate and private key the API serves over TLS, read from PEM files (`vamp.http-api.tls.certificate`
/// and `vamp.http-api.tls.key`). ``reload()`` reads them again: connections opened after it get the new certificate,
/// open ones keep theirs; files that do not read leave the loaded certificate in place.
public final class APICertificate: Sendable {
    /// The PEM file of the certificate, the server's first, then the chain that signed it.
    public let certificateFile: String
    /// The PEM file of the private key.
    public let keyFile: String
    private let loaded: Mutex<Loaded>

    struct Loaded: @unchecked Sendable {
        // NIOSSLContext is thread-safe (it is shared by every connection), but not marked Sendable.
        let context: NIOSSLContext
        let summary: String
        let expired: Bool
    }

    /// Reads both files; throws when either does not read or the key is not the certificate's.
    public init(certificateFile: String, keyFile: String) throws(APICertificateError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        loaded = Mutex(try Self.load(certificateFile: certificateFile, keyFile: keyFile))
    }

    /// Reads both files again and serves their certificate to new connections; when they do not read, throws and
    /// keeps serving the one loaded before.
    public func reload() throws(APICertificateError) {
        let fresh = try Self.load(certificateFile: certificateFile, keyFile: keyFile)
        loaded.withLock { $0 = fresh }
    }

    /// The certificate served to new connections: its subject, serial number and end of validity, for the log.
    public var summary: String { loaded.withLock { $0.summary } }

    /// Whether the served certificate's validity has ended: clients will refuse it.
    public var isExpired: Bool { loaded.withLock { $0.expired } }

    /// The context a new connection's TLS handler is made with.
    var context: NIOSSLContext { loaded.withLock { $0.context } }

    static func load(certificateFile: String, keyFile: String) throws(APICertificateError) -> Loaded {
        let certificateSetting = "vamp.http-api.tls.certificate \(certificateFile)"
        let keySetting = "vamp.http-api.tls.key \(keyFile)"
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try read(certificateFile, setting: certificateSetting))
        } catch let error as APICertificateError {
            throw error
        } catch {
            throw APICertificateError("\(certificateSetting): not a PEM certificate (-----BEGIN CERTIFICATE-----): \(error)")
        }
        guard let leaf = chain.first else {
            throw APICertificateError("\(certificateSetting): holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try read(keyFile, setting: keySetting), format: .pem)
        } catch let error as APICertificateError {
            throw error
        } catch {
            throw APICertificateError("\(keySetting): not a PEM private key without a passphrase (-----BEGIN PRIVATE KEY-----): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw APICertificateError("\(keySetting) is not the private key of \(certificateSetting), or they do not make a TLS context: \(error)")
        }
        let serial = leaf.serialNumber.map { String(format: "%02X", $0) }.joined()
        let end = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        return Loaded(context: context, summary: "serial \(serial), valid until \(end.formatted(.iso8601))", expired: end < Date())
    }

    private static func read(_ path: String, setting: String) throws(APICertificateError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw APICertificateError("\(setting): no such file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw APICertificateError("\(setting): cannot be read by this server's user; check its permissions")
        }
        return Array(data)
    }
}

/// Why the API's certificate or key did not load: the setting, the file and what is wrong with it.
public struct APICertificateError: Error, CustomStringConvertible {
    /// What is wrong, naming the setting and the file.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
