import Foundation
import HTTPTypes
import Hummingbird
import VampCore

/// Reading request bodies the same way on every route: size limit, UTF-8, empty bodies.
enum RequestBody {
    /// The body as text; `nil` when it is empty (only white space). With `required`, a body needs a JSON or YAML
    /// `Content-Type` (Vamp's 400 "Only the following media types are supported"); otherwise the type is
    /// checked only when there is a body.
    static func text(_ request: Request, limit: Int, required: Bool) async throws(OperationError) -> String? {
        if required, BodyFormat.ofRequest(contentType: request.headers[.contentType]) == nil {
            throw OperationError(.invalid, BodyFormat.unsupportedMessage)
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw OperationError(.tooLarge, "the request body of \(length) bytes is larger than the limit of \(limit) bytes (vamp.http-api.max-body-size); send less")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw OperationError(.tooLarge, "the request body is larger than the limit of \(limit) bytes (vamp.http-api.max-body-size); send less")
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw OperationError(.invalid, "the request body is not valid UTF-8")
        }
        if text.allSatisfy(\.isWhitespace) { return nil }
        let format = BodyFormat.ofRequest(contentType: request.headers[.contentType])
        if !required, format == nil {
            throw OperationError(.invalid, BodyFormat.unsupportedMessage)
        }
        return format == .json ? JSONEscapes.joiningSurrogatePairs(text) : text
    }
}

/// Answers built the same way on every route.
enum APIAnswer {
    /// A JSON answer of a Foundation object (dictionary, array, number).
    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: BodyFormat.json.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A JSON answer of text that already is JSON.
    static func json(text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: BodyFormat.json.mediaType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A plain-text answer.
    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
