import Foundation


/// One input: a text frame of the `/websocket` API (`{"api":"v1","path":"/deployments","action":"PEEK"}`, a list of
/// them, or the same in YAML).
///
/// Invariants beyond "does not crash": a frame yields at least one answer; a request's path stays under the API (a
/// leading `/`, no query, nothing `pathProblem` refuses) and so does its REST target; its answer, an event for it and
/// every error are JSON objects; and the request written back as a JSON frame reads as the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let results = WebSocketMessage.requests(in: text)
    check(!results.isEmpty, "no answer for the frame", text)
    for result in results {
        switch result {
        case .failure(let error):
            check(!error.message.isEmpty, "an error without a message", text)
            isObject(WebSocketMessage.error(error), "the error answer", text)
        case .success(let request):
            // Bytes, as the REST API reads them (a '/' and a combining mark after it are one character).
            let path = request.path.unicodeScalars
            check(path.first == "/" && !path.contains("?"), "the path \(request.path.debugDescription)", text)
            check(WebSocketMessage.pathProblem(request.path) == nil, "a path with a problem: \(request.path.debugDescription)", text)
            let segments = request.path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
            check(!segments.contains { $0.elementsEqual("..".utf8) || $0.elementsEqual(".".utf8) }, "a dot segment in \(request.path.debugDescription)", text)
            check(request.target(under: "/api/v1").utf8.starts(with: "/api/v1/".utf8), "the target \(request.target(under: "/api/v1"))", text)
            check(request.parameters.map(\.name) == request.parameters.map(\.name).sorted(), "parameters not sorted", text)
            isObject(WebSocketMessage.answer(to: request, status: 200, body: request.data ?? "", headers: ["X": "y"]), "the answer", text)
            isObject(WebSocketMessage.event("{}", for: request), "the event", text)
            rereads(request, text)
        }
    }
    return 0
}

/// The request as a client would send it: every field explicit, the parameters as an object of lists.
func rereads(_ request: WebSocketRequest, _ input: String) {
    var object: [String: Any] = [
        "api": "v1", "path": request.path, "action": request.action.rawValue, "accept": request.accept.rawValue,
        "content": request.content.rawValue,
    ]
    if let transaction = request.transaction { object["transaction"] = transaction }
    if let data = request.data { object["data"] = data }
    if !request.parameters.isEmpty {
        object["parameters"] = Dictionary(uniqueKeysWithValues: request.parameters.map { ($0.name, $0.values) })
    }
    guard let frame = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
        fail("the request cannot be written as JSON: \(request)", input)
    }
    let again = WebSocketMessage.requests(in: String(decoding: frame, as: UTF8.self))
    guard again.count == 1, case .success(let read) = again[0] else {
        fail("written back as \(String(decoding: frame, as: UTF8.self)) it reads as \(again)", input)
    }
    check(read == request, "written back it reads as \(read), not \(request)", input)
}

func isObject(_ json: String, _ what: String, _ input: String) {
    let value = try? JSONSerialization.jsonObject(with: Data(json.utf8))
    check(value is [String: Any] && json != "{}", "\(what) is not a JSON object: \(json)", input)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, _ input: String) {
    if !condition { fail(message(), input) }
}

func fail(_ message: String, _ input: String) -> Never {
    fatalError("invariant broken: \(message)\ninput: \(input.debugDescription)")
}
