/// HTTPS on a gateway: HAProxy terminates TLS on the gateway's port with a certificate, and an http gateway offers
/// HTTP/2 and HTTP/1.1 by ALPN. Written `tls: {certificate: /etc/vamp/certs/shop.pem}` on a gateway.
public struct GatewayTLS: Sendable, Hashable {
    /// The certificate: a PEM file on every gateway agent's machine holding the certificate, its chain and the
    /// private key (HAProxy's `crt`), as an absolute path.
    public var certificate: String

    /// Creates the TLS settings of a gateway.
    public init(certificate: String) {
        self.certificate = certificate
    }

    /// The longest certificate path taken.
    public static let maximumPathLength = 255

    /// Why `path` cannot name a certificate file, or nil when it can: an absolute path of letters, digits, `/`, `.`,
    /// `_` and `-` (so it stays one word on HAProxy's `bind` line: no space, quote, `#`, `$` or newline), at most
    /// ``maximumPathLength`` bytes, not a folder (`/` at the end).
    public static func certificatePathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else {
            return "the certificate must be an absolute path on the gateway agents' machines, such as /etc/vamp/certs/shop.pem, not '\(Names.printable(path))'"
        }
        guard path.utf8.count <= maximumPathLength else {
            return "the certificate path has \(path.utf8.count) bytes; at most \(maximumPathLength) are allowed"
        }
        guard path.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || "/._-".utf8.contains($0) }) else {
            return "the certificate path '\(Names.printable(path))' may hold only letters, digits, '/', '.', '_' and '-'"
        }
        guard !path.hasSuffix("/"), path.split(separator: "/").last.map({ $0 != "." && $0 != ".." }) ?? false else {
            return "the certificate path '\(Names.printable(path))' must name a PEM file, not a folder"
        }
        return nil
    }
}
