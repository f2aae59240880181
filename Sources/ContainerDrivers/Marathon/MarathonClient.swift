import Foundation
import NIOHTTP1
import VampModel

/// The few Marathon REST API v2 calls the driver makes, over HTTP(S) with basic authentication or a DC/OS token
/// (through ``JSONHTTPClient``).
struct MarathonClient: Sendable {
    /// Marathon's address without a trailing slash (`http://marathon.mesos:8080`, `https://dcos/service/marathon`).
    let baseURL: String
    /// What the credentials are, for errors: `user 'vamp'`, `the DC/OS token`, `no credentials`.
    let credentials: String
    /// JSON over HTTP(S) to ``baseURL``, with the `Authorization` header.
    let http: JSONHTTPClient

    typealias Answer = JSONHTTPClient.Answer

    /// The client of the Marathon at `baseURL`; `authorization` is the `Authorization` header's value, if any.
    init(baseURL: String, authorization: String?, credentials: String, timeout: Duration) {
        self.baseURL = baseURL
        self.credentials = credentials
        var headers: HTTPHeaders = ["Accept": "application/json"]
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        self.http = JSONHTTPClient(endpoint: .url(baseURL), name: "Marathon at \(baseURL)", headers: headers, timeout: timeout) { method, path, answer in
            Self.failure(answer, method, path, baseURL: baseURL, credentials: credentials)
        }
    }

    /// The error of an answer that is not a success, quoting Marathon's message and details: 401 and 403 are
    /// permanent and name the credentials; 400 and 422 (an app definition Marathon refuses) are permanent; anything
    /// else (5xx, a 409 lock that stayed) is transient.
    func failure(_ answer: Answer, _ method: HTTPMethod, _ path: String) -> ContainerDriverError {
        http.failure(method, path, answer)
    }

    private static func failure(_ answer: Answer, _ method: HTTPMethod, _ path: String, baseURL: String, credentials: String) -> ContainerDriverError {
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
                "Marathon at \(baseURL): \(method) \(path) answered something that is not JSON: \(String(decoding: answer.body.prefix(200), as: UTF8.self))",
                cause: error)
        }
    }
}
