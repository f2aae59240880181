public import Foundation

extension TestCertificateAuthority {
    /// A certificate signed by this CA that names exactly `subjectAltNames` (`DNS:localhost`, `IP:127.0.0.1`, ...),
    /// unlike ``issue(_:serial:commonName:hosts:keyType:)``, which always adds `127.0.0.1` and `::1`: for a test that a
    /// client checks the name it connects to. EC P-256, for a server and a client, as `<name>.pem` and `<name>.key`;
    /// `openssl` runs on a thread of its own.
    public func issue(_ name: String, serial: String, subjectAltNames: [String]) async throws -> Issued {
        let certificate = folder.appendingPathComponent("\(name).pem"), key = folder.appendingPathComponent("\(name).key")
        let request = folder.appendingPathComponent("\(name).csr"), extensions = folder.appendingPathComponent("\(name).ext")
        try "subjectAltName=\(subjectAltNames.joined(separator: ","))\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
            .write(to: extensions, atomically: true, encoding: .utf8)
        try await Self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.path,
            "-out", request.path, "-subj", "/CN=\(name)",
        ])
        try await Self.openssl([
            "x509", "-req", "-in", request.path, "-CA", caFile.path, "-CAkey", caKey.path, "-set_serial", "0x\(serial)",
            "-days", "2", "-extfile", extensions.path, "-out", certificate.path,
        ])
        return Issued(certificate: certificate, key: key, serial: serial.uppercased(), commonName: name)
    }
}
