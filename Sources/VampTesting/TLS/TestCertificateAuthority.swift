public import Foundation

/// A certificate authority of the test's own, made with the real `openssl` (EC P-256 keys, valid two days), and the
/// certificates it signs: separate certificate and key files for a server or a client (``issue(_:serial:commonName:hosts:keyType:)``),
/// or one PEM of certificate, chain and key as HAProxy's `crt` takes it
/// (``serverCertificate(fileName:commonName:serial:hosts:keyType:)``). Each certificate has the serial number and
/// common name the test chooses, so that a test can tell which one a server serves. A missing `openssl` fails with
/// the install command.
public final class TestCertificateAuthority: Sendable {
    /// Where the files are.
    public let folder: URL
    /// The CA's certificate (PEM): what a client trusts (`curl --cacert`).
    public let caFile: URL
    let caKey: URL
    /// The folder made for it when none was given (removed by ``remove()``).
    let made: TemporaryDirectory?

    /// `openssl`'s path on Debian.
    public static let openssl = "/usr/bin/openssl"

    /// A certificate and its private key (PEM files).
    public struct Issued: Sendable {
        public let certificate: URL
        public let key: URL
        /// The serial number, hex, upper case, as `openssl x509 -serial` prints it.
        public let serial: String
        public let commonName: String
    }

    /// The private-key type of a certificate.
    public enum KeyType: Sendable {
        /// EC P-256 (ECDSA).
        case ec
        /// RSA, 2048 bits.
        case rsa2048
    }

    /// Makes a CA named `name` in `folder` (`ca.pem` and `ca.key`), or in a temporary folder of its own.
    public init(in folder: URL? = nil, name: String = "Vamp Test CA") async throws {
        made = folder == nil ? try TemporaryDirectory(prefix: "vamp-ca") : nil
        self.folder = folder ?? made!.url
        caFile = self.folder.appendingPathComponent("ca.pem")
        caKey = self.folder.appendingPathComponent("ca.key")
        try await Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey.path, "-out", caFile.path,
            "-days", "2", "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    /// A certificate for `127.0.0.1`, `::1` and `hosts`, for a server and for a client that shows one, signed by this
    /// CA, as `<name>.pem` and `<name>.key`; `serial` in hex.
    public func issue(
        _ name: String, serial: String, commonName: String? = nil, hosts: [String] = ["localhost"], keyType: KeyType = .ec
    ) async throws -> Issued {
        let certificate = folder.appendingPathComponent("\(name).pem"), key = folder.appendingPathComponent("\(name).key")
        let request = folder.appendingPathComponent("\(name).csr"), extensions = folder.appendingPathComponent("\(name).ext")
        let commonName = commonName ?? name
        let names = ["IP:127.0.0.1", "IP:::1"] + hosts.map { "DNS:\($0)" }
        try "subjectAltName=\(names.joined(separator: ","))\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
            .write(to: extensions, atomically: true, encoding: .utf8)
        let newKey: [String] = switch keyType {
        case .ec: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        case .rsa2048: ["-newkey", "rsa:2048"]
        }
        try await Self.openssl(["req", "-new"] + newKey + ["-nodes", "-keyout", key.path, "-out", request.path, "-subj", "/CN=\(commonName)"])
        try await Self.openssl([
            "x509", "-req", "-in", request.path, "-CA", caFile.path, "-CAkey", caKey.path, "-set_serial", "0x\(serial)", "-days", "2",
            "-extfile", extensions.path, "-out", certificate.path,
        ])
        return Issued(certificate: certificate, key: key, serial: serial.uppercased(), commonName: commonName)
    }

    /// A server certificate for `hosts` and `127.0.0.1` in one PEM file (certificate, CA certificate, key) as HAProxy's
    /// `crt` takes it, `<folder>/<fileName>`; returns its path.
    public func serverCertificate(
        fileName: String, commonName: String, serial: Int, hosts: [String] = ["shop.test"], keyType: KeyType = .ec
    ) async throws -> URL {
        let base = URL(fileURLWithPath: fileName).deletingPathExtension().lastPathComponent
        let issued = try await issue(base + "-parts", serial: String(serial, radix: 16), commonName: commonName, hosts: hosts, keyType: keyType)
        let pem = try [issued.certificate, caFile, issued.key].map { try String(contentsOf: $0, encoding: .utf8) }.joined()
        let file = folder.appendingPathComponent(fileName)
        try Data(pem.utf8).write(to: file)
        return file
    }

    /// Removes the folder the CA made for itself (a folder given to it is the caller's).
    public func remove() { made?.remove() }

    /// The serial number and subject of the certificate a TLS server on `127.0.0.1:port` serves to a new
    /// connection, as `openssl s_client` sees it: `serial=...` and `subject=CN = ...` lines.
    public static func served(port: Int) async throws -> String {
        try await run("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial -subject"])
    }

    static func openssl(_ arguments: [String]) async throws {
        _ = try await run(openssl, arguments)
    }

    /// Runs `executable` on a thread of its own (``ExternalProcess/run(_:_:installHint:)``), never on the cooperative
    /// pool; its output, or an error with it when it fails.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            throw FixtureError("openssl is not installed; install it: apt-get install -y openssl (Scripts/test does)")
        }
        let finished = try await ExternalProcess.run(executable, arguments, installHint: "install it: apt-get install -y openssl (Scripts/test does)")
        guard finished.status == 0 else {
            throw FixtureError("\(executable) \(arguments.joined(separator: " ")) failed (\(finished.status)): \(finished.output)\(finished.errors)")
        }
        return finished.output
    }
}

extension TestCertificateAuthority {
    /// The base64 lines of the private key in a PEM text (16 characters or more): what a test looks for in an answer,
    /// a file or a page that must not show the key.
    public static func keyLines(_ pem: String) -> [String] {
        guard let start = pem.range(of: "-----BEGIN PRIVATE KEY-----"), let end = pem.range(of: "-----END PRIVATE KEY-----") else { return [] }
        return pem[start.upperBound..<end.lowerBound].split(separator: "\n").map(String.init).filter { $0.count >= 16 }
    }
}
