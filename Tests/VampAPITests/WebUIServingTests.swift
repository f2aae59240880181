import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Persistence
import Testing
import VampAccess
import VampAPI
import VampCore
import VampWebUI

/// The web UI as a browser gets it: the page and its files without a token, cache headers that keep the files for
/// good and the page never stale, the namespace's page, and the API still behind its tokens.
@Suite("Web UI: served by the API's server")
struct WebUIServingTests {
    func withServer(ui: WebUIAssets? = .embedded, _ body: @Sendable (_ port: Int) async throws -> Void) async throws {
        let store = InMemoryArtifactStore()
        let registry = TokenRegistry(store: store, configured: [AccessAPITests.configured(.read)], logger: Logger(label: "test"))
        var configuration = VampAPIConfiguration()
        configuration.webUI = ui
        let router = VampHTTPAPI.router(vamp: Vamp(artifacts: store), access: .tokens(registry), configuration: configuration)
        let app = Application(
            router: router, server: VampHTTPAPI.server(configuration: configuration, router: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await registry.run() }
            try await app.test(.live) { client in try await body(try #require(client.port)) }
            group.cancelAll()
        }
    }

    @Test("the page needs no token, is revalidated (ETag, 304), points at its version's files, and forbids other origins' content")
    func page() async throws {
        try await withServer { port in
            let page = try RawResponse.exchange(port: port, "GET", "/")
            #expect(page.status == 200)
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.headers["cache-control"] == "no-cache")
            #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
            #expect(page.headers["content-security-policy"]?.contains("script-src 'self';") == true, "no inline script")
            #expect(page.headers["x-frame-options"] == "DENY")
            #expect(page.body.contains("/ui/\(WebUIAssets.embedded.version)/"))
            let etag = try #require(page.headers["etag"])
            let again = try RawResponse.exchange(port: port, "GET", "/", headers: ["If-None-Match": etag])
            #expect(again.status == 304)
            #expect(again.body.isEmpty)
            // The namespace's page is the same page; without its slash a browser is sent to it.
            #expect(try RawResponse.exchange(port: port, "GET", "/shop/").body == page.body)
            let redirect = try RawResponse.exchange(port: port, "GET", "/shop", headers: ["Accept": "text/html"])
            #expect(redirect.status == 301)
            #expect(redirect.headers["location"] == "/shop/")
            // A foreign Host (DNS rebinding) gets no page either.
            #expect(try RawResponse.exchange(port: port, "GET", "/", host: "evil.example").status == 421)
        }
    }

    @Test("files of the server's version are kept for good; of another version, revalidated; unknown or outside, 404")
    func files() async throws {
        try await withServer { port in
            let version = WebUIAssets.embedded.version
            let script = try RawResponse.exchange(port: port, "GET", "/ui/\(version)/app.js")
            #expect(script.status == 200)
            #expect(script.headers["content-type"] == "text/javascript; charset=utf-8")
            #expect(script.headers["cache-control"] == "public, max-age=31536000, immutable")
            #expect(script.body == String(decoding: try #require(WebUIAssets.embedded.file("app.js")).contents, as: UTF8.self))
            let old = try RawResponse.exchange(port: port, "GET", "/ui/0123456789abcdef/app.js")
            #expect(old.status == 200)
            #expect(old.headers["cache-control"] == "no-cache")
            for path in ["/ui/\(version)/missing.js", "/ui/\(version)/index.html", "/ui/\(version)/%2e%2e/Package.swift", "/ui/\(version)/.hidden"] {
                #expect(try RawResponse.exchange(port: port, "GET", path).status == 404, "\(path)")
            }
        }
    }

    @Test("the API keeps its tokens; without the UI (vamp.http-api.ui.enabled false) there is no page")
    func apiUntouched() async throws {
        try await withServer { port in
            #expect(try RawResponse.exchange(port: port, "GET", "/api/v1/info").status == 401)
            #expect(try RawResponse.exchange(port: port, "GET", "/shop/api/v1/info").status == 401)
            #expect(try RawResponse.exchange(port: port, "POST", "/").status == 401, "only GET and HEAD are the UI's")
            let read = try RawResponse.exchange(port: port, "GET", "/api/v1/info", headers: ["Authorization": "Bearer \(AccessAPITests.secrets["read"]!)"])
            #expect(read.status == 200)
            #expect(read.headers["cache-control"] == "no-store")
        }
        try await withServer(ui: nil) { (port: Int) async throws in
            #expect(try RawResponse.exchange(port: port, "GET", "/").status == 401)
            #expect(try RawResponse.exchange(port: port, "GET", "/ui/\(WebUIAssets.embedded.version)/app.js").status == 401)
        }
    }
}
