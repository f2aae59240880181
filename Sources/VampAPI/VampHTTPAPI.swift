import Foundation
import HTTPTypes
public import Hummingbird
import Persistence
public import VampAccess
public import VampCore
import VampDSL
import VampModel
public import VampWebUI

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
    /// The origins a browser page may call the API from (`vamp.http-api.cors.allowed-origins`); empty (the default):
    /// only pages of the server's own origin, and no CORS headers. `*` allows any origin (never with credentials).
    public var allowedOrigins: [String] = []
    /// Host names a request's `Host` may name besides IP addresses, `localhost` and the machine's name
    /// (`vamp.http-api.allowed-hosts`): exact, `*.example.com` for the names under a domain, or `*` for any (the
    /// check off). Others are refused with 421, against DNS rebinding.
    public var allowedHosts: [String] = []
    /// The connection-level limits of ``VampHTTPAPI/server(configuration:router:)``: read and idle timeouts, connections per client.
    public var connections = ConnectionLimits()
    /// Requests a second and event streams per token (``RateLimits``): by default no rate limit, 64 streams.
    public var rateLimits = RateLimits()
    /// The certificate of ``VampHTTPAPI/server(configuration:router:)``'s TLS (`vamp.http-api.tls.*`); `nil` (the
    /// default): plain HTTP.
    public var tls: APICertificate?
    /// The web UI served at `/` (`vamp.http-api.ui.*`): the copy compiled into the server by default, a folder for
    /// working on the UI, or `nil` for none.
    public var webUI: WebUIAssets? = .embedded

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
    /// `directory` provides them (without one, only `defaultNamespace` is served there). `access` says who may do
    /// what: there is no default, so that a host chooses ``APIAccess/open`` knowingly.
    public static func router(
        vamp: Vamp, namespaces directory: (any VampDirectory)? = nil, defaultNamespace: String = "vamp",
        access: APIAccess, configuration: VampAPIConfiguration = VampAPIConfiguration()
    ) -> Router<VampRequestContext> {
        let router = Router(context: VampRequestContext.self)
        // A refused WebSocket upgrade keeps its answer for the connection (hummingbird-websocket's own is an empty 400).
        router.add(middleware: UpgradeRefusalMiddleware())
        // Request counts and durations by route pattern (swift-metrics; the host picks the backend).
        router.add(middleware: MetricsMiddleware())
        // A foreign Host (DNS rebinding) and a foreign Origin are refused before anything else runs.
        router.add(middleware: HostCheckMiddleware(policy: HostPolicy(allowedHosts: configuration.allowedHosts)))
        router.add(middleware: OriginMiddleware(policy: OriginPolicy(allowedOrigins: configuration.allowedOrigins)))
        // The UI's page and files need no token: the page asks for one.
        if let webUI = configuration.webUI { router.add(middleware: WebUIMiddleware(assets: webUI)) }
        router.add(middleware: VampHeadersMiddleware())
        // Before any handler: 401 or 403 with a message, 429 over the rate of a token (or client), else the caller the facade sees.
        router.add(middleware: AccessMiddleware(access: access, defaultNamespace: defaultNamespace, limiter: RateLimiter(limits: configuration.rateLimits)))
        router.add(middleware: QueryParametersMiddleware())
        let resolver = VampResolver(defaultVamp: vamp, defaultNamespace: defaultNamespace, directory: directory)
        for api in [router.group("api/v1"), router.group(":namespace/api/v1")] {
            OpenAPIDocument.addRoutes(to: api)
            let tokens = TokenHandlers(access: access, limit: configuration.maximumBodySize)
            api.get("tokens") { _, _ in try await tokens.list() }
            api.post("tokens") { request, context in try await tokens.create(request, context) }
            api.get("tokens/:name") { _, context in try await tokens.read(context) }
            api.delete("tokens/:name") { _, context in try await tokens.revoke(context) }
            register(on: api, resolver: resolver, configuration: configuration)
            // 405 with Allow for the methods a path does not serve (PUT /config: set at start, not at run time).
            MethodNotAllowed.addRoutes(to: api, resolver: resolver)
        }
        // The original's WebSocket API answers through this router once it is complete.
        let webSocket = WebSocketAPI(maximumMessageSize: configuration.maximumBodySize)
        webSocket.addRoutes(to: router)
        webSocket.complete(with: router)
        return router
    }

    static func register(on api: RouterGroup<VampRequestContext>, resolver: VampResolver, configuration: VampAPIConfiguration) {
        typealias Handler = @Sendable (Vamp, Request, VampRequestContext) async throws -> Response
        func on(_ body: @escaping Handler) -> @Sendable (Request, VampRequestContext) async throws -> Response {
            { request, context in
                var context = context
                guard let vamp = try await resolver.vamp(context) else { return Response(status: .notFound) }
                context.vamp = vamp
                return try await body(vamp, request, context)
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

        @Sendable func workflows(_ vamp: Vamp) -> WorkflowHandlers { WorkflowHandlers(vamp: vamp, configuration: configuration) }
        api.get("events", use: on { vamp, request, context in try await events(vamp).list(request) })
        api.post("events", use: on { vamp, request, context in try await events(vamp).publish(request) })
        api.get("events/stream", use: on { vamp, request, context in try await events(vamp).stream(request, context) })
        api.get("health/**", use: on { vamp, request, context in try await system(vamp).health(context) })
        // With `?window=`, the figures of a gateway, route, deployment, cluster or service (Pulse); without, the
        // newest metrics event of Vamp 0.9.5's path (its last segment is the metric's name).
        api.get("metrics/**", use: on { vamp, request, context in
            request.uri.queryParameters["window"] == nil
                ? try await system(vamp).metric(context) : try await PulseHandlers(vamp: vamp, configuration: configuration).figures(request, context)
        })
        api.post("pulse", use: on { vamp, request, context in try await PulseHandlers(vamp: vamp, configuration: configuration).receive(request) })
        api.get("info", use: on { vamp, request, context in await system(vamp).info(request) })
        api.get("config", use: on { vamp, request, context in system(vamp).config(request, key: nil) })
        api.get("config/**", use: on { vamp, request, context in system(vamp).config(request, key: SystemHandlers.path(context).joined(separator: ".")) })
        api.get("vga/:type/:version/configuration", use: on { vamp, request, context in try await system(vamp).vgaConfiguration(context) })
        api.get("vga/:type/:version/template", use: on { vamp, request, context in system(vamp).vgaTemplate(context) })
        api.post("docker-compose", use: on { vamp, request, context in try await system(vamp).dockerCompose(request) })

        // Secrets before `:kind`: they are written and shown by their own handlers, never as stored JSON.
        @Sendable func secrets(_ vamp: Vamp) -> SecretHandlers { SecretHandlers(vamp: vamp, configuration: configuration) }
        api.get("secrets", use: on { vamp, request, context in try await secrets(vamp).list(request) })
        api.post("secrets", use: on { vamp, request, context in try await secrets(vamp).write(request, name: nil) })
        api.get("secrets/:name", use: on { vamp, request, context in try await secrets(vamp).read(context.parameters.get("name") ?? "") })
        api.put("secrets/:name", use: on { vamp, request, context in try await secrets(vamp).write(request, name: context.parameters.get("name") ?? "") })
        api.delete("secrets/:name", use: on { vamp, request, context in try await secrets(vamp).delete(request, name: context.parameters.get("name") ?? "") })

        api.post(use: on { vamp, request, context in try await artifacts(vamp).multiple(request, context, .post) })
        api.put(use: on { vamp, request, context in try await artifacts(vamp).multiple(request, context, .put) })
        api.delete(use: on { vamp, request, context in try await artifacts(vamp).multiple(request, context, .delete) })
        api.get(":kind", use: on { vamp, request, context in try await artifacts(vamp).list(request, context) })
        api.post(":kind", use: on { vamp, request, context in try await artifacts(vamp).create(request, context) })
        // `workflows/{w}/status` and `workflows/{w}/runs` here: a static `workflows/...` route would take every
        // `/workflows` request from `:kind` in the router's tree.
        api.get(":kind/**", use: on { vamp, request, context in
            if ReleaseHandlers.action(context) != nil { return MethodNotAllowed.refusal(request, allowed: "POST", note: "") }
            return switch WorkflowHandlers.subresource(context) {
            case ("status", let name)?: try await workflows(vamp).status(name)
            case ("runs", let name)?: try await workflows(vamp).runs(name)
            default: try await artifacts(vamp).read(request, context)
            }
        })
        api.put(":kind/**", use: on { vamp, request, context in
            if ReleaseHandlers.action(context) != nil { return MethodNotAllowed.refusal(request, allowed: "POST", note: "") }
            switch WorkflowHandlers.subresource(context) {
            case ("status", let name)?: return try await workflows(vamp).setStatus(request, name)
            case ("runs", _)?: return MethodNotAllowed.refusal(request, allowed: "GET", note: "")
            default: return try await artifacts(vamp).update(request, context)
            }
        })
        // `releases/{r}/pause|resume|approve|promote|abort`; other kinds have no POST below their names.
        api.post(":kind/**", use: on { vamp, request, context in
            if let (name, command) = ReleaseHandlers.action(context) {
                return try await ReleaseHandlers(vamp: vamp).act(request, name: name, command: command)
            }
            if let (_, word) = ReleaseHandlers.actionPath(context) { return ReleaseHandlers.unknownAction(word) }
            guard try artifacts(vamp).kind(context) != nil else { return Response(status: .notFound) }
            if let (what, _) = WorkflowHandlers.subresource(context) {
                return MethodNotAllowed.refusal(request, allowed: MethodNotAllowed.allow(WorkflowHandlers.methods(what)), note: "")
            }
            return MethodNotAllowed.refusal(request, allowed: MethodNotAllowed.allow([.get, .put, .delete]), note: "")
        })
        api.delete(":kind/**", use: on { vamp, request, context in
            if ReleaseHandlers.action(context) != nil { return MethodNotAllowed.refusal(request, allowed: "POST", note: "") }
            if let (what, _) = WorkflowHandlers.subresource(context) {
                return MethodNotAllowed.refusal(request, allowed: MethodNotAllowed.allow(WorkflowHandlers.methods(what)), note: "")
            }
            return try await artifacts(vamp).delete(request, context)
        })
    }
}

/// Where the API finds the facade of a namespace other than the default one (`/<namespace>/api/v1`). The host
/// decides what a namespace is made of (its own stores, its own KV key) and whether it may be created.
public protocol VampDirectory: Sendable {
    /// The namespace's facade, created on first use; `nil` when there is no such namespace and none may be
    /// created (the API answers 404). With `mayOpen` false (a token that is neither admin nor limited to the
    /// namespace), a namespace this server has not opened and has no state of is refused with `.forbidden`.
    func vamp(namespace: String, mayOpen: Bool) async throws(OperationError) -> Vamp?
}

/// Picks the facade of a request: the default one for `/api/v1`, `/default/api/v1` and `/<default namespace>/api/v1`, the
/// directory's for other namespaces.
struct VampResolver: Sendable {
    let defaultVamp: Vamp
    let defaultNamespace: String
    let directory: (any VampDirectory)?

    func vamp(_ context: VampRequestContext) async throws(OperationError) -> Vamp? {
        // `default` is Vamp 0.9.5's name of the default namespace in URLs; the configured name (`vamp`, as in the KV
        // layout `/vamp/vamp/...`) is the same namespace.
        guard let namespace = context.parameters.get("namespace"), namespace != defaultNamespace, namespace != "default" else { return defaultVamp }
        guard let directory else { return nil }
        let mayOpen = context.token.map { $0.role == .admin || $0.namespaces?.contains(namespace) == true } ?? true
        return try await directory.vamp(namespace: namespace, mayOpen: mayOpen)
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
        } catch let error as any HTTPResponseError {
            // Every refusal answers here, so that it carries the headers too.
            response = try error.response(from: request, context: context)
        }
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("Pragma")!] = "no-cache"
        return response
    }
}

