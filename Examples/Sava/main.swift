import AsyncHTTPClient
import Foundation
import Hummingbird

// `sava --port N --text T [--upstream URL] [--delay-file F]`: answers T (and a newline) on every path; with
// `--upstream`, T then " -> " and what the upstream answered (a frontend reaching its backend). The example service
// of Examples/ and of the end-to-end tests. `--port` defaults to $PORT, `--text` to "sava", `--upstream` to
// $UPSTREAM, `--delay-file` to $DELAY_FILE.
//
// For tests of what the gateways measure, a request may ask for its own answer: `?delay=25` answers after 25 ms,
// `?status=503` with that status (100-599); and the file of `--delay-file`, when it holds a number of milliseconds,
// delays every answer by it (a service that turns slow, for every instance at once). A bad version for release
// tests: `--errors 0.2` answers 500 to a fifth of the requests at random, `--delay 50` answers every request 50 ms
// later.
let arguments = CommandLine.arguments
let environment = ProcessInfo.processInfo.environment
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
guard let port = Int(option("--port") ?? environment["PORT"] ?? "") else {
    print("usage: sava --port N [--text T] [--upstream URL] [--delay-file F] [--errors SHARE] [--delay MS]   (or PORT=N sava)")
    exit(1)
}
let text = option("--text") ?? "sava"
let upstream = option("--upstream") ?? environment["UPSTREAM"]
let delayFile = option("--delay-file") ?? environment["DELAY_FILE"]
let errorShare = option("--errors").flatMap(Double.init) ?? 0
let fixedDelay = option("--delay").flatMap(Int.init) ?? 0

@Sendable func answer(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    var delay = (request.uri.queryParameters["delay"].flatMap { Int($0) } ?? 0) + fixedDelay
    if let delayFile, let written = try? String(contentsOfFile: delayFile, encoding: .utf8), let extra = Int(written.trimmingCharacters(in: .whitespacesAndNewlines)) {
        delay += extra
    }
    if delay > 0 { try await Task.sleep(for: .milliseconds(min(delay, 60_000))) }
    var status = request.uri.queryParameters["status"].flatMap { Int($0) }.flatMap { (100...599).contains($0) ? $0 : nil } ?? 200
    if errorShare > 0, Double.random(in: 0..<1) < errorShare { status = 500 }
    var body = text + "\n"
    if let upstream {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: upstream), timeout: .seconds(5))
            body = text + " -> " + String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw HTTPError(.badGateway, message: "\(text): the upstream \(upstream) did not answer: \(error)")
        }
    }
    return Response(status: .init(code: status), headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
}
let router = Router()
router.get("**", use: answer)
router.get("/", use: answer)
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
