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

    /// Creates a configuration with Vamp's defaults (and a 16 MiB body limit, the DSL reader's own limit).
    public init(maximumBodySize: Int = 16 << 20, maximumPerPage: Int = 30) {
        self.maximumBodySize = maximumBodySize
        self.maximumPerPage = maximumPerPage
    }
}

/// The routes of Vamp 0.9.5's REST API under `/api/v1` (artifacts today; deployments, events and the rest come
/// with their issues). Holds no business rule: every decision is made by `VampCore`'s `Vamp` facade.
public enum VampHTTPAPI {
    /// A router serving `vamp` over HTTP.
    public static func router(vamp: Vamp, configuration: VampAPIConfiguration = VampAPIConfiguration()) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: VampHeadersMiddleware())
        router.add(middleware: CORSMiddleware(
            allowOrigin: .all,
            allowHeaders: [.accept, .authorization, .contentType, .origin, .ifMatch],
            allowMethods: [.get, .post, .head, .options, .delete, .put],
            exposedHeaders: ["Link", "X-Total-Count"],
            maxAge: .minutes(30)))
        let handlers = ArtifactHandlers(vamp: vamp, configuration: configuration)
        let api = router.group("api/v1")
        OpenAPIDocument.addRoutes(to: api)
        api.post { request, context in try await handlers.multiple(request, context, .post) }
        api.put { request, context in try await handlers.multiple(request, context, .put) }
        api.delete { request, context in try await handlers.multiple(request, context, .delete) }
        api.get(":kind") { request, context in try await handlers.list(request, context) }
        api.post(":kind") { request, context in try await handlers.create(request, context) }
        api.get(":kind/**") { request, context in try await handlers.read(request, context) }
        api.put(":kind/**") { request, context in try await handlers.update(request, context) }
        api.delete(":kind/**") { request, context in try await handlers.delete(request, context) }
        return router
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
        return try await answer(request) {
            var page = try await vamp.list(kind, page: asked)
            let shown = PagingLinks.clamped(asked, total: page.total)
            if shown != asked { page = try await vamp.list(kind, page: shown) }
            var response = try render(page.items, as: BodyFormat.ofResponse(accept: request.headers[.accept]), status: .ok)
            response.headers[HTTPField.Name("X-Total-Count")!] = String(page.total)
            let parameters = query.map { (String($0.key), String($0.value)) }
            response.headers[HTTPField.Name("Link")!] = PagingLinks.link(path: request.uri.path, query: parameters, page: shown, total: page.total)
            return response
        }
    }

    func read(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        return try await answer(request) {
            guard let artifact = try await vamp.read(kind, name: name) else { return Response(status: .notFound) }
            return try render(artifact, as: BodyFormat.ofResponse(accept: request.headers[.accept]), status: .ok)
        }
    }

    func create(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        return try await answer(request) {
            let documents = try await documents(request, kind: kind)
            let validateOnly = Self.flag(request, "validate_only")
            let stored = try await vamp.apply(documents, validateOnly: validateOnly)
            return try written(stored, request, validateOnly: validateOnly, status: Self.accepted(kind) ? .accepted : .created)
        }
    }

    func update(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        return try await answer(request) {
            let documents = try await documents(request, kind: kind)
            let validateOnly = Self.flag(request, "validate_only")
            let stored = try await vamp.apply(documents, expectedName: name, validateOnly: validateOnly)
            return try written(stored, request, validateOnly: validateOnly, status: Self.accepted(kind) ? .accepted : .ok)
        }
    }

    func delete(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        return try await answer(request) {
            try await vamp.delete(kind, name: name, validateOnly: Self.flag(request, "validate_only"))
            return Response(status: Self.accepted(kind) ? .accepted : .noContent)
        }
    }

    // MARK: Several kinds at /api/v1

    func multiple(_ request: Request, _ context: BasicRequestContext, _ method: Method) async throws -> Response {
        try await answer(request) {
            let documents = try await documents(request, kind: nil)
            let validateOnly = Self.flag(request, "validate_only")
            switch method {
            case .post, .put:
                let stored = try await vamp.apply(documents, validateOnly: validateOnly)
                return try written(stored, request, validateOnly: false, status: .accepted)
            case .delete:
                for document in documents {
                    try await vamp.delete(document.artifact.kind, name: document.artifact.name ?? "", validateOnly: validateOnly)
                }
                return Response(status: .accepted)
            }
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

    static func accepted(_ kind: ArtifactKind) -> Bool { kind == .gateway || kind == .workflow }

    func documents(_ request: Request, kind: ArtifactKind?) async throws(OperationError) -> [DSLDocument] {
        guard BodyFormat.ofRequest(contentType: request.headers[.contentType]) != nil else {
            throw OperationError(.invalid, BodyFormat.unsupportedMessage)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: configuration.maximumBodySize)
        } catch {
            throw OperationError(.tooLarge, "the request body is larger than the limit of \(configuration.maximumBodySize) bytes")
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw OperationError(.invalid, "the request body is not valid UTF-8")
        }
        guard !text.allSatisfy(\.isWhitespace) else { throw OperationError(.invalid, "the request body is empty; send the artifact") }
        do {
            return try DSLReader.read(text, kind: kind)
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
        do {
            return try await body()
        } catch let error as OperationError {
            return Self.response(error)
        }
    }

    static func response(_ error: OperationError) -> Response {
        let status: HTTPResponse.Status = switch error.code {
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        default: .badRequest
        }
        if status == .notFound { return Response(status: .notFound) }
        let body = (try? JSONSerialization.data(withJSONObject: ["message": error.message], options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: BodyFormat.json.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
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
