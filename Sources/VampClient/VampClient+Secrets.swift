import Foundation
import NIOHTTP1
import VampDSL
import VampModel

/// What the server shows of a stored secret: what its certificate says and which gateways name it; never the PEM
/// text (`GET /api/v1/secrets`).
public struct SecretSummary: Sendable, Hashable, Codable {
    /// The secret's name.
    public var name: String
    /// The stored version.
    public var version: Int64
    /// The gateways whose `tls.secret` names it.
    public var gateways: [String]
    /// What the certificate says; `nil` when the stored text no longer reads (then ``error`` says why).
    public var certificate: Certificate?
    /// Why the stored certificate does not read.
    public var error: String?

    /// What a certificate says.
    public struct Certificate: Sendable, Hashable, Codable {
        /// The DNS names and IP addresses it is for.
        public var names: [String]
        /// The serial number, in hex.
        public var serial: String
        /// As `openssl x509 -fingerprint -sha256` shows it.
        public var sha256: String
        /// The end of its validity, ISO 8601.
        public var notAfter: String
        /// Whether its validity has ended.
        public var expired: Bool

        enum CodingKeys: String, CodingKey {
            case names, serial, sha256, expired
            case notAfter = "not_after"
        }
    }
}

extension VampClient {
    // MARK: Secrets

    /// Every stored secret (`GET /api/v1/secrets`).
    public func secrets() async throws(VampClientError) -> [SecretSummary] {
        try Self.decodeSecrets(try await send(.GET, "secrets").text, as: [SecretSummary].self)
    }

    /// The stored secret `name`, or `nil` when there is none (`GET /api/v1/secrets/{name}`).
    public func secret(named name: String) async throws(VampClientError) -> SecretSummary? {
        guard let answer = try await getIfFound("secrets/\(Self.path(name))") else { return nil }
        return try Self.decodeSecrets(answer.text, as: SecretSummary.self)
    }

    /// Stores `pem` (the certificate, its chain and the unencrypted private key) as the secret `name`, creating or
    /// replacing it (`PUT /api/v1/secrets/{name}`); with `validateOnly` it is checked and nothing is stored.
    @discardableResult
    public func storeSecret(_ name: String, certificate pem: String, validateOnly: Bool = false) async throws(VampClientError) -> SecretSummary {
        let body = DSLWriter.json(.secret(Secret(name: name, certificate: pem)), pretty: false)
        let answer = try await send(.PUT, "secrets/\(Self.path(name))", query: Self.validating(validateOnly), body: body)
        return try Self.decodeSecrets(answer.text, as: SecretSummary.self)
    }

    static func decodeSecrets<T: Decodable>(_ text: String, as type: T.Type) throws(VampClientError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw VampClientError(.server, message: "the server's answer about secrets does not read: \(error)")
        }
    }
}
