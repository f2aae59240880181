import Foundation
import NIOSSL
import PostgresNIO

extension PersistenceConfiguration.Postgres {
    /// The client's TLS settings for ``tls``: the CA file is read here, so that a missing or unreadable one fails
    /// the start with its name instead of every connection later.
    func clientTLS() throws(PersistenceError) -> PostgresClient.Configuration.TLS {
        try clientTLSConfiguration().map { .require($0) } ?? .disable
    }

    /// The client's TLS configuration for ``tls``; `nil` for plain TCP.
    func clientTLSConfiguration() throws(PersistenceError) -> TLSConfiguration? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch tls {
        case .disable:
            if let caFile {
                throw PersistenceError(code: .invalidConfiguration, message: "sslrootcert '\(caFile)' is given but sslmode is disable; set sslmode to verify-full")
            }
            return nil
        case .require:
            configuration.certificateVerification = .none
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            if let caFile {
                do {
                    let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                    guard !certificates.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
                    configuration.trustRoots = .certificates(certificates)
                } catch {
                    throw PersistenceError(
                        code: .invalidConfiguration,
                        message: "sslrootcert '\(caFile)': no PEM certificate can be read from it (\(error)); give the CA certificate that signs the PostgreSQL server's")
                }
            }
        }
        return configuration
    }
}
