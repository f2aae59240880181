import Foundation
import HTTPTypes
import Hummingbird
import Persistence
import VampCore
import VampDSL
import VampModel

/// `/{kind}` and `/{kind}/{name}` of the stored kinds (§3.3): list, read, create, update, delete.
struct ArtifactHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    enum Method { case post, put, delete }

    // MARK: Single kinds

    func list(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let asked = PageRequest.asked(by: request, maximumPerPage: configuration.maximumPerPage)
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        if kind == .release {
            var page = try await vamp.list(kind, page: asked)
            let shown = PagingLinks.clamped(asked, total: page.total)
            if shown != asked { page = try await vamp.list(kind, page: shown) }
            let response = try await ReleaseHandlers(vamp: vamp).render(page.items, single: false, request: request, status: .ok)
            return Self.paged(response, request, shown: shown, total: page.total)
        }
        if format == .json, !Self.flag(request, "expand_references"), !Self.flag(request, "only_references") {
            // The common case, answered from the stored JSON texts as they are (and from the read cache).
            var page = try await vamp.listJSON(kind, page: asked)
            let shown = PagingLinks.clamped(asked, total: page.total)
            if shown != asked { page = try await vamp.listJSON(kind, page: shown) }
            let response = Response(status: .ok, headers: [.contentType: BodyFormat.json.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: page.json)))
            return Self.paged(response, request, shown: shown, total: page.total)
        }
        var page = try await vamp.list(kind, page: asked)
        let shown = PagingLinks.clamped(asked, total: page.total)
        if shown != asked { page = try await vamp.list(kind, page: shown) }
        var items: [StoredArtifact] = []
        for item in page.items { items.append(try await view(item, request)) }
        let response = try render(items, as: format, status: .ok)
        return Self.paged(response, request, shown: shown, total: page.total)
    }

    /// `X-Total-Count` and `Link` (§3.2) on a list answer.
    static func paged(_ response: Response, _ request: Request, shown: PageRequest, total: Int) -> Response {
        var response = response
        response.headers[HTTPField.Name("X-Total-Count")!] = String(total)
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        response.headers[HTTPField.Name("Link")!] = PagingLinks.link(path: request.uri.path, query: parameters, page: shown, total: total)
        return response
    }

    func read(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        guard let stored = try await vamp.read(kind, name: name) else { return Response(status: .notFound) }
        let artifact = try await view(stored, request)
        var response = kind == .release
            ? try await ReleaseHandlers(vamp: vamp).render([artifact], single: true, request: request, status: .ok)
            : try render(artifact, as: BodyFormat.ofResponse(accept: request.headers[.accept]), status: .ok)
        response.headers[.eTag] = Self.eTag(artifact.version)
        return response
    }

    func create(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let (documents, text) = try await documents(request, kind: kind)
        let validateOnly = Self.flag(request, "validate_only")
        let stored = try await vamp.apply(documents, validateOnly: validateOnly, requestBody: text)
        return try await written(stored, request, validateOnly: validateOnly, status: Self.accepted(kind) ? .accepted : .created)
    }

    func update(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        let (documents, text) = try await documents(request, kind: kind)
        let validateOnly = Self.flag(request, "validate_only")
        let version = try Self.ifMatch(request)
        let stored = try await vamp.apply(documents, intent: .replace, expectedName: name, expectedVersion: version, validateOnly: validateOnly, requestBody: text)
        var response = try await written(stored, request, validateOnly: validateOnly, status: Self.accepted(kind) ? .accepted : .ok)
        if !validateOnly, stored.count == 1 { response.headers[.eTag] = Self.eTag(stored[0].version) }
        return response
    }

    func delete(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        guard let kind = try kind(context) else { return Response(status: .notFound) }
        let name = Self.name(context)
        try await vamp.delete(kind, name: name, expectedVersion: try Self.ifMatch(request), validateOnly: Self.flag(request, "validate_only"))
        return Response(status: Self.accepted(kind) ? .accepted : .noContent)
    }

    // MARK: Support

    func kind(_ context: VampRequestContext) throws -> ArtifactKind? {
        guard let text = context.parameters.get("kind"), let kind = ArtifactKind(name: text),
              Vamp.storedKinds.contains(kind), text.lowercased() == kind.plural else { return nil }
        return kind
    }

    static func name(_ context: VampRequestContext) -> String {
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
        var artifact = try vamp.artifact(stored)
        artifact = expand ? try await vamp.expandingReferences(artifact) : References.referencesOnly(artifact)
        var view = stored
        view.json = Data(DSLWriter.json(artifact, pretty: false).utf8)
        return view
    }

    static func accepted(_ kind: ArtifactKind) -> Bool { kind == .gateway || kind == .workflow }

    /// The version as an entity tag: `"3"`.
    static func eTag(_ version: Int64) -> String { "\"\(version)\"" }

    /// The version `If-Match` asks for; `nil` without the header or for `*`. A header that is not one of our
    /// entity tags (`"3"`, weak `W/"3"`, or the bare `3` some clients send) is a 400; a tag of ours that names no
    /// version (`"0"`, more digits than a version has) can match nothing: 412.
    static func ifMatch(_ request: Request) throws(OperationError) -> Int64? {
        guard let header = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces), header != "*" else { return nil }
        var tag = Substring(header)
        if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
        if tag.count >= 2, tag.hasPrefix("\""), tag.hasSuffix("\"") { tag = tag.dropFirst().dropLast() }
        guard !tag.isEmpty, tag.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw OperationError(.invalid, "header If-Match '\(QueryParameters.shown(header))' is not an ETag of this API; send the ETag of a GET, e.g. If-Match: \"3\"")
        }
        guard let version = Int64(tag), version > 0 else {
            throw OperationError(.preconditionFailed, "If-Match '\(header)' names no version of this artifact; send the ETag of a GET")
        }
        return version
    }

    func documents(_ request: Request, kind: ArtifactKind?) async throws(OperationError) -> ([DSLDocument], String) {
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send the artifact")
        }
        let documents: [DSLDocument]
        do {
            documents = try DSLReader.read(text, kind: kind)
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }
        // `[]` is a body, but not an artifact: a write of nothing is a mistake worth saying.
        guard !documents.isEmpty else { throw OperationError(.invalid, "the request body holds no artifact; send at least one") }
        return (documents, text)
    }

    func written(_ stored: [StoredArtifact], _ request: Request, validateOnly: Bool, status: HTTPResponse.Status) async throws -> Response {
        if !validateOnly, !stored.isEmpty, stored.allSatisfy({ $0.kind == .release }) {
            return try await ReleaseHandlers(vamp: vamp).render(stored, single: false, request: request, status: status)
        }
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        if validateOnly, stored.count == 1 { return try render(stored[0], as: format, status: status) }
        return try render(stored, as: format, status: status)
    }

    func render(_ artifact: StoredArtifact, as format: BodyFormat, status: HTTPResponse.Status) throws -> Response {
        switch format {
        case .json:
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: artifact.json)))
        case .yaml:
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: DSLWriter.yaml(try vamp.artifact(artifact)))))
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
            let values = try artifacts.map { try vamp.artifact($0) }
            return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: DSLWriter.yaml(values))))
        }
    }
}
