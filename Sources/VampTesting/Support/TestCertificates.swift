public import Foundation

/// A certificate authority of the test's own, made with the real `openssl`: its CA certificate, and server
/// certificates it signs for `127.0.0.1` and `localhost` (EC P-256, valid two days), each with the serial number
/// and common name the test chooses, so that a test can tell which one a server serves.
public struct TestCertificateAuthority: Sendable {
    /// Where the files are.
    public let folder: URL
    /// The CA's certificate (PEM): what a client trusts.
    public let caFile: URL
    let caKey: URL

    /// A server certificate and its private key (PEM files).
    public struct Issued: Sendable {
        public let certificate: URL
        public let key: URL
        /// The serial number, hex, upper case, as `openssl x509 -serial` prints it.
        public let serial: String
        public let commonName: String
    }

    /// Makes the CA in `folder` (its files are `ca.pem` and `ca.key`).
    public init(in folder: URL, name: String = "Vamp Test CA") throws {
        self.folder = folder
        caFile = folder.appendingPathComponent("ca.pem")
        caKey = folder.appendingPathComponent("ca.key")
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey.path, "-out", caFile.path,
            "-days", "2", "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    /// A certificate for `127.0.0.1`, `::1` and `localhost` (for a server, and for a client that shows one) signed by this CA, as `<name>.pem` and `<name>.key`.
    public func issue(_ name: String, serial: String, commonName: String? = nil) throws -> Issued {
        let certificate = folder.appendingPathComponent("\(name).pem"), key = folder.appendingPathComponent("\(name).key")
        let request = folder.appendingPathComponent("\(name).csr"), extensions = folder.appendingPathComponent("\(name).ext")
        let commonName = commonName ?? name
        try "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
            .write(to: extensions, atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.path, "-out", request.path,
            "-subj", "/CN=\(commonName)",
        ])
        try Self.openssl([
            "x509", "-req", "-in", request.path, "-CA", caFile.path, "-CAkey", caKey.path, "-set_serial", "0x\(serial)", "-days", "2",
            "-extfile", extensions.path, "-out", certificate.path,
        ])
        return Issued(certificate: certificate, key: key, serial: serial.uppercased(), commonName: commonName)
    }

    /// The serial number and subject of the certificate a TLS server on `127.0.0.1:port` serves to a new
    /// connection, as `openssl s_client` sees it: `serial=...` and `subject=CN = ...` lines.
    public static func served(port: Int) throws -> String {
        try run("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial -subject"])
    }

    static func openssl(_ arguments: [String]) throws {
        _ = try run("/usr/bin/openssl", arguments)
    }

    /// Runs `executable`; its output, or an error with it when it fails.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw FixtureError("openssl is not installed; install it: apt-get install -y openssl (Scripts/test does)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw FixtureError("\(executable) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
        }
        return text
    }
}
