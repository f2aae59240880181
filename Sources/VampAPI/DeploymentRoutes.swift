import Foundation
import Hummingbird
import Persistence
import VampCore
import VampDSL
import VampModel

/// `/deployments` (§3.3, §4): create and merge (`POST`, `PUT`), slice (`DELETE` with a body), read (`as_blueprint`),
/// and a cluster's scale and SLA. Every rule is the facade's.
struct DeploymentHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    var artifacts: ArtifactHandlers { ArtifactHandlers(vamp: vamp, configuration: configuration) }

    func list(_ request: Request) async throws -> Response {
        let asked = PageRequest.asked(by: request, maximumPerPage: configuration.maximumPerPage)
        var page = try await vamp.list(.deployment, page: asked)
        let shown = PagingLinks.clamped(asked, total: page.total)
        if shown != asked { page = try await vamp.list(.deployment, page: shown) }
        let items = try page.items.map { try view($0, request) }
        let response = try artifacts.render(items, as: BodyFormat.ofResponse(accept: request.headers[.accept]), status: .ok)
        return ArtifactHandlers.paged(response, request, shown: shown, total: page.total)
    }

    func read(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let stored = try await vamp.read(.deployment, name: name) else { return Response(status: .notFound) }
        var response = try artifacts.render(try view(stored, request), as: BodyFormat.ofResponse(accept: request.headers[.accept]), status: .ok)
        response.headers[.eTag] = ArtifactHandlers.eTag(stored.version)
        return response
    }

    /// `POST /deployments` (the blueprint's name) and `PUT /deployments/{name}`: 202 with the deployment in an array.
    func deploy(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let name = context.parameters.get("name")
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send a blueprint, a deployment or the name of a stored blueprint")
        }
        let validateOnly = ArtifactHandlers.flag(request, "validate_only")
        let stored = try await vamp.deploy(try DeploymentRequest.read(text), name: name, validateOnly: validateOnly, requestBody: text)
        return try await artifacts.written([stored], request, validateOnly: validateOnly, status: .accepted)
    }

    /// `DELETE /deployments/{name}`: the body lists what to take away; an empty body takes nothing.
    func slice(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: false) else {
            return Response(status: .accepted)
        }
        try await vamp.slice(try DeploymentRequest.read(text), name: name, validateOnly: ArtifactHandlers.flag(request, "validate_only"), requestBody: text)
        return Response(status: .accepted)
    }

    func scale(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let (name, cluster, service) = try (context.parameters.require("name"), context.parameters.require("cluster"), Self.service(context))
        guard let scale = try await vamp.scale(deployment: name, cluster: cluster, service: service) else { return Response(status: .notFound) }
        return try render(.scale(scale), request, status: .ok)
    }

    func setScale(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let (name, cluster, service) = try (context.parameters.require("name"), context.parameters.require("cluster"), Self.service(context))
        // What is not there is a 404 whatever the body says.
        guard try await vamp.scale(deployment: name, cluster: cluster, service: service) != nil else { return Response(status: .notFound) }
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send a scale ({cpu: 0.5, memory: 256MB, instances: 2}) or a scale's name")
        }
        let reference: ArtifactReference<Scale> = try Self.referenceOrInline(text, kind: .scale) {
            if case .scale(let scale) = $0 { scale } else { nil }
        }
        let validateOnly = ArtifactHandlers.flag(request, "validate_only")
        let scale = try await vamp.setScale(reference, deployment: name, cluster: cluster, service: service, validateOnly: validateOnly)
        return try render(.scale(scale), request, status: validateOnly ? .ok : .accepted)
    }

    func sla(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let (name, cluster) = try (context.parameters.require("name"), context.parameters.require("cluster"))
        guard let sla = try await vamp.sla(deployment: name, cluster: cluster) else { return Response(status: .notFound) }
        switch sla {
        case .inline(let sla): return try render(.sla(sla), request, status: .ok)
        case .reference(let reference): return APIAnswer.json(["reference": reference])
        }
    }

    func setSLA(_ request: Request, _ context: VampRequestContext, remove: Bool) async throws -> Response {
        let (name, cluster) = try (context.parameters.require("name"), context.parameters.require("cluster"))
        guard try await hasCluster(deployment: name, cluster: cluster) else { return Response(status: .notFound) }
        let validateOnly = ArtifactHandlers.flag(request, "validate_only")
        if remove {
            try await vamp.setSLA(nil, deployment: name, cluster: cluster, validateOnly: validateOnly)
            return Response(status: validateOnly ? .ok : .noContent)
        }
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send an SLA or an SLA's name")
        }
        let sla: ArtifactReference<SLA> = try Self.referenceOrInline(text, kind: .sla) {
            if case .sla(let sla) = $0 { sla } else { nil }
        }
        try await vamp.setSLA(sla, deployment: name, cluster: cluster, validateOnly: validateOnly)
        return Response(status: validateOnly ? .ok : .accepted)
    }

    // MARK: Support

    /// Whether the deployment exists and has the cluster: a write to what is not there is a 404 before its body is read.
    func hasCluster(deployment name: String, cluster: String) async throws -> Bool {
        guard let stored = try await vamp.read(.deployment, name: name), case .deployment(let deployment) = try vamp.artifact(stored) else { return false }
        return deployment.clusters.contains { $0.name == cluster }
    }

    /// A body that names a stored scale or SLA (one bare word) or holds one inline, read and validated as the
    /// artifact endpoints do (an SLA's thresholds in order, an escalation's bounds, a scale's limits).
    static func referenceOrInline<T>(
        _ text: String, kind: ArtifactKind, _ value: (Artifact) -> T?
    ) throws(OperationError) -> ArtifactReference<T> {
        if let name = DeploymentRequest.bareName(text) { return .reference(name) }
        do {
            guard let artifact = try DSLReader.load(named(text, kind.rawValue), kind: kind).first?.artifact, let found = value(artifact) else {
                throw OperationError(.invalid, "the body is not a \(kind.rawValue)")
            }
            return .inline(found)
        } catch let error as VampErrors {
            throw OperationError(.invalid, error.description, cause: error)
        } catch let error as OperationError {
            throw error
        } catch {
            throw OperationError(.invalid, "\(error)", cause: error)
        }
    }

    /// An inline scale or SLA as a stored one reads: with a name (`cluster` scales and SLAs have none of their own).
    static func named(_ text: String, _ name: String) throws(OperationError) -> String {
        let loaded: Any?
        do {
            loaded = try YAMLValues.load(text)
        } catch let refusal as YAMLValues.Refusal {
            throw OperationError(.invalid, "the \(name): \(refusal)", cause: refusal)
        } catch {
            throw OperationError(.invalid, "the body is neither JSON nor YAML: \(error)", cause: error)
        }
        guard var object = loaded as? [String: Any] else { throw OperationError(.invalid, "send a \(name) as an object, or a stored \(name)'s name") }
        if object["name"] == nil { object["name"] = name }
        guard let data = try? JSONSerialization.data(withJSONObject: object), let json = String(data: data, encoding: .utf8) else {
            throw OperationError(.invalid, "the \(name) cannot be read")
        }
        return json
    }

    /// A service's name is a breed name, which may hold `/`-free characters only, but clients percent-encode `:`.
    static func service(_ context: VampRequestContext) throws -> String {
        let raw = try context.parameters.require("service")
        return raw.removingPercentEncoding ?? raw
    }

    /// The deployment as stored, or with `as_blueprint=true` as the blueprint it makes.
    func view(_ stored: StoredArtifact, _ request: Request) throws(OperationError) -> StoredArtifact {
        guard ArtifactHandlers.flag(request, "as_blueprint") else { return stored }
        guard case .deployment(let deployment) = try vamp.artifact(stored) else { return stored }
        var view = stored
        view.kind = .blueprint
        view.json = Data(DSLWriter.json(.blueprint(DeploymentPlanning.blueprint(of: deployment)), pretty: false).utf8)
        return view
    }

    /// A cluster's scale or SLA, written straight from the value: it is anonymous, so it cannot be read back as a
    /// stored artifact (which needs a name) on the way to YAML.
    func render(_ artifact: Artifact, _ request: Request, status: HTTPResponse.Status) throws -> Response {
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        let text = format == .json ? DSLWriter.json(artifact, pretty: false) : DSLWriter.yaml(artifact)
        return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
