import Foundation
import HTTPTypes
public import Hummingbird
import Persistence
public import VampCore
import VampDSL
import VampModel

/// Settings of the HTTP API.
public struct VampAPIConfiguration: Sendable {
    /// The largest request body accepted; a larger one gets 413 with a message.
    public var maximumBodySize: Int
    /// The largest `per_page` (Vamp: 30); larger values are lowered to it.
    public var maximumPerPage: Int
    /// Time between two heartbeat comments on `/events/stream` (`vamp.http-api.sse.keep-alive-timeout`, 15 s).
    public var sseKeepAlive: Duration
    /// What `GET /info` reports beside the facade's own state.
    public var information: ServerInformation
    /// The effective settings `GET /config` shows, flat (`vamp.http-api.port` → `8080`); secrets left out.
    public var settings: [String: String]
    /// What `GET /vga/haproxy/<version>/template` shows: the base sections the agents put before the
    /// generated text.
    public var haproxyTemplate: String
    /// The HAProxy versions the marshaller serves under `/vga/haproxy/<version>/...`.
    public var haproxyVersions: [String]

    /// Creates a configuration with Vamp's defaults (and a 16 MiB body limit, the DSL reader's own limit).
    public init(
        maximumBodySize: Int = 16 << 20, maximumPerPage: Int = 30, sseKeepAlive: Duration = .seconds(15),
        information: ServerInformation = ServerInformation(), settings: [String: String] = [:],
        haproxyTemplate: String = "", haproxyVersions: [String] = ["2.6"]
    ) {
        self.maximumBodySize = maximumBodySize
        self.maximumPerPage = maximumPerPage
        self.sseKeepAlive = sseKeepAlive
        self.information = information
        self.settings = settings
        self.haproxyTemplate = haproxyTemplate
        self.haproxyVersions = haproxyVersions
    }
}

/// The routes of Vamp 0.9.5's REST API under `/api/v1`: artifacts, deployments, events, health and metrics, the
/// server's information and configuration. Holds no business rule: every decision is made by `VampCore`'s `Vamp` facade.
public enum VampHTTPAPI {
    /// A router serving `vamp` over HTTP at `/api/v1`, and other namespaces at `/<namespace>/api/v1` when a
    /// `directory` provides them (without one, only `defaultNamespace` is served there).
    public static func router(
        vamp: Vamp, namespaces directory: (any VampDirectory)? = nil, defaultNamespace: String = "vamp",
        configuration: VampAPIConfiguration = VampAPIConfiguration()
    ) -> Router<BasicRequestContext> {
        let router = Router()
        // Request counts and durations by route pattern (swift-metrics; the host picks the backend).
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: VampHeadersMiddleware())
        router.add(middleware: CORSMiddleware(
            allowOrigin: .all,
            allowHeaders: [.accept, .authorization, .contentType, .origin, .ifMatch, .ifNoneMatch],
            allowMethods: [.get, .post, .head, .options, .delete, .put],
            exposedHeaders: ["Link", "X-Total-Count", "ETag"],
            maxAge: .minutes(30)))
        let resolver = VampResolver(defaultVamp: vamp, defaultNamespace: defaultNamespace, directory: directory)
        for api in [router.group("api/v1"), router.group(":namespace/api/v1")] {
            OpenAPIDocument.addRoutes(to: api)
            register(on: api, resolver: resolver, configuration: configuration)
        }
        return router
    }

    static func register(on api: RouterGroup<BasicRequestContext>, resolver: VampResolver, configuration: VampAPIConfiguration) {
        typealias Handler = @Sendable (Vamp, Request, BasicRequestContext) async throws -> Response
        func on(_ body: @escaping Handler) -> @Sendable (Request, BasicRequestContext) async throws -> Response {
            { request, context in
                try await APIAnswer.run {
                    guard let vamp = try await resolver.vamp(context) else { return Response(status: .notFound) }
                    return try await body(vamp, request, context)
                }
            }
        }
        @Sendable func artifacts(_ vamp: Vamp) -> ArtifactHandlers { ArtifactHandlers(vamp: vamp, configuration: configuration) }
        @Sendable func events(_ vamp: Vamp) -> EventHandlers { EventHandlers(vamp: vamp, configuration: configuration) }
        @Sendable func system(_ vamp: Vamp) -> SystemHandlers { SystemHandlers(vamp: vamp, configuration: configuration) }
        @Sendable func deployments(_ vamp: Vamp) -> DeploymentHandlers { DeploymentHandlers(vamp: vamp, configuration: configuration) }

        api.get("deployments", use: on { vamp, request, context in try await deployments(vamp).list(request) })
        api.post("deployments", use: on { vamp, request, context in try await deployments(vamp).deploy(request, context) })
        api.get("deployments/:name", use: on { vamp, request, context in try await deployments(vamp).read(request, context) })
        api.put("deployments/:name", use: on { vamp, request, context in try await deployments(vamp).deploy(request, context) })
        api.delete("deployments/:name", use: on { vamp, request, context in try await deployments(vamp).slice(request, context) })
        let scale = "deployments/:name/clusters/:cluster/services/:service/scale"
        api.get(RouterPath(scale), use: on { vamp, request, context in try await deployments(vamp).scale(request, context) })
        api.put(RouterPath(scale), use: on { vamp, request, context in try await deployments(vamp).setScale(request, context) })
        let sla = "deployments/:name/clusters/:cluster/sla"
        api.get(RouterPath(sla), use: on { vamp, request, context in try await deployments(vamp).sla(request, context) })
        api.put(RouterPath(sla), use: on { vamp, request, context in try await deployments(vamp).setSLA(request, context, remove: false) })
        api.post(RouterPath(sla), use: on { vamp, request, context in try await deployments(vamp).setSLA(request, context, remove: false) })
        api.delete(RouterPath(sla), use: on { vamp, request, context in try await deployments(vamp).setSLA(request, context, remove: true) })

        api.get("events", use: on { vamp, request, context in try await events(vamp).list(request) })
        api.post("events", use: on { vamp, request, context in try await events(vamp).publish(request) })
        api.get("events/stream", use: on { vamp, request, context in try await events(vamp).stream(request) })
        api.get("health/**", use: on { vamp, request, context in try await system(vamp).health(context) })
        api.get("metrics/**", use: on { vamp, request, context in try await system(vamp).metric(context) })
        api.get("info", use: on { vamp, request, context in system(vamp).info(request) })
        api.get("config", use: on { vamp, request, context in system(vamp).config(request, key: nil) })
        api.get("config/**", use: on { vamp, request, context in system(vamp).config(request, key: SystemHandlers.path(context).joined(separator: ".")) })
        api.put("config", use: on { _, _, _ in SystemHandlers.readOnly("the configuration") })
        api.post("config", use: on { _, _, _ in SystemHandlers.readOnly("the configuration") })
        api.get("vga/:type/:version/configuration", use: on { vamp, request, context in try await system(vamp).vgaConfiguration(context) })
        api.get("vga/:type/:version/template", use: on { vamp, request, context in system(vamp).vgaTemplate(context) })
        api.put("vga/:type/:version/template", use: on { _, _, _ in SystemHandlers.readOnly("the HAProxy template") })
        api.post("vga/:type/:version/template", use: on { _, _, _ in SystemHandlers.readOnly("the HAProxy template") })
        api.post("docker-compose", use: on { vamp, request, context in try await system(vamp).dockerCompose(request) })

        api.post(use: on { vamp, request, context in try await artifacts(vamp).multiple(request, context, .post) })
        api.put(use: on { vamp, request, context in try await artifacts(vamp).multiple(request, context, .put) })
        api.delete(use: on { vamp, request, context in try await artifacts(vamp).multiple(request, context, .delete) })
        api.get(":kind", use: on { vamp, request, context in try await artifacts(vamp).list(request, context) })
        api.post(":kind", use: on { vamp, request, context in try await artifacts(vamp).create(request, context) })
        api.get(":kind/**", use: on { vamp, request, context in try await artifacts(vamp).read(request, context) })
        api.put(":kind/**", use: on { vamp, request, context in try await artifacts(vamp).update(request, context) })
        api.delete(":kind/**", use: on { vamp, request, context in try await artifacts(vamp).delete(request, context) })
    }
}

/// Where the API finds the facade of a namespace other than the default one (`/<namespace>/api/v1`). The host
/// decides what a namespace is made of (its own stores, its own KV key) and whether it may be created.
public protocol VampDirectory: Sendable {
    /// The namespace's facade, created on first use; `nil` when there is no such namespace and none may be
    /// created (the API answers 404).
    func vamp(namespace: String) async throws(OperationError) -> Vamp?
}

/// Picks the facade of a request: the default one for `/api/v1`, `/default/api/v1` and `/<default namespace>/api/v1`, the
/// directory's for other namespaces.
struct VampResolver: Sendable {
    let defaultVamp: Vamp
    let defaultNamespace: String
    let directory: (any VampDirectory)?

    func vamp(_ context: BasicRequestContext) async throws(OperationError) -> Vamp? {
        // `default` is Vamp 0.9.5's name of the default namespace in URLs; the configured name (`vamp`, as in the KV
        // layout `/vamp/vamp/...`) is the same namespace.
        guard let namespace = context.parameters.get("namespace"), namespace != defaultNamespace, namespace != "default" else { return defaultVamp }
        guard let directory else { return nil }
        return try await directory.vamp(namespace: namespace)
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` on every answer (§3.1).
struct VampHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            response = Response(status: .notFound)
        }
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("Pragma")!] = "no-cache"
        return response
    }
}

struct ArtifactHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    enum Method { case post, put, delete }

    // MARK: Single kinds

    func list(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let query = request.uri.queryParameters
        let perPage = min(configuration.maximumPerPage, max(1, query.get("per_page").flatMap { Int($0) } ?? configuration.maximumPerPage))
        // A page past 2^31 is past the end of any list; capping it keeps the store's offset from overflowing.
        let asked = PageRequest(page: min(1 << 31, query.get("page").flatMap { Int($0) } ?? 1), perPage: perPage)
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        if format == .json, !Self.flag(request, "expand_references"), !Self.flag(request, "only_references") {
            // The common case, answered from the stored JSON texts as they are (and from the read cache).
            return try await answer(request) {
                var page = try await vamp.listJSON(kind, page: asked)
                let shown = PagingLinks.clamped(asked, total: page.total)
                if shown != asked { page = try await vamp.listJSON(kind, page: shown) }
                let response = Response(status: .ok, headers: [.contentType: BodyFormat.json.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: page.json)))
                return Self.paged(response, request, shown: shown, total: page.total)
            }
        }
        return try await answer(request) {
            var page = try await vamp.list(kind, page: asked)
            let shown = PagingLinks.clamped(asked, total: page.total)
            if shown != asked { page = try await vamp.list(kind, page: shown) }
            var items: [StoredArtifact] = []
            for item in page.items { items.append(try await view(item, request)) }
            let response = try render(items, as: format, status: .ok)
            return Self.paged(response, request, shown: shown, total: page.total)
        }
    }

    /// `X-Total-Count` and `Link` (§3.2) on a list answer.
    static func paged(_ response: Response, _ request: Request, shown: PageRequest, total: Int) -> Response {
        var response = response
        response.headers[HTTPField.Name("X-Total-Count")!] = String(total)
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        response.headers[HTTPField.Name("Link")!] = PagingLinks.link(path: request.uri.path, query: parameters, page: shown, total: total)
        return response
    }

    func read(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        return try await answer(request) {
            guard let stored = try await vamp.read(kind, name: name) else { return Response(status: .notFound) }
            let artifact = try await view(stored, request)
            var response = try render(artifact, as: BodyFormat.ofResponse(accept: request.headers[.accept]), status: .ok)
            response.headers[.eTag] = Self.eTag(artifact.version)
            return response
        }
    }

    func create(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        return try await answer(request) {
            let (documents, text) = try await documents(request, kind: kind)
            let validateOnly = Self.flag(request, "validate_only")
            let stored = try await vamp.apply(documents, validateOnly: validateOnly, requestBody: text)
            return try written(stored, request, validateOnly: validateOnly, status: Self.accepted(kind) ? .accepted : .created)
        }
    }

    func update(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        return try await answer(request) {
            let (documents, text) = try await documents(request, kind: kind)
            let validateOnly = Self.flag(request, "validate_only")
            let version = try Self.ifMatch(request)
            let stored = try await vamp.apply(documents, expectedName: name, expectedVersion: version, validateOnly: validateOnly, requestBody: text)
            var response = try written(stored, request, validateOnly: validateOnly, status: Self.accepted(kind) ? .accepted : .ok)
            if !validateOnly, stored.count == 1 { response.headers[.eTag] = Self.eTag(stored[0].version) }
            return response
        }
    }

    func delete(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        return try await answer(request) {
            try await vamp.delete(kind, name: name, expectedVersion: try Self.ifMatch(request), validateOnly: Self.flag(request, "validate_only"))
            return Response(status: Self.accepted(kind) ? .accepted : .noContent)
        }
    }

    // MARK: Several kinds at /api/v1

    func multiple(_ request: Request, _ context: BasicRequestContext, _ method: Method) async throws -> Response {
        if method == .delete { return try await deleteMultiple(request) }
        return try await answer(request) {
            let (documents, text) = try await documents(request, kind: nil)
            let validateOnly = Self.flag(request, "validate_only")
            // `kind: deployment` documents go to create/merge, after the others.
            let isDeployment = { (document: DSLDocument) in document.isDeploymentRequest || document.artifact.kind == .deployment }
            let deployments = documents.filter(isDeployment), others = documents.filter { !isDeployment($0) }
            var stored = others.isEmpty ? [] : try await vamp.apply(others, validateOnly: validateOnly, requestBody: text)
            for document in deployments {
                stored.append(try await vamp.deploy(Self.deploymentRequest(document), name: document.artifact.name, validateOnly: validateOnly, requestBody: DSLWriter.yaml(document.artifact)))
            }
            return try written(stored, request, validateOnly: false, status: .accepted)
        }
    }

    /// `DELETE /api/v1`: of each document only the kind and name are read (cleanup scripts send short ones), except
    /// that a deployment's document says what to slice; the deployments are sliced after the others are deleted.
    func deleteMultiple(_ request: Request) async throws -> Response {
        try await answer(request) {
            guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
                throw OperationError(.invalid, "the request body is empty; send the artifacts to delete")
            }
            let deletions: [DSLDeletion]
            do {
                deletions = try DSLReader.deletions(text)
            } catch {
                throw OperationError(.invalid, "\(error)")
            }
            let validateOnly = Self.flag(request, "validate_only")
            let artifacts = deletions.compactMap { deletion -> (ArtifactKind, String)? in
                if case .artifact(let kind, let name) = deletion { (kind, name) } else { nil }
            }
            if !artifacts.isEmpty { try await vamp.delete(artifacts, validateOnly: validateOnly) }
            for case .deployment(let document) in deletions {
                try await vamp.slice(Self.deploymentRequest(document), name: document.artifact.name ?? "", validateOnly: validateOnly)
            }
            return Response(status: .accepted)
        }
    }

    static func deploymentRequest(_ document: DSLDocument) -> DeploymentRequest {
        switch document.artifact {
        case .blueprint(let blueprint): .blueprint(blueprint)
        case .deployment(let deployment): .blueprint(DeploymentPlanning.blueprint(of: deployment))
        default: .reference(document.artifact.name ?? "")
        }
    }

    // MARK: Support

    func kind(_ context: BasicRequestContext) throws -> ArtifactKind? {
        guard let text = context.parameters.get("kind"), let kind = ArtifactKind(name: text),
              Vamp.storedKinds.contains(kind), text.lowercased() == kind.plural else { return nil }
        return kind
    }

    static func name(_ context: BasicRequestContext) -> String {
        context.parameters.getCatchAll().map { String($0).removingPercentEncoding ?? String($0) }.joined(separator: "/")
    }

    static func flag(_ request: Request, _ name: String) -> Bool { request.uri.queryParameters.get(name)?.lowercased() == "true" }

    /// The artifact as `expand_references=true` (references to stored artifacts replaced by them) or
    /// `only_references=true` (named inline artifacts replaced by references) asks to see it.
    func view(_ stored: StoredArtifact, _ request: Request) async throws(OperationError) -> StoredArtifact {
        let expand = Self.flag(request, "expand_references"), only = Self.flag(request, "only_references")
        guard expand || only else { return stored }
        guard !(expand && only) else {
            throw OperationError(.invalid, "expand_references and only_references ask for opposite views; give one of them")
        }
        var artifact = try Self.artifact(stored)
        artifact = expand ? try await vamp.expandingReferences(artifact) : References.referencesOnly(artifact)
        var view = stored
        view.json = Data(DSLWriter.json(artifact, pretty: false).utf8)
        return view
    }

    static func accepted(_ kind: ArtifactKind) -> Bool { kind == .gateway || kind == .workflow }

    /// The version as an entity tag: `"3"`.
    static func eTag(_ version: Int64) -> String { "\"\(version)\"" }

    /// The version `If-Match` asks for; `nil` without the header or for `*`. A tag that is not one of ours can
    /// match no version: 412.
    static func ifMatch(_ request: Request) throws(OperationError) -> Int64? {
        guard let header = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces), !header.isEmpty, header != "*" else { return nil }
        var tag = Substring(header)
        if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
        if tag.hasPrefix("\""), tag.hasSuffix("\""), tag.count >= 2 { tag = tag.dropFirst().dropLast() }
        guard let version = Int64(tag), version > 0 else {
            throw OperationError(.preconditionFailed, "If-Match '\(header)' names no version of this artifact; send the ETag of a GET")
        }
        return version
    }

    func documents(_ request: Request, kind: ArtifactKind?) async throws(OperationError) -> ([DSLDocument], String) {
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send the artifact")
        }
        do {
            return (try DSLReader.read(text, kind: kind), text)
        } catch {
            throw OperationError(.invalid, error.description)
        }
    }

    func written(_ stored: [StoredArtifact], _ request: Request, validateOnly: Bool, status: HTTPResponse.Status) throws -> Response {
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        if validateOnly, stored.count == 1 { return try render(stored[0], as: format, status: status) }
        return try render(stored, as: format, status: status)
    }

    func answer(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        try await APIAnswer.run(body)
    }

    func render(_ artifact: StoredArtifact, as format: BodyFormat, status: HTTPResponse.Status) throws -> Response {
        switch format {
        case .json:
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: artifact.json)))
        case .yaml:
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: DSLWriter.yaml(try Self.artifact(artifact)))))
        }
    }

    func render(_ artifacts: [StoredArtifact], as format: BodyFormat, status: HTTPResponse.Status) throws -> Response {
        switch format {
        case .json:
            var buffer = ByteBuffer(string: "[")
            for (index, artifact) in artifacts.enumerated() {
                if index > 0 { buffer.writeString(",") }
                buffer.writeBytes(artifact.json)
            }
            buffer.writeString("]")
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: buffer))
        case .yaml:
            let values = try artifacts.map(Self.artifact)
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: DSLWriter.yaml(values))))
        }
    }

    static func artifact(_ stored: StoredArtifact) throws(OperationError) -> Artifact {
        guard let text = String(data: stored.json, encoding: .utf8), let document = try? DSLReader.read(text, kind: stored.kind).first else {
            throw OperationError(.unavailable, "the stored \(stored.kind) '\(stored.name)' cannot be read back; repair or delete it")
        }
        return document.artifact
    }
}
