import Testing
@testable import VampClient

@Suite("Server-sent events reading")
struct ServerSentEventsTests {
    @Test("events split across chunks, comments and CRLF")
    func chunks() {
        var parser = ServerSentEvents()
        #expect(parser.feed(": subscribed\n\nevent: ev") == [])
        #expect(parser.feed("ent\ndata: {\"tags\":[\"a\"]}\r\n") == [])
        #expect(parser.feed("\r\n: heartbeat\n\ndata: 1\ndata: 2\n\n") == ["{\"tags\":[\"a\"]}", "1\n2"])
    }

    @Test("a refusal is the user's error, a 5xx and a connection failure are not")
    func errorClasses() {
        #expect(VampClient.failure(status: 400, text: "{\"message\":\"bad\"}").isUserError)
        #expect(VampClient.failure(status: 400, text: "{\"message\":\"bad\"}").message == "bad")
        #expect(VampClient.failure(status: 404, text: "").code == .notFound)
        #expect(!VampClient.failure(status: 503, text: "{\"message\":\"store down\"}").isUserError)
    }
}
