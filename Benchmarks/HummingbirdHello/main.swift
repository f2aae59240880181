// The ceiling for vamp-server's HTTP figures: a Hummingbird 2 server that answers a fixed JSON body, built in the
// same mode and measured in the same run by Scripts/bench-server. `hummingbird-hello <port>`.
import Hummingbird

let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8090
let router = Router()
router.get("hello") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"message":"hello"}"#)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
