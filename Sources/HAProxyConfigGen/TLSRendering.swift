import VampModel

extension HAProxyConfigurationGenerator {
    /// What follows the address on the `bind` line of a gateway's public frontend: nothing for a plain gateway;
    /// `ssl crt <file> alpn h2,http/1.1` for an http gateway with `GatewayTLS` (HAProxy terminates TLS and
    /// offers HTTP/2 by ALPN, which needs `mode http`); `ssl crt <file>` for a tcp gateway (TLS is terminated and
    /// the plain stream goes to the routes). The path is checked again here (absolute, `[A-Za-z0-9/._-]`), so it
    /// is one word on the line whatever reached the generator.
    /// A gateway with `tls: {secret: name}` gets the secret's file of ``Options/secretFiles`` (relative to the folder
    /// HAProxy runs in); checked the same way.
    func tlsBindOptions(of gateway: Gateway) throws(HAProxyConfigError) -> String {
        guard let tls = gateway.tls else { return "" }
        let file: String
        if let secret = tls.secret {
            guard let known = options.secretFiles[secret] else {
                throw HAProxyConfigError(
                    code: .unresolvedReference, message: "tls.secret: there is no secret '\(HAProxyText.comment(secret))'; store it with PUT /api/v1/secrets/\(HAProxyText.comment(secret))",
                    gateway: gateway.name)
            }
            guard GatewayCertificates.isFileName(known) else {
                throw HAProxyConfigError(code: .unsafeValue, message: "tls.secret: the file of secret '\(HAProxyText.comment(secret))' is not a certificate file name", gateway: gateway.name)
            }
            file = known
        } else {
            let path = tls.certificate ?? ""
            if let problem = GatewayTLS.certificatePathProblem(path) {
                throw HAProxyConfigError(code: .unsafeValue, message: "tls.certificate: \(HAProxyText.comment(problem))", gateway: gateway.name)
            }
            file = path
        }
        return gateway.port.type == .http ? " ssl crt \(file) alpn h2,http/1.1" : " ssl crt \(file)"
    }

    /// The options of the server line by which the virtual-hosts frontend reaches a gateway: TLS for an HTTPS
    /// gateway, without verification (the connection goes from HAProxy to its own frontend on this machine).
    static func virtualHostServerOptions(of gateway: Gateway) -> String {
        gateway.tls == nil ? "" : " ssl verify none alpn http/1.1"
    }
}

extension HAProxyConfigurationGenerator {
    /// The certificate files the `bind` lines of `text` (a text this generator rendered) name, in order.
    public static func certificateFiles(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in certificate(onBindLine: line)?.file }
    }

    /// `text` (a text this generator rendered) with the TLS options taken off every `bind` line whose certificate
    /// file `keep` refuses: what a server that does not hold the file (it lives on the gateway agents' machines) can
    /// still check with `haproxy -c`. Everything else on the line and in the text is unchanged.
    public static func withoutCertificates(in text: String, keep: (String) -> Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let (file, start) = certificate(onBindLine: line), !keep(file) {
                out += line[..<start]
            } else {
                out += line
            }
            out += "\n"
        }
        return String(out.dropLast())
    }

    /// The file after ` ssl crt ` on a gateway's `bind` line, and where ` ssl` starts.
    static func certificate(onBindLine line: Substring) -> (file: String, start: Substring.Index)? {
        guard line.hasPrefix("  bind "), let ssl = line.firstRange(of: " ssl crt ") else { return nil }
        let file = line[ssl.upperBound...].prefix { $0 != " " }
        return file.isEmpty ? nil : (String(file), ssl.lowerBound)
    }
}
