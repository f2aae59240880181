import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import VampModel

/// The few Kubernetes API calls the driver makes (namespaces, apps/v1 Deployments, Pods, Services, `/version`), over
/// HTTPS with the cluster's CA certificate and a bearer token (through ``JSONHTTPClient``).
struct KubernetesAPIClient: Sendable {
    /// `https://host:port`, without a trailing slash.
    let base: String
    /// Where the bearer token comes from.
    let token: TokenSource
    /// The CA certificate file the client trusts (nil: the system's roots), for error messages.
    let caFile: String?
    /// JSON over HTTP(S) to ``base``.
    let http: JSONHTTPClient

    typealias Answer = JSONHTTPClient.Answer

    /// The client of `base` through `client`.
    init(base: String, client: HTTPClient, token: TokenSource, caFile: String?) {
        self.base = base
        self.token = token
        self.caFile = caFile
        self.http = JSONHTTPClient(
            endpoint: .url(base), name: "the Kubernetes API at \(base)", client: client, headers: ["Accept": "application/json"],
            tlsAdvice: "check its CA certificate (vamp.container-driver.kubernetes.server-ca-cert\(caFile.map { ", \($0)" } ?? ", the system's roots"))"
        ) { method, path, answer in
            Self.failure(method, path, answer, base: base, tokenFile: token.file)
        }
    }

    /// The bearer token: a fixed one, or a file (the service account's) re-read every minute and after a 401, since
    /// projected service-account tokens rotate.
    final class TokenSource: Sendable {
        let fixed: String?
        let file: String?
        private let cache = Mutex<(token: String?, read: ContinuousClock.Instant?)>((nil, nil))

        init(fixed: String?, file: String?) {
            self.fixed = fixed
            self.file = file
        }

        /// The token to send, or nil for none.
        func current(reread: Bool = false) -> String? {
            if let fixed { return fixed }
            guard let file else { return nil }
            let now = ContinuousClock.now
            if !reread, let cached = cache.withLock({ state -> String?? in
                guard let read = state.read, now - read < .seconds(60) else { return nil }
                return .some(state.token)
            }) {
                return cached
            }
            let text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            cache.withLock { $0 = (text, now) }
            return text
        }
    }

    /// One client per CA certificate file, for the life of the process (never shut down, like the stores' shared
    /// client): drivers of many namespaces share it.
    private static let clients = Mutex<[String: HTTPClient]>([:])

    /// The client for `base`, trusting the PEM certificates of `caFile` (the system's roots when nil).
    /// - Throws: A permanent ``ContainerDriverError`` naming the file when it cannot be read as PEM certificates.
    static func make(base: String, caFile: String?, token: TokenSource) throws(ContainerDriverError) -> KubernetesAPIClient {
        let key = caFile ?? ""
        if let client = clients.withLock({ $0[key] }) { return KubernetesAPIClient(base: base, client: client, token: token, caFile: caFile) }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw ContainerDriverError("cannot read the Kubernetes CA certificate \(caFile) (vamp.container-driver.kubernetes.server-ca-cert): \(error)", permanent: true, cause: error)
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5))
        let client = clients.withLock { clients in
            if let existing = clients[key] { return existing }
            let made = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[key] = made
            return made
        }
        return KubernetesAPIClient(base: base, client: client, token: token, caFile: caFile)
    }

    /// `method` on `path` with `query` and an optional JSON body; the whole answer, whatever its status. A 401 is
    /// retried once with the token file read again.
    func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: JSONValue? = nil) async throws(ContainerDriverError) -> Answer {
        let answer = try await http.call(method, path, query: query, json: json, headers: authorization(token.current()))
        if answer.status == 401, token.file != nil {
            return try await http.call(method, path, query: query, json: json, headers: authorization(token.current(reread: true)))
        }
        return answer
    }

    private func authorization(_ token: String?) -> HTTPHeaders {
        guard let token, !token.isEmpty else { return [:] }
        return ["Authorization": "Bearer \(token)"]
    }

    /// Like ``call(_:_:query:json:)``, but a status outside 2xx (and not in `accepting`) is an error (``failure(_:_:_:)``).
    @discardableResult
    func expect(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: JSONValue? = nil, accepting: Set<Int> = []
    ) async throws(ContainerDriverError) -> Answer {
        let answer = try await call(method, path, query: query, json: json)
        guard answer.succeeded || accepting.contains(answer.status) else { throw failure(method, path, answer) }
        return answer
    }

    /// The error of an answer: the Status `message` quoted; permanent for 400, 401 (wrong or missing token), 403
    /// (the service account lacks the RBAC permission), 422 (Invalid).
    func failure(_ method: HTTPMethod, _ path: String, _ answer: Answer) -> ContainerDriverError {
        http.failure(method, path, answer)
    }

    private static func failure(_ method: HTTPMethod, _ path: String, _ answer: Answer, base: String, tokenFile: String?) -> ContainerDriverError {
        let message = KubernetesPlan.status(answer.body)?.message ?? answer.text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch answer.status {
        case 401:
            return ContainerDriverError(
                "the Kubernetes API at \(base) refused the credentials (401 Unauthorized: \(message)): check the bearer token "
                    + "(vamp.container-driver.kubernetes.bearer) or token file (vamp.container-driver.kubernetes.token\(tokenFile.map { ", \($0)" } ?? ""))",
                permanent: true)
        case 403:
            return ContainerDriverError(
                "the Kubernetes API at \(base) forbids \(method) \(path) (403 Forbidden: \(message)): the service account needs that permission (Documentation/kubernetes/rbac.yaml)",
                permanent: true)
        default:
            return ContainerDriverError(
                "Kubernetes API: \(method) \(path) answered \(answer.status)\(answer.reason.isEmpty ? "" : " \(answer.reason)"): \(message)",
                permanent: [400, 422].contains(answer.status))
        }
    }

    /// The `items` of a list answer.
    func items(_ path: String, selector: String) async throws(ContainerDriverError) -> [JSONValue] {
        let answer = try await expect(.GET, path, query: [("labelSelector", selector)])
        guard let items = answer.json.value(atPath: "items")?.arrayValue else {
            throw ContainerDriverError("Kubernetes API: GET \(path) answered an unreadable list: \(answer.text.prefix(200))")
        }
        return items
    }
}

extension JSONHTTPClient.Answer {
    /// The `reason` of a Kubernetes Status body (`AlreadyExists`, `NotFound`, `Conflict`, `Invalid`), or "".
    var reason: String { KubernetesPlan.status(body)?.reason ?? "" }
}
