import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
public import VampWebUI

/// Serves the web UI before the API's middleware asks for a token (the page asks for one itself):
///
/// - `GET /` and `GET /<namespace>/`: the page (`no-cache`, with an `ETag`, so a browser asks again and gets 304);
///   `/<namespace>` without the slash, asked for by a browser, is redirected to it;
/// - `GET /ui/<version>/<path>`: a file of the UI; of the server's own version, kept by browsers for a year
///   (`immutable`), since a new version has a new address; of another version (a page loaded before an upgrade),
///   the file as it is now, not to be kept.
///
/// Every answer carries a Content-Security-Policy that allows nothing from another origin and no inline script.
struct WebUIMiddleware<Context: RequestContext>: RouterMiddleware {
    let assets: WebUIAssets

    /// First path segments that are never a namespace's page.
    static var reserved: Set<String> { ["api", "ui", "websocket", "metrics", "health", "favicon.ico"] }

    static var securityHeaders: HTTPFields {
        [
            HTTPField.Name("Content-Security-Policy")!:
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
                + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            HTTPField.Name("X-Frame-Options")!: "DENY",
        ]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        // The API's requests pass at once: only GET and HEAD of `/`, `/ui/...` and `/<namespace>/` are the UI's.
        guard request.method == .get || request.method == .head, !path.hasPrefix("/api/"), !path.contains("/api/v1") else {
            return try await next(request, context)
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if segments.first == "ui", segments.count >= 3 {
            let file = segments.dropFirst(2).joined(separator: "/")
            guard let asset = assets.file(file), file != "index.html" else { return Response(status: .notFound) }
            let current = assets.isImmutable && segments[1] == assets.version
            return answer(asset, request, cache: current ? "public, max-age=31536000, immutable" : "no-cache")
        }
        if segments.isEmpty || (segments.count == 1 && path.hasSuffix("/") && Self.isNamespacePage(segments[0])) {
            guard let page = assets.page else { return try await next(request, context) }
            return answer(page, request, cache: "no-cache")
        }
        if segments.count == 1, !path.hasSuffix("/"), Self.isNamespacePage(segments[0]),
           request.headers[.accept]?.contains("text/html") == true {
            var response = Response(status: .movedPermanently)
            response.headers[.location] = "/\(segments[0])/"
            response.headers[.cacheControl] = "no-cache"
            return response
        }
        return try await next(request, context)
    }

    static func isNamespacePage(_ segment: String) -> Bool {
        !reserved.contains(segment) && segment.count <= 63
            && segment.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_") }
    }

    private func answer(_ file: WebUIFile, _ request: Request, cache: String) -> Response {
        var headers = Self.securityHeaders
        headers[.cacheControl] = cache
        headers[.eTag] = file.entityTag
        if let known = request.headers[.ifNoneMatch], known.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.entityTag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        headers[.contentLength] = String(file.contents.count)
        let body = request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: file.contents))
        return Response(status: .ok, headers: headers, body: body)
    }
}
