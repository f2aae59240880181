import HTTPTypes
import Hummingbird
import VampCore
import VampModel

/// 405 with `Allow` for a method a known path does not serve (RFC 9110 §15.5.6), instead of the router's 404:
/// `TRACE /api/v1/info` answers `405`, `Allow: GET`. `OPTIONS` answers 204 with the same `Allow` (a CORS
/// preflight is answered before it, by the CORS middleware).
///
/// Hummingbird's router answers 404 when the path matches but the method does not, and cannot list a path's
/// methods, so the paths are listed here, as ``VampHTTPAPI`` registers them; `MethodNotAllowedTests` checks
/// that every method listed is served and every other one is refused.
enum MethodNotAllowed {
    /// Every path under `/api/v1` (as registered) with the methods it serves, as `openapi.yaml` documents them.
    static let table: [(path: String, methods: [HTTPRequest.Method])] = [
        ("openapi.yaml", [.get]),
        ("openapi.json", [.get]),
        ("deployments", [.get, .post]),
        ("deployments/:name", [.get, .put, .delete]),
        ("deployments/:name/clusters/:cluster/services/:service/scale", [.get, .put]),
        ("deployments/:name/clusters/:cluster/sla", [.get, .put, .post, .delete]),
        ("events", [.get, .post]),
        ("events/stream", [.get]),
        ("health/**", [.get]),
        ("metrics/**", [.get]),
        ("pulse", [.post]),
        ("info", [.get]),
        ("config", [.get]),
        ("config/**", [.get]),
        ("vga/:type/:version/configuration", [.get]),
        ("vga/:type/:version/template", [.get]),
        ("docker-compose", [.post]),
        ("tokens", [.get, .post]),
        ("tokens/:name", [.get, .delete]),
        ("secrets", [.get, .post]),
        ("secrets/:name", [.get, .put, .delete]),
        ("", [.post, .put, .delete]),
        (":kind", [.get, .post]),
        (":kind/**", [.get, .put, .delete]),
    ]

    /// Why a path is read-only where Vamp 0.9.5 let it be changed (`PUT|POST /config`, `.../template`).
    static let notes: [String: String] = [
        "config": "; the configuration is read when the server starts (its file, VAMP_* variables, flags): change it there and restart",
        "vga/:type/:version/template": "; the HAProxy template is read when the server starts: change its file and restart",
    ]

    /// The methods a client may try that a path may not serve; `HEAD` is left to the router (404 today).
    static let refusable: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .trace, .options, HTTPRequest.Method("QUERY")!]

    /// `Allow`'s value: the methods in the order listed, `GET, PUT, DELETE`.
    static func allow(_ methods: [HTTPRequest.Method]) -> String { methods.map(\.rawValue).joined(separator: ", ") }

    /// 204 with `Allow` to `OPTIONS`, else 405 naming the methods there are.
    static func refusal(_ request: Request, allowed: String, note: String) -> Response {
        if request.method == .options { return Response(status: .noContent, headers: [.allow: allowed]) }
        var response = APIAnswer.json(["message": "\(request.method.rawValue) is not a method of \(request.uri.path); use \(allowed)\(note)"], status: .methodNotAllowed)
        response.headers[.allow] = allowed
        return response
    }

    /// Methods a path's own handler refuses where they do not apply: `POST :kind/**` serves a release's actions
    /// (`releases/{r}/abort`) and answers 405 with the table's `Allow` anywhere else.
    static let refusedByHandler: [String: [HTTPRequest.Method]] = [":kind/**": [.post]]

    static func addRoutes(to api: RouterGroup<VampRequestContext>, resolver: VampResolver) {
        for (path, methods) in table {
            let allowed = allow(methods)
            let note = notes[path] ?? ""
            for method in refusable where !methods.contains(method) && !(refusedByHandler[path]?.contains(method) ?? false) {
                api.on(RouterPath(path), method: method, use: { request, context in
                    // An unknown namespace or kind is nothing there: 404, as for the served methods.
                    guard try await resolver.vamp(context) != nil else { return Response(status: .notFound) }
                    if let kind = context.parameters.get("kind") {
                        guard let known = ArtifactKind(name: kind), Vamp.storedKinds.contains(known), kind.lowercased() == known.plural else {
                            return Response(status: .notFound)
                        }
                    }
                    if let (what, _) = WorkflowHandlers.subresource(context) {
                        return refusal(request, allowed: allow(WorkflowHandlers.methods(what)), note: "")
                    }
                    if ReleaseHandlers.action(context) != nil { return refusal(request, allowed: "POST", note: "") }
                    if request.method == .options { return Response(status: .noContent, headers: [.allow: allowed]) }
                    var response = APIAnswer.json(["message": "\(request.method.rawValue) is not a method of \(request.uri.path); use \(allowed)\(note)"], status: .methodNotAllowed)
                    response.headers[.allow] = allowed
                    return response
                })
            }
        }
    }
}
