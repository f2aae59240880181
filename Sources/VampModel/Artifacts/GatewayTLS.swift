/// HTTPS on a gateway: HAProxy terminates TLS on the gateway's port with a certificate, and an http gateway offers
/// HTTP/2 and HTTP/1.1 by ALPN. Written `tls: {certificate: /etc/vamp/certs/shop.pem}` (a file on the agents'
/// machines) or `tls: {secret: shop}` (a ``Secret`` the server keeps and hands to the agents) on a gateway: one of
/// the two.
public struct GatewayTLS: Sendable, Hashable {
    /// The certificate: a PEM file on every gateway agent's machine holding the certificate, its chain and the
    /// private key (HAProxy's `crt`), as an absolute path; `nil` when ``secret`` names it.
    public var certificate: String?
    /// The name of the stored ``Secret`` holding the certificate; `nil` when ``certificate`` names a file.
    public var secret: String?

    /// Creates the TLS settings of a gateway served with the certificate file at `certificate`.
    public init(certificate: String) {
        self.certificate = certificate
    }

    /// Creates the TLS settings of a gateway served with the stored secret `secret`.
    public init(secret: String) {
        self.secret = secret
    }

    /// What names the certificate, for messages: the file's path or `secret <name>`.
    public var source: String {
        if let secret { return "secret '\(secret)'" }
        return certificate ?? "nothing"
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
