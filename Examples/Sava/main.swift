import Foundation
import Hummingbird

// `sava --port N --text T`: answers T (and a newline) on every path; the example service of Examples/ and of the
// end-to-end tests. `--port` defaults to $PORT, `--text` to "sava".
let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
guard let port = Int(option("--port") ?? ProcessInfo.processInfo.environment["PORT"] ?? "") else {
    print("usage: sava --port N [--text T]   (or PORT=N sava)")
    exit(1)
}
let text = (option("--text") ?? "sava") + "\n"
let router = Router()
router.get("**") { _, _ in text }
router.get("/") { _, _ in text }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
