import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOSSL
import VampCore

/// What the API shows of a secret's certificate, read from its PEM text with the TLS library: never the key, and
/// nothing of the PEM text itself.
struct SecretCertificate: Sendable {
    /// The DNS names and IP addresses the certificate is for (its subject alternative names).
    var names: [String]
    /// The serial number, in hex.
    var serial: String
    var notBefore: Date
    var notAfter: Date
    /// `openssl x509 -fingerprint -sha256` of the server's certificate: colon-separated upper-case hex.
    var sha256: String
    /// How many certificates the PEM holds (the server's and its chain).
    var chainLength: Int

    /// Reads `pem` (the certificate, its chain and the private key); throws with what is wrong, naming the field
    /// `certificate`, when it holds no certificate, no usable key, or a key that is not the certificate's.
    init(pem: String) throws(OperationError) {
        let bytes = Array(pem.utf8)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw OperationError(.invalid, "secret field certificate: the PEM certificate does not read (\(error))")
        }
        guard let leaf = chain.first else { throw OperationError(.invalid, "secret field certificate: holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw OperationError(.invalid, "secret field certificate: the private key does not read; give it unencrypted in PEM (\(error))")
        }
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw OperationError(.invalid, "secret field certificate: the private key is not the key of the first certificate (the server's), or they make no TLS context (\(error))")
        }
        let der = (try? leaf.toDERBytes()) ?? []
        sha256 = SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
        serial = leaf.serialNumber.map { String(format: "%02X", $0) }.joined()
        notBefore = Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))
        notAfter = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        names = leaf._subjectAlternativeNames().compactMap { name in
            switch name.nameType {
            case .dnsName: String(decoding: name.contents, as: UTF8.self)
            case .ipAddress: Self.address(Array(name.contents))
            default: nil
            }
        }
        chainLength = chain.count
    }

    /// An IP address of a subject alternative name, as `inet_ntop` writes it (`127.0.0.1`, `::1`).
    static func address(_ bytes: [UInt8]) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count)) }
        return written == nil ? nil : String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The JSON object of the API's answers.
    func json(now: Date) -> [String: Any] {
        [
            "names": names, "serial": serial, "sha256": sha256, "chain": chainLength,
            "not_before": notBefore.formatted(.iso8601), "not_after": notAfter.formatted(.iso8601), "expired": notAfter < now,
        ]
    }
}
