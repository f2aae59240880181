import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import VampAPI

extension ServerKeys {
    static let tlsCertificate = Setting<String>.text("vamp.http-api.tls.certificate", default: "")
    static let tlsKey = Setting<String>.text("vamp.http-api.tls.key", default: "")
    static let tlsCAFile = Setting<String>.text("vamp.http-api.tls.ca-file", default: "")
}

/// HTTPS for the API (`vamp.http-api.tls.*`): the certificate's and the key's PEM files, read at start and again on
/// SIGHUP, and the CA file workflows get to verify it.
struct TLSSettings: Sendable {
    var certificateFile: String
    var keyFile: String
    /// What workflows get as `VAMP_CA_FILE`; `nil`: none (a certificate of a CA the system trusts).
    var caFile: String?

    /// `nil` when neither file is set (plain HTTP); an error naming the other when only one is.
    static func read(_ reader: inout SettingsReader) throws(SettingError) -> TLSSettings? {
        let certificate = try reader.read(ServerKeys.tlsCertificate), key = try reader.read(ServerKeys.tlsKey)
        let caFile = try reader.read(ServerKeys.tlsCAFile)
        switch (certificate.isEmpty, key.isEmpty) {
        case (true, true):
            guard caFile.isEmpty else {
                throw SettingError(description: "\(ServerKeys.tlsCAFile.described) is set, but the API is not served over TLS: set \(ServerKeys.tlsCertificate.key) and \(ServerKeys.tlsKey.key) too, or leave it out")
            }
            return nil
        case (false, true):
            throw SettingError(description: "\(ServerKeys.tlsKey.described): the certificate is set (\(ServerKeys.tlsCertificate.key)), its private key is not; set both for HTTPS, or neither")
        case (true, false):
            throw SettingError(description: "\(ServerKeys.tlsCertificate.described): the private key is set (\(ServerKeys.tlsKey.key)), the certificate is not; set both for HTTPS, or neither")
        case (false, false):
            let absolute = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.path }
            return TLSSettings(certificateFile: absolute(certificate), keyFile: absolute(key), caFile: caFile.isEmpty ? nil : absolute(caFile))
        }
    }
}

/// Reads the API's certificate and key again on every SIGHUP: new connections get the new certificate, open ones
/// keep theirs. Files that do not read leave the old certificate served, and say so in the log.
struct CertificateReloader: Service {
    let certificate: APICertificate
    let logger: Logger

    func run() async throws {
        let hangUps = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangUps { reload() }
        }
    }

    func reload() {
        do {
            try certificate.reload()
            logger.notice("SIGHUP: the API's certificate is read again; new connections get it", metadata: [
                "vamp.tls.certificate": "\(certificate.certificateFile)", "vamp.tls.served": "\(certificate.summary)",
            ])
            if certificate.isExpired { logger.warning("the API's certificate has expired: clients refuse it (\(certificate.summary))") }
        } catch {
            logger.error("SIGHUP: the API's certificate was not replaced, the one loaded before is still served: \(error.description)", metadata: [
                "vamp.tls.served": "\(certificate.summary)",
            ])
        }
    }
}
