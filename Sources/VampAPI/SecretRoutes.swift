import Foundation
import HTTPTypes
import Hummingbird
import VampCore
import VampDSL
import VampModel

/// `/secrets` and `/secrets/{name}`: the certificates HTTPS gateways name (`tls: {secret: name}`). A secret is
/// written whole and never read back: every answer shows what its certificate says (names, validity, fingerprint)
/// and which gateways use it, never the PEM text or the key.
struct SecretHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    /// `GET /secrets`: every secret, by name.
    func list(_ request: Request) async throws -> Response {
        let secrets = try await vamp.allSecrets()
        let users = try await gatewaysBySecret()
        return APIAnswer.json(secrets.map { view($0, users: users[$0.secret.name] ?? []) })
    }

    /// `GET /secrets/{name}`.
    func read(_ name: String) async throws -> Response {
        guard let stored = try await vamp.secret(named: name) else { return Response(status: .notFound) }
        var response = APIAnswer.json(view(stored, users: try await gatewaysBySecret()[name] ?? []))
        response.headers[.eTag] = ArtifactHandlers.eTag(stored.version)
        return response
    }

    /// `PUT /secrets/{name}` and `POST /secrets`: `{name, certificate}` in JSON or YAML; the certificate is read and
    /// its key checked against it before anything is stored; `validate_only=true` checks and stores nothing.
    func write(_ request: Request, name expected: String?) async throws -> Response {
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send {name, certificate} with the certificate's PEM text")
        }
        let secret: Secret
        do {
            let documents = try DSLReader.read(text, kind: .secret)
            guard documents.count == 1, case .secret(let read) = documents[0].artifact else {
                throw OperationError(.invalid, "send one secret: {name, certificate}")
            }
            secret = read
        } catch let error as OperationError {
            throw error
        } catch {
            throw OperationError(.invalid, "\(error)")
        }
        if let expected, secret.name != expected {
            throw OperationError(.invalid, "secret '\(secret.name)': the name in the body must be '\(expected)', the name in the path")
        }
        let certificate = try SecretCertificate(pem: secret.certificate)
        let validateOnly = ArtifactHandlers.flag(request, "validate_only")
        let (version, created) = try await vamp.storeSecret(secret, expectedVersion: try ArtifactHandlers.ifMatch(request), validateOnly: validateOnly)
        let users = try await gatewaysBySecret()[secret.name] ?? []
        var response = APIAnswer.json(
            view(name: secret.name, version: version, certificate: certificate, users: users), status: created && !validateOnly ? .created : .ok)
        if !validateOnly { response.headers[.eTag] = ArtifactHandlers.eTag(version) }
        return response
    }

    /// `DELETE /secrets/{name}`: 409 while a gateway names it.
    func delete(_ request: Request, name: String) async throws -> Response {
        try await vamp.deleteSecret(name, expectedVersion: try ArtifactHandlers.ifMatch(request), validateOnly: ArtifactHandlers.flag(request, "validate_only"))
        return Response(status: .noContent)
    }

    // MARK: Support

    func view(_ stored: Vamp.StoredSecret, users: [String]) -> [String: Any] {
        do {
            return view(name: stored.secret.name, version: stored.version, certificate: try SecretCertificate(pem: stored.secret.certificate), users: users)
        } catch {
            // Stored by a library user without the API's check: say so, still without the text.
            return ["name": stored.secret.name, "kind": "secret", "version": stored.version, "gateways": users, "error": error.message]
        }
    }

    func view(name: String, version: Int64, certificate: SecretCertificate, users: [String]) -> [String: Any] {
        ["name": name, "kind": "secret", "version": version, "certificate": certificate.json(now: Date()), "gateways": users]
    }

    /// The stored gateways naming each secret, sorted.
    func gatewaysBySecret() async throws -> [String: [String]] {
        var users: [String: [String]] = [:]
        for gateway in try await vamp.allGateways() {
            if let secret = gateway.tls?.secret { users[secret, default: []].append(gateway.name) }
        }
        return users.mapValues { $0.sorted() }
    }
}
