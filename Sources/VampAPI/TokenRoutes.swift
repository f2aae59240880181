import Foundation
import Hummingbird
import VampAccess
import VampCore
import Yams

/// `/api/v1/tokens` (admin only, by ``AccessPolicy``): list, create, read and revoke tokens. A created token's secret
/// is in the answer to its `POST` and nowhere else; the other answers show a token's name, role, namespaces,
/// expiry and creator, never its hash.
struct TokenHandlers {
    let access: APIAccess
    let limit: Int

    /// The request body of `POST /tokens`.
    struct NewToken: Decodable {
        var name: String
        var role: String?
        var namespaces: [String]?
        var expires: String?
        var expiresIn: String?

        enum CodingKeys: String, CodingKey {
            case name, role, namespaces, expires
            case expiresIn = "expires_in"
        }
    }

    func registry() throws(OperationError) -> TokenRegistry {
        guard case .tokens(let registry) = access else {
            throw OperationError(.invalid, "authentication is off (vamp.http-api.auth: none): this server uses no tokens")
        }
        return registry
    }

    func list() async throws -> Response {
        let registry = try registry()
        await registry.ready()
        return APIAnswer.json(registry.all().map(\.summary))
    }

    func read(_ context: VampRequestContext) async throws -> Response {
        let registry = try registry()
        await registry.ready()
        let name = context.parameters.get("name") ?? ""
        guard let token = registry.all().first(where: { $0.name == name }) else { throw OperationError(.notFound, "no token '\(name)'") }
        return APIAnswer.json(token.summary)
    }

    func create(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let registry = try registry()
        guard let text = try await RequestBody.text(request, limit: limit, required: true) else {
            throw OperationError(.invalid, "the body must name the token: {\"name\": \"ci\", \"role\": \"write\"}")
        }
        let body: NewToken
        do {
            body = BodyFormat.ofRequest(contentType: request.headers[.contentType]) == .yaml
                ? try YAMLDecoder().decode(NewToken.self, from: text)
                : try JSONDecoder().decode(NewToken.self, from: Data(text.utf8))
        } catch {
            throw OperationError(.invalid, "the token request does not read: \(Self.describe(error)); send {\"name\": ..., \"role\": read|write|command|admin, \"namespaces\": [...], \"expires\": ISO-8601 or \"expires_in\": \"90d\"}")
        }
        let roleText = body.role ?? "read"
        guard let role = Role(rawValue: roleText) else {
            throw OperationError(.invalid, "token '\(body.name)': role '\(roleText)' is not one of read, write, command, admin")
        }
        let now = Date()
        let expires = try Self.expiry(body, now: now)
        if let namespaces = body.namespaces, namespaces.isEmpty || namespaces.contains(where: \.isEmpty) {
            throw OperationError(.invalid, "token '\(body.name)': namespaces must list at least one namespace name, or be left out for all")
        }
        await registry.ready()
        do {
            let (token, secret) = try await registry.create(
                name: body.name, role: role, namespaces: body.namespaces, expires: expires, by: context.token?.name ?? "anonymous", at: now)
            var answer: [String: Any] = token.summary
            answer["token"] = secret
            return APIAnswer.json(answer, status: .created)
        } catch {
            throw Self.operationError(error)
        }
    }

    func revoke(_ context: VampRequestContext) async throws -> Response {
        let registry = try registry()
        await registry.ready()
        do {
            try await registry.revoke(name: context.parameters.get("name") ?? "")
        } catch {
            throw Self.operationError(error)
        }
        return Response(status: .noContent)
    }

    static func expiry(_ body: NewToken, now: Date) throws(OperationError) -> Date? {
        if let text = body.expires {
            guard body.expiresIn == nil else { throw OperationError(.invalid, "token '\(body.name)': give expires or expires_in, not both") }
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw OperationError(.invalid, "token '\(body.name)': expires '\(text)' is not an ISO-8601 time such as 2027-01-31T00:00:00Z")
            }
            guard date > now else { throw OperationError(.invalid, "token '\(body.name)': expires '\(text)' has passed") }
            return date
        }
        guard let text = body.expiresIn else { return nil }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Double(text.dropLast()), count > 0, count <= 36500 * 86400 / unit else {
            throw OperationError(.invalid, "token '\(body.name)': expires_in '\(text)' is not a duration such as 3600s, 30m, 12h or 90d")
        }
        return now.addingTimeInterval(count * unit)
    }

    static func operationError(_ error: TokenError) -> OperationError {
        switch error.code {
        case .invalid: OperationError(.invalid, error.message)
        case .conflict: OperationError(.conflict, error.message)
        case .notFound: OperationError(.notFound, error.message)
        case .unavailable: OperationError(.unavailable, error.message)
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "'\(key.stringValue)' is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        default: "it is not a JSON or YAML object"
        }
    }
}
