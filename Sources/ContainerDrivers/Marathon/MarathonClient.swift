import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import VampModel

/// The few Marathon REST API v2 calls the driver makes, over HTTP(S) with basic authentication or a DC/OS token.
struct MarathonClient: Sendable {
    /// Marathon's address without a trailing slash (`http://marathon.mesos:8080`, `https://dcos/service/marathon`).
    let baseURL: String
    /// The `Authorization` header's value, if any.
    let authorization: String?
    /// What the credentials are, for errors: `user 'vamp'`, `the DC/OS token`, `no credentials`.
    let credentials: String
    /// The longest one call may take.
    let timeout: Duration

    /// One answer: its status and its whole body.
    struct Answer: Sendable {
        var status: Int
        var body: Data
    }

    /// `method` on `<baseURL><path>` with `query` and an optional JSON body; the whole answer, whatever its status.
    /// - Throws: A transient error when Marathon cannot be reached.
    func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: Data? = nil) async throws(ContainerDriverError) -> Answer {
        var url = baseURL + path
        if !query.isEmpty {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            url += "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            let body = try await response.body.collect(upTo: 64 << 20)
            return Answer(status: Int(response.status.code), body: Data(body.readableBytesView))
        } catch {
            throw ContainerDriverError("Marathon at \(baseURL) did not answer \(method) \(path): \(error)")
        }
    }

    /// Like ``call(_:_:query:json:)``, but a status outside 2xx (and not in `accepting`) is an error
    /// (``failure(_:_:_:)``).
    @discardableResult
    func expect(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: Data? = nil, accepting: Set<Int> = []
    ) async throws(ContainerDriverError) -> Answer {
        let answer = try await call(method, path, query: query, json: json)
        guard (200..<300).contains(answer.status) || accepting.contains(answer.status) else { throw failure(answer, method, path) }
        return answer
    }

    /// The error of an answer that is not a success, quoting Marathon's message and details: 401 and 403 are
    /// permanent and name the credentials; 400 and 422 (an app definition Marathon refuses) are permanent; anything
    /// else (5xx, a 409 lock that stayed) is transient.
    func failure(_ answer: Answer, _ method: HTTPMethod, _ path: String) -> ContainerDriverError {
        let message = MarathonPlan.errorMessage(answer.body)
        switch answer.status {
        case 401, 403:
            return ContainerDriverError(
                "Marathon at \(baseURL) refused \(credentials) (\(answer.status) on \(method) \(path)): \(message); "
                    + "check the driver's credentials (user and password, or DC/OS token)",
                permanent: true)
        case 400, 422:
            return ContainerDriverError("Marathon at \(baseURL) refused \(method) \(path) (\(answer.status)): \(message)", permanent: true)
        default:
            return ContainerDriverError("Marathon at \(baseURL): \(method) \(path) answered \(answer.status): \(message)")
        }
    }

    /// The answer's body as JSON.
    /// - Throws: A transient error naming the call when it is not JSON.
    func json(_ answer: Answer, _ method: HTTPMethod, _ path: String) throws(ContainerDriverError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: answer.body)
        } catch {
            throw ContainerDriverError(
                "Marathon at \(baseURL): \(method) \(path) answered something that is not JSON: \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
        }
    }
}
