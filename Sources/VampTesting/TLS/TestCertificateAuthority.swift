public import Foundation

/// A certificate authority made with the real `openssl` command in a temporary folder, and server certificates it
/// signs: what the HTTPS tests give HAProxy (a PEM file with the certificate, the CA's certificate as its chain and
/// the key) and curl (`--cacert` ``caFile``). A missing `openssl` fails with the install command.
public final class TestCertificateAuthority: Sendable {
    /// The folder of every file made (removed by ``remove()``).
    public let folder: TemporaryDirectory
    /// The CA's certificate: what a client trusts (`curl --cacert`).
    public let caFile: URL
    let caKey: URL

    /// `openssl`'s path on Debian.
    public static let openssl = "/usr/bin/openssl"

    /// Makes a CA named `name` (an EC P-256 key, valid 2 days).
    public init(name: String = "Vamp Test CA") throws {
        folder = try TemporaryDirectory(prefix: "vamp-ca")
        caFile = folder.url.appendingPathComponent("ca.pem")
        caKey = folder.url.appendingPathComponent("ca.key")
        try Self.run([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=\(name)", "-keyout", caKey.path, "-out", caFile.path,
        ])
    }

    /// A server certificate for `hosts` (DNS names; `127.0.0.1` is added as an IP), signed by this CA, with serial
    /// `serial` and common name `commonName`, in one PEM file (certificate, CA certificate, key) as HAProxy's `crt`
    /// takes it; returns its path, `<folder>/<fileName>`.
    public func serverCertificate(
        fileName: String, commonName: String, serial: Int, hosts: [String] = ["shop.test"], keyType: KeyType = .ec
    ) throws -> URL {
        let base = folder.url.appendingPathComponent(fileName).deletingPathExtension().path
        let key = base + ".key", request = base + ".csr", certificate = base + ".crt", extensions = base + ".ext"
        let names = hosts.map { "DNS:\($0)" } + ["IP:127.0.0.1"]
        try Data("subjectAltName=\(names.joined(separator: ","))\nextendedKeyUsage=serverAuth\n".utf8).write(to: URL(fileURLWithPath: extensions))
        let newKey: [String] = switch keyType {
        case .ec: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        case .rsa2048: ["-newkey", "rsa:2048"]
        }
        try Self.run(["req"] + newKey + ["-nodes", "-subj", "/CN=\(commonName)", "-keyout", key, "-out", request])
        try Self.run([
            "x509", "-req", "-in", request, "-CA", caFile.path, "-CAkey", caKey.path, "-set_serial", String(serial),
            "-days", "2", "-extfile", extensions, "-out", certificate,
        ])
        let pem = try [certificate, caFile.path, key].map { try String(contentsOfFile: $0, encoding: .utf8) }.joined()
        let file = folder.url.appendingPathComponent(fileName)
        try Data(pem.utf8).write(to: file)
        return file
    }

    /// The private-key type of a server certificate.
    public enum KeyType: Sendable {
        /// EC P-256 (ECDSA).
        case ec
        /// RSA, 2048 bits.
        case rsa2048
    }

    /// Removes the folder.
    public func remove() { folder.remove() }

    /// Runs `openssl arguments`, throwing its output when it fails.
    static func run(_ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            throw FixtureError("openssl is not installed; install it: apt-get install -y openssl (Scripts/test does)")
        }
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError("openssl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(text)")
        }
    }
}
