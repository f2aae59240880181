/// A secret the server keeps for the gateway agents: a TLS certificate with its chain and private key, in PEM, that an
/// HTTPS gateway names (`tls: {secret: shop}`). Written through `PUT /api/v1/secrets/{name}` only; no answer of the
/// API ever holds ``certificate``, and the agents receive it through the KV store and keep it in a file only their
/// user may read.
public struct Secret: Sendable, Hashable {
    /// The secret's name: letters, digits, `.`, `_` and `-`, at most ``maximumNameLength`` bytes, not starting with a
    /// `.` (it is part of the agents' file name).
    public var name: String
    /// The PEM text: the server's certificate first, then the chain that signed it, and the unencrypted private key.
    public var certificate: String

    /// Creates a secret.
    public init(name: String, certificate: String) {
        self.name = name
        self.certificate = certificate
    }

    /// The longest name taken.
    public static let maximumNameLength = 64
    /// The largest PEM text taken, in bytes: a certificate, a chain of a few and a 4096-bit RSA key fit many times.
    public static let maximumCertificateBytes = 65_536

    /// Why `name` cannot name a secret, or `nil`.
    public static func nameProblem(_ name: String) -> String? {
        guard !name.isEmpty else { return "the secret's name is empty" }
        guard name.utf8.count <= maximumNameLength else {
            return "the secret's name has \(name.utf8.count) bytes; at most \(maximumNameLength) are allowed"
        }
        guard name.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || "._-".utf8.contains($0) }),
              !name.hasPrefix(".")
        else {
            return "the secret's name '\(Names.printable(name))' may hold only letters, digits, '.', '_' and '-', and may not start with '.'"
        }
        return nil
    }

    /// Why `pem` cannot be a secret's certificate, or `nil`: its shape only (size, characters, a certificate and a
    /// private key block); whether the key belongs to the certificate is checked where a TLS library is at hand (the
    /// API) and by `haproxy -c`.
    public static func certificateProblem(_ pem: String) -> String? {
        guard !pem.isEmpty else { return "the certificate is empty; give the PEM text of the certificate, its chain and its private key" }
        guard pem.utf8.count <= maximumCertificateBytes else {
            return "the certificate has \(pem.utf8.count) bytes; at most \(maximumCertificateBytes) are allowed"
        }
        guard pem.utf8.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
            return "the certificate must be PEM text (printable ASCII lines)"
        }
        guard pem.contains("-----BEGIN CERTIFICATE-----") else {
            return "the certificate holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        }
        guard pem.contains("-----BEGIN PRIVATE KEY-----") || pem.contains("-----BEGIN RSA PRIVATE KEY-----")
            || pem.contains("-----BEGIN EC PRIVATE KEY-----")
        else {
            if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                return "the private key is encrypted; HAProxy cannot ask for its passphrase: give it unencrypted (openssl pkey -in key.pem)"
            }
            return "the certificate holds no private key (-----BEGIN PRIVATE KEY-----); HAProxy needs the key in the same PEM"
        }
        return nil
    }
}
