import AsyncHTTPClient
import Foundation
import Hummingbird

// `sava --port N --text T [--upstream URL]`: answers T (and a newline) on every path; with `--upstream`, T then
// " -> " and what the upstream answered (a frontend reaching its backend). The example service of Examples/ and
// of the end-to-end tests. `--port` defaults to $PORT, `--text` to "sava", `--upstream` to $UPSTREAM.
let arguments = CommandLine.arguments
let environment = ProcessInfo.processInfo.environment
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
guard let port = Int(option("--port") ?? environment["PORT"] ?? "") else {
    print("usage: sava --port N [--text T] [--upstream URL]   (or PORT=N sava)")
    exit(1)
}
let text = option("--text") ?? "sava"
let upstream = option("--upstream") ?? environment["UPSTREAM"]

@Sendable func answer(_ request: Request, _ context: BasicRequestContext) async throws -> String {
    guard let upstream else { return text + "\n" }
    do {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: upstream), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return text + " -> " + String(buffer: body)
    } catch {
        throw HTTPError(.badGateway, message: "\(text): the upstream \(upstream) did not answer: \(error)")
    }
}
let router = Router()
router.get("**", use: answer)
router.get("/", use: answer)
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
