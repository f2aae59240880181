import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import VampModel

/// JSON over HTTP: the one client of the remote drivers, for the Docker engine (on its unix socket), the Kubernetes
/// API (HTTPS with the cluster's CA certificate) and Marathon (HTTP or HTTPS).
///
/// A call returns the whole answer whatever its status (``call(_:_:query:json:headers:timeout:)``), or throws when
/// the server cannot be reached; ``expect(_:_:query:json:headers:accepting:timeout:)`` also turns a status the caller
/// does not accept into the driver's own error (``failure``). Errors name the server (``name``), the method and the
/// path, and keep what went wrong underneath as their ``ContainerDriverError/cause``.
struct JSONHTTPClient: Sendable {
    /// Where the server listens.
    enum Endpoint: Sendable, Hashable {
        /// `http(s)://host[:port][/prefix]`, without a trailing slash; a call's path is appended.
        case url(String)
        /// A unix socket; a call's path is appended to `prefix` (`/v1.41`).
        case unixSocket(path: String, prefix: String)
    }

    /// One answer: its status and its whole body.
    struct Answer: Sendable {
        var status: Int
        var body: Data

        /// The body as text.
        var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as JSON, or `null` when it is not JSON.
        var json: JSONValue { (try? JSONDecoder().decode(JSONValue.self, from: body)) ?? .null }
        /// True for a 2xx status.
        var succeeded: Bool { (200..<300).contains(status) }
    }

    /// Where the server listens.
    let endpoint: Endpoint
    /// The server in error messages: `the Docker engine at unix:///var/run/docker.sock`, `Marathon at http://...`.
    let name: String
    /// The client the requests go through (its TLS configuration trusts the server's certificate).
    let client: HTTPClient
    /// Sent with every request (`Accept`, `Host`, `Authorization`).
    let headers: HTTPHeaders
    /// The longest one call may take unless it says otherwise.
    let timeout: Duration
    /// Added to the error of a failed TLS handshake: which setting to check. Such a failure is permanent.
    let tlsAdvice: String?
    /// The driver's error for an answer ``expect(_:_:query:json:headers:accepting:timeout:)`` does not accept: its
    /// method, path and the answer.
    let failure: @Sendable (HTTPMethod, String, Answer) -> ContainerDriverError

    /// Creates a client.
    init(
        endpoint: Endpoint, name: String, client: HTTPClient = .shared, headers: HTTPHeaders = [:], timeout: Duration = .seconds(30),
        tlsAdvice: String? = nil, failure: @escaping @Sendable (HTTPMethod, String, Answer) -> ContainerDriverError
    ) {
        self.endpoint = endpoint
        self.name = name
        self.client = client
        self.headers = headers
        self.timeout = timeout
        self.tlsAdvice = tlsAdvice
        self.failure = failure
    }

    /// `method` on `path` with `query`, `headers` besides the client's and an optional JSON body (keys sorted); the whole answer,
    /// whatever its status.
    /// - Throws: A transient ``ContainerDriverError`` when the server cannot be reached or does not answer within
    ///   `timeout` (the client's when nil); a permanent one when the TLS handshake fails or the body cannot be encoded.
    func call(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: JSONValue? = nil, headers: HTTPHeaders = [:],
        timeout: Duration? = nil
    ) async throws(ContainerDriverError) -> Answer {
        var request = try request(path, query: query)
        request.method = method
        request.headers.add(contentsOf: self.headers)
        request.headers.add(contentsOf: headers)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data: Data
            do {
                data = try encoder.encode(json)
            } catch {
                throw ContainerDriverError("cannot encode the body of \(method) \(path) for \(name): \(error)", permanent: true, cause: error)
            }
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        do {
            // NIO's conversion keeps the sub-seconds (to the nanosecond): a 1.5 s timeout is not 1 s.
            let response = try await client.execute(request, timeout: TimeAmount(timeout ?? self.timeout))
            let body = try await response.body.collect(upTo: 64 << 20)
            return Answer(status: Int(response.status.code), body: Data(body.readableBytesView))
        } catch {
            throw failed(method, path, error)
        }
    }

    /// Like ``call(_:_:query:json:headers:timeout:)``, but a status outside 2xx (and not in `accepting`) is the
    /// driver's error (``failure``).
    @discardableResult
    func expect(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: JSONValue? = nil, headers: HTTPHeaders = [:],
        accepting: Set<Int> = [], timeout: Duration? = nil
    ) async throws(ContainerDriverError) -> Answer {
        let answer = try await call(method, path, query: query, json: json, headers: headers, timeout: timeout)
        guard answer.succeeded || accepting.contains(answer.status) else { throw failure(method, path, answer) }
        return answer
    }

    /// `GET path` with its body streamed: `onChunk` gets the bytes as they come (a container's logs), so however long
    /// the body is, the caller decides what it keeps. A status other than 200 is the driver's error (``failure``).
    /// - Throws: A transient ``ContainerDriverError`` when the server cannot be reached, does not answer within
    ///   `timeout` (the client's when nil), or the body breaks off.
    func stream(
        _ path: String, query: [(String, String)] = [], timeout: Duration? = nil, onChunk: ([UInt8]) async -> Void
    ) async throws(ContainerDriverError) {
        var request = try request(path, query: query)
        request.headers.add(contentsOf: headers)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: TimeAmount(timeout ?? self.timeout))
        } catch {
            throw failed(.GET, path, error)
        }
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 1 << 16)).map { Data($0.readableBytesView) } ?? Data()
            throw failure(.GET, path, Answer(status: Int(response.status.code), body: body))
        }
        do {
            for try await chunk in response.body { await onChunk(Array(chunk.readableBytesView)) }
        } catch {
            throw failed(.GET, path, error)
        }
    }

    /// `GET path` as a stream of lines (the Docker engine's events, one JSON object a line): `onLine` gets each
    /// non-empty line as it comes, after `onConnected` once the server answered 200. Returns when the server ends the
    /// stream or the task is cancelled.
    /// - Throws: A transient ``ContainerDriverError`` when the server cannot be reached, refuses (another status), or
    ///   the stream breaks.
    func lines(
        _ path: String, query: [(String, String)] = [], onConnected: @Sendable () async -> Void, onLine: @Sendable (Substring) async -> Void
    ) async throws(ContainerDriverError) {
        var request = try request(path, query: query)
        request.headers.add(contentsOf: headers)
        do {
            let response = try await client.execute(request, deadline: .distantFuture)
            guard response.status == .ok else {
                let body = try await response.body.collect(upTo: 1 << 16)
                throw ContainerDriverError("\(name): GET \(path) answered \(response.status.code): \(String(buffer: body))")
            }
            await onConnected()
            var pending = ""
            for try await chunk in response.body {
                pending += String(buffer: chunk)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = pending[..<newline]
                    if !line.isEmpty { await onLine(line) }
                    pending = String(pending[pending.index(after: newline)...])
                }
            }
        } catch let error as ContainerDriverError {
            throw error
        } catch {
            if Task.isCancelled { return }
            throw ContainerDriverError("\(name): the stream of GET \(path) broke: \(error)", cause: error)
        }
    }

    /// The error of a call that got no answer: a failed TLS handshake is permanent (a setting to fix, not a retry).
    private func failed(_ method: HTTPMethod, _ path: String, _ error: any Error) -> ContainerDriverError {
        if error is NIOSSLError {
            return ContainerDriverError(
                "\(name) failed the TLS handshake (\(error))\(tlsAdvice.map { ": \($0)" } ?? "")", permanent: true, cause: error)
        }
        return ContainerDriverError("\(name) did not answer \(method) \(path): \(error)", cause: error)
    }

    /// The request for `path?query` at the endpoint.
    private func request(_ path: String, query: [(String, String)]) throws(ContainerDriverError) -> HTTPClientRequest {
        let target = path + Self.queryString(query)
        switch endpoint {
        case .url(let base):
            return HTTPClientRequest(url: base + target)
        case .unixSocket(let socket, let prefix):
            guard let url = URL(httpURLWithSocketPath: socket, uri: prefix + target) else {
                throw ContainerDriverError("cannot address \(name)", permanent: true)
            }
            return HTTPClientRequest(url: url.absoluteString)
        }
    }

    /// `?name=value&...` with each value percent-encoded (everything but unreserved characters), or "" for none.
    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }
}
