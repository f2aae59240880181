public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import VampDSL
public import VampModel

/// A typed async client of vamp-server's REST API (`/api/v1`).
///
/// Answers are read with VampDSL's `DSLReader` into VampModel values; a refusal throws ``VampClientError`` with the
/// server's message.
///
/// ```swift
/// let vamp = VampClient(host: URL(string: "http://127.0.0.1:8080")!)
/// try await vamp.deploy(blueprintNamed: "sava", as: "sava")
/// let deployment = try await vamp.deployment("sava")
/// ```
public struct VampClient: Sendable {
    /// The server's base URL, e.g. `http://127.0.0.1:8080` (`/api/v1` is added).
    public let host: URL
    /// The API token sent as `Authorization: Bearer <token>`; `nil` sends none (a server with `auth: none`).
    let token: String?
    let http: HTTPClient
    let timeout: TimeAmount

    /// Creates a client of the server at `host`.
    ///
    /// - Parameters:
    ///   - host: the server, e.g. `http://127.0.0.1:8080`; a path (a namespace such as `/shop`) is kept.
    ///   - token: the API token sent with every request (`vamp-server` prints an admin token at its first start and
    ///     writes it to `.vamp/admin-token`).
    ///   - httpClient: the HTTP client to use; by default one shared client that does not retry a refused connection.
    ///   - timeout: how long one request may take.
    public init(host: URL, token: String? = nil, httpClient: HTTPClient? = nil, timeout: Duration = .seconds(30)) {
        self.host = host
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.http = httpClient ?? sharedHTTPClient
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
    }

    // MARK: Artifacts

    /// Every artifact of `kind` (all pages).
    public func list(_ kind: ArtifactKind) async throws(VampClientError) -> [Artifact] {
        if kind == .event { return try await events().map(Artifact.event) }
        var artifacts: [Artifact] = []
        var page = 1
        while true {
            let answer = try await send(.GET, kind.plural, query: [("page", String(page)), ("per_page", "30")])
            let items = try Self.decode(answer.text, kind: kind)
            artifacts += items
            let total = answer.headers.first(name: "X-Total-Count").flatMap { Int($0) } ?? artifacts.count
            if items.isEmpty || artifacts.count >= total { return artifacts }
            page += 1
        }
    }

    /// One artifact, or `nil` when there is none by that name. `asBlueprint` reads a deployment as the blueprint
    /// it makes.
    public func read(_ kind: ArtifactKind, name: String, asBlueprint: Bool = false) async throws(VampClientError) -> Artifact? {
        guard let answer = try await getIfFound("\(kind.plural)/\(Self.path(name))", query: asBlueprint ? [("as_blueprint", "true")] : []) else {
            return nil
        }
        return try Self.decode(answer.text, kind: asBlueprint ? .blueprint : kind).first
    }

    /// Creates (or overwrites: a POST is an upsert) the artifacts of `document` (YAML or JSON, one or several
    /// documents of `kind`); returns what the server stored, or with `validateOnly` what it would store.
    @discardableResult
    public func create(_ kind: ArtifactKind, document: String, validateOnly: Bool = false) async throws(VampClientError) -> [Artifact] {
        let answer = try await send(.POST, kind.plural, query: Self.validating(validateOnly), body: document)
        return try Self.decode(answer.text, kind: nil, fallback: kind)
    }

    /// Creates (or overwrites) one artifact.
    @discardableResult
    public func create(_ artifact: Artifact, validateOnly: Bool = false) async throws(VampClientError) -> [Artifact] {
        try await create(artifact.kind, document: DSLWriter.json(artifact, pretty: false), validateOnly: validateOnly)
    }

    /// Replaces the artifact `name` of `kind` with `document` (its name must be `name`).
    @discardableResult
    public func update(_ kind: ArtifactKind, name: String, document: String, validateOnly: Bool = false) async throws(VampClientError) -> [Artifact] {
        let answer = try await send(.PUT, "\(kind.plural)/\(Self.path(name))", query: Self.validating(validateOnly), body: document)
        return try Self.decode(answer.text, kind: nil, fallback: kind)
    }

    /// Deletes an artifact; deleting what is not there succeeds.
    public func delete(_ kind: ArtifactKind, name: String, validateOnly: Bool = false) async throws(VampClientError) {
        _ = try await send(.DELETE, "\(kind.plural)/\(Self.path(name))", query: Self.validating(validateOnly))
    }

    /// Sends a multi-document body (each document with `kind` and `name`) to `/api/v1`: `POST` creates, `PUT`
    /// updates, `DELETE` removes; `kind: deployment` documents are deployed or sliced. With `validateOnly` nothing
    /// is stored, and a refusal names the document, field and line.
    public func apply(_ documents: String, action: Action = .create, validateOnly: Bool = false) async throws(VampClientError) {
        let method: HTTPMethod = switch action {
        case .create: .POST
        case .update: .PUT
        case .remove: .DELETE
        }
        _ = try await send(method, "", query: Self.validating(validateOnly), body: documents)
    }

    /// What ``apply(_:action:validateOnly:)`` does with the documents.
    public enum Action: Sendable, Hashable {
        /// `POST`: create or overwrite; deploy `kind: deployment` documents.
        case create
        /// `PUT`: update; merge `kind: deployment` documents.
        case update
        /// `DELETE`: remove; slice `kind: deployment` documents.
        case remove
    }

    // MARK: Deployments

    /// Every deployment.
    public func deployments() async throws(VampClientError) -> [Deployment] {
        try await list(.deployment).compactMap { if case .deployment(let d) = $0 { d } else { nil } }
    }

    /// A deployment, or `nil` when there is none (or nothing of it runs any more).
    public func deployment(_ name: String) async throws(VampClientError) -> Deployment? {
        if case .deployment(let deployment)? = try await read(.deployment, name: name) { return deployment }
        return nil
    }

    /// The blueprint a deployment makes (`?as_blueprint=true`): what to slice to remove it all.
    public func deploymentBlueprint(_ name: String) async throws(VampClientError) -> Blueprint? {
        if case .blueprint(let blueprint)? = try await read(.deployment, name: name, asBlueprint: true) { return blueprint }
        return nil
    }

    /// Creates the deployment `deployment` or merges into it (`PUT /deployments/{deployment}`) the blueprint
    /// `document` (YAML or JSON: a blueprint, or a stored blueprint's name).
    public func deploy(_ document: String, as deployment: String, validateOnly: Bool = false) async throws(VampClientError) {
        _ = try await send(.PUT, "deployments/\(Self.path(deployment))", query: Self.validating(validateOnly), body: document)
    }

    /// Deploys (or merges) a stored blueprint by name.
    public func deploy(blueprintNamed blueprint: String, as deployment: String, validateOnly: Bool = false) async throws(VampClientError) {
        try await deploy(blueprint, as: deployment, validateOnly: validateOnly)
    }

    /// Deploys (or merges) a blueprint value.
    public func deploy(_ blueprint: Blueprint, as deployment: String, validateOnly: Bool = false) async throws(VampClientError) {
        try await deploy(DSLWriter.json(.blueprint(blueprint), pretty: false), as: deployment, validateOnly: validateOnly)
    }

    /// Slices a deployment: the services of `document` (a blueprint) are undeployed.
    public func slice(_ deployment: String, document: String, validateOnly: Bool = false) async throws(VampClientError) {
        _ = try await send(.DELETE, "deployments/\(Self.path(deployment))", query: Self.validating(validateOnly), body: document)
    }

    /// Undeploys the whole deployment, or only the services whose breed is one of `services`.
    ///
    /// - Throws: ``VampClientError/Code-swift.struct/notFound`` when there is no such deployment or none of the
    ///   services is in it.
    public func undeploy(_ deployment: String, services: [String] = [], validateOnly: Bool = false) async throws(VampClientError) {
        guard let current = try await deploymentBlueprint(deployment) else {
            throw VampClientError(.notFound, status: 404, message: "deployment '\(deployment)' not found")
        }
        if services.isEmpty {
            try await slice(deployment, document: DSLWriter.json(.blueprint(current), pretty: false), validateOnly: validateOnly)
            return
        }
        var clusters: [String] = []
        var found: Set<String> = []
        for cluster in current.clusters {
            let names = cluster.services.map(\.breed.name).filter { services.contains($0) }
            found.formUnion(names)
            if !names.isEmpty { clusters.append("  \(Self.quoted(cluster.name)): {services: [\(names.map { "{breed: \(Self.quoted($0))}" }.joined(separator: ", "))]}") }
        }
        if let missing = services.first(where: { !found.contains($0) }) {
            throw VampClientError(.notFound, status: 404, message: "deployment '\(deployment)' has no service '\(missing)'")
        }
        let body = "name: \(Self.quoted(deployment))\nclusters:\n" + clusters.joined(separator: "\n") + "\n"
        try await slice(deployment, document: body, validateOnly: validateOnly)
    }

    // MARK: Gateways

    /// Every gateway.
    public func gateways() async throws(VampClientError) -> [Gateway] {
        try await list(.gateway).compactMap { if case .gateway(let g) = $0 { g } else { nil } }
    }

    /// A gateway, or `nil`.
    public func gateway(_ name: String) async throws(VampClientError) -> Gateway? {
        if case .gateway(let gateway)? = try await read(.gateway, name: name) { return gateway }
        return nil
    }

    /// Writes a gateway back (`PUT /gateways/{name}`): for a cluster's gateway, its routes' weights and conditions.
    @discardableResult
    public func updateGateway(_ gateway: Gateway, validateOnly: Bool = false) async throws(VampClientError) -> Gateway? {
        let written = try await update(.gateway, name: gateway.name, document: DSLWriter.json(.gateway(gateway), pretty: false), validateOnly: validateOnly)
        return written.lazy.compactMap { if case .gateway(let g) = $0 { g } else { nil } }.first
    }

    // MARK: Events

    /// The newest events carrying every one of `tags` (and of `type`, when given), newest first.
    public func events(tags: [String] = [], type: String? = nil, limit: Int = 30) async throws(VampClientError) -> [Event] {
        var query = tags.map { ("tag", $0) }
        if let type { query.append(("type", type)) }
        query.append(("per_page", String(max(1, min(30, limit)))))
        let answer = try await send(.GET, "events", query: query)
        do {
            return try DSLReader.events(answer.text)
        } catch {
            throw VampClientError(.invalidAnswer, status: answer.status, message: "the server's events do not read: \(error)")
        }
    }

    /// Publishes an event; returns it as stored (with its id).
    @discardableResult
    public func publish(_ event: Event) async throws(VampClientError) -> Event {
        let answer = try await send(.POST, "events", body: DSLWriter.json(.event(event), pretty: false))
        do {
            return try DSLReader.events(answer.text).first ?? event
        } catch {
            throw VampClientError(.invalidAnswer, status: answer.status, message: "the stored event does not read: \(error)")
        }
    }

    /// The events published from now on that carry every one of `tags` (and of `type`), live from
    /// `/events/stream` (server-sent events). The stream ends when the server closes it; cancel the iterating task
    /// to stop.
    public func eventStream(tags: [String] = [], type: String? = nil) -> AsyncThrowingStream<Event, any Error> {
        var query = tags.map { ("tag", $0) }
        if let type { query.append(("type", type)) }
        let request = makeRequest(.GET, "events/stream", query: query, body: nil)
        let http = self.http
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response: HTTPClientResponse
                    do {
                        response = try await http.execute(request, timeout: .hours(24 * 365))
                    } catch {
                        throw Self.connectionError(error, request.url)
                    }
                    guard response.status.code < 300 else {
                        let body = try await response.body.collect(upTo: 1 << 20)
                        throw Self.failure(status: Int(response.status.code), text: String(buffer: body))
                    }
                    var parser = ServerSentEvents()
                    for try await chunk in response.body {
                        for data in parser.feed(String(buffer: chunk)) {
                            if let event = try? DSLReader.events(data).first { continuation.yield(event) }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: System

    /// `GET /info`: the server's version, uuid and the state of its parts.
    public func info() async throws(VampClientError) -> [String: JSONValue] {
        let answer = try await send(.GET, "info")
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(answer.text.utf8)) else {
            throw VampClientError(.invalidAnswer, status: answer.status, message: "the server's info is not a JSON object")
        }
        return object
    }

    // MARK: Transport

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var text: String
    }

    func makeRequest(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: String?) -> HTTPClientRequest {
        var base = host.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        var url = base + "/api/v1" + (path.isEmpty ? "" : "/" + path)
        if !query.isEmpty {
            url += "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: Self.queryValue) ?? $0.1)" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-yaml")
            request.body = .bytes(ByteBuffer(string: body))
        }
        return request
    }

    /// `GET path`, or `nil` when the server answers 404 (a read by name of something that may not exist).
    func getIfFound(_ path: String, query: [(String, String)] = []) async throws(VampClientError) -> Answer? {
        do {
            return try await send(.GET, path, query: query)
        } catch where error.code == .notFound {
            return nil
        }
    }

    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: String? = nil) async throws(VampClientError) -> Answer {
        let request = makeRequest(method, path, query: query, body: body)
        let status: Int, headers: HTTPHeaders, text: String
        do {
            let response = try await http.execute(request, timeout: timeout)
            let collected = try await response.body.collect(upTo: 64 << 20)
            (status, headers, text) = (Int(response.status.code), response.headers, String(buffer: collected))
        } catch {
            throw Self.connectionError(error, request.url)
        }
        guard status < 300 else { throw Self.failure(status: status, text: text, method: method, path: path) }
        return Answer(status: status, headers: headers, text: text)
    }

    static func connectionError(_ error: any Error, _ url: String) -> VampClientError {
        if let error = error as? VampClientError { return error }
        let parsed = URL(string: url)
        let host = parsed.map { "\($0.host ?? "?"):\($0.port.map(String.init) ?? ($0.scheme == "https" ? "443" : "80"))" } ?? url
        let reason: String = switch error {
        case let error as HTTPClientError where error == .deadlineExceeded: "no answer in time"
        case _ where tlsProblem(error, scheme: parsed?.scheme) != nil: tlsProblem(error, scheme: parsed?.scheme) ?? ""
        case let error as HTTPClientError: "\(error)"
        default: "\(error)".contains("Connection refused") ? "connection refused (is vamp-server running?)" : "\(error)"
        }
        return VampClientError(.connection, message: "cannot reach vamp-server at \(host): \(reason)")
    }

    static func failure(status: Int, text: String, method: HTTPMethod? = nil, path: String? = nil) -> VampClientError {
        let code: VampClientError.Code = switch status {
        case 404: .notFound
        case 400..<500: .refused
        default: .server
        }
        var message = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], let text = object["message"] as? String {
            message = text
        }
        if message.isEmpty {
            message = status == 404 ? "not found: \(path.map { "/api/v1/\($0)" } ?? "")" : "the server answered \(status)"
        }
        return VampClientError(code, status: status, message: message)
    }

    static func decode(_ text: String, kind: ArtifactKind?, fallback: ArtifactKind? = nil) throws(VampClientError) -> [Artifact] {
        do {
            return try DSLReader.read(text, kind: kind ?? fallback).map(\.artifact)
        } catch {
            throw VampClientError(.invalidAnswer, message: "the server's answer does not read as \(kind?.rawValue ?? fallback?.rawValue ?? "artifacts"): \(error)")
        }
    }

    static func validating(_ validateOnly: Bool) -> [(String, String)] { validateOnly ? [("validate_only", "true")] : [] }

    /// A name in a path: gateways' names hold `/`, which stays; everything else a path cannot hold is encoded.
    static func path(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: pathSegment) ?? name
    }

    static let pathSegment: CharacterSet = {
        var set = CharacterSet.urlPathAllowed
        set.remove(charactersIn: "?#%")
        return set
    }()

    static let queryValue: CharacterSet = {
        var set = CharacterSet.urlQueryAllowed
        set.remove(charactersIn: "&=+#%")
        return set
    }()

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

extension Service {
    /// The breed's name, referenced or inline.
    var breedName: String { breed.name }
}

extension ArtifactReference where Artifact == Breed {
    /// The referenced name, or the inline breed's name.
    var name: String {
        switch self {
        case .reference(let name): name
        case .inline(let breed): breed.name
        }
    }
}

/// One client for the process: a refused connection is reported at once (no retries until the deadline), which is
/// what a CLI wants. Never shut down; it lives as long as the process.
private let sharedHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.timeout = .init(connect: .seconds(3))
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()
