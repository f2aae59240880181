import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import VampModel

/// The few Docker Engine API 1.41 calls the driver makes, over the engine's unix socket.
struct DockerEngineClient: Sendable {
    /// The engine's socket (`/var/run/docker.sock`).
    let socketPath: String
    /// The Vamp namespace whose containers ``list(_:)`` sees.
    let namespace: String

    /// One answer: its status and its whole body.
    struct Answer: Sendable {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// `method` on `/v1.41<path>` with `query`, extra `headers` and an optional JSON body; the whole answer, whatever its
    /// status.
    func call(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: Data? = nil, headers: [(String, String)] = [],
        timeout: Duration = .seconds(30)
    ) async throws(ContainerDriverError) -> Answer {
        var request = try request(path, query: query)
        request.method = method
        request.headers.add(name: "Host", value: "docker")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            let body = try await response.body.collect(upTo: 64 << 20)
            return Answer(status: Int(response.status.code), body: Data(body.readableBytesView))
        } catch {
            throw ContainerDriverError("the Docker engine at unix://\(socketPath) did not answer \(method) \(path): \(error)")
        }
    }

    /// A request for `/v1.41<path>?<query>` on the engine's socket.
    private func request(_ path: String, query: [(String, String)]) throws(ContainerDriverError) -> HTTPClientRequest {
        var uri = "/v1.41" + path
        if !query.isEmpty {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            uri += "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
                .joined(separator: "&")
        }
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: uri) else {
            throw ContainerDriverError("cannot address the Docker engine at unix://\(socketPath)", permanent: true)
        }
        return HTTPClientRequest(url: url.absoluteString)
    }

    /// `GET /events` with `filters`, streamed: `onLine` gets each event (one JSON object a line) as it comes. Returns
    /// after `onConnected` once the engine answered 200, when the engine ends the stream or the task is cancelled;
    /// throws when the engine cannot be reached or refuses.
    func events(
        filters: String, onConnected: @Sendable () async -> Void, onLine: @Sendable (Substring) async -> Void
    ) async throws(ContainerDriverError) {
        var request = try request("/events", query: [("filters", filters)])
        request.headers.add(name: "Host", value: "docker")
        do {
            let response = try await HTTPClient.shared.execute(request, deadline: .distantFuture)
            guard response.status == .ok else {
                let body = try await response.body.collect(upTo: 1 << 16)
                throw ContainerDriverError("Docker engine: GET /events answered \(response.status.code): \(String(buffer: body))")
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
            throw ContainerDriverError("the Docker engine's event stream at unix://\(socketPath) broke: \(error)")
        }
    }

    /// Like ``call(_:_:query:json:headers:timeout:)``, but a status outside 2xx (and not in `accepting`) is an error quoting the
    /// engine's `message`.
    @discardableResult
    func expect(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: Data? = nil, accepting: Set<Int> = [],
        timeout: Duration = .seconds(30)
    ) async throws(ContainerDriverError) -> Answer {
        let answer = try await call(method, path, query: query, json: json, timeout: timeout)
        guard (200..<300).contains(answer.status) || accepting.contains(answer.status) else {
            throw ContainerDriverError("Docker engine: \(method) \(path) answered \(answer.status): \(Self.message(answer))")
        }
        return answer
    }

    /// The engine's `{"message": ...}`, or the body as it is.
    static func message(_ answer: Answer) -> String {
        if let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any], let message = object["message"] as? String {
            return message
        }
        return answer.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One container of `GET /containers/json`: what the driver reads of it.
    struct Listed: Sendable {
        var container: DockerPlan.Container
        /// `State`: `created`, `running`, `exited`, `dead`, ...
        var state: String
        var labels: [String: String]
        /// Published host port by container port.
        var published: [Int: Int]
        /// The container's address on its first network, if it has one.
        var address: String?
    }

    /// Every owned container (all states) of `service`, or of every service when nil: a server-side label filter.
    func list(_ service: ServiceIdentity?) async throws(ContainerDriverError) -> [Listed] {
        let answer = try await expect(.GET, "/containers/json", query: [("all", "true"), ("filters", DockerPlan.filters(service, namespace: namespace))])
        guard let array = try? JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]] else {
            throw ContainerDriverError("Docker engine: unreadable container list: \(answer.text.prefix(200))")
        }
        return array.compactMap { object in
            guard let id = object["Id"] as? String, let labels = object["Labels"] as? [String: String],
                let container = DockerPlan.container(
                    id: id, labels: labels, state: object["State"] as? String ?? "", created: object["Created"] as? Int ?? 0)
            else { return nil }
            var published: [Int: Int] = [:]
            for port in object["Ports"] as? [[String: Any]] ?? [] {
                if let inside = port["PrivatePort"] as? Int, let outside = port["PublicPort"] as? Int, (port["IP"] as? String) != "::" {
                    published[inside] = outside
                }
            }
            let networks = (object["NetworkSettings"] as? [String: Any])?["Networks"] as? [String: [String: Any]] ?? [:]
            let address = networks.keys.sorted().compactMap { networks[$0]?["IPAddress"] as? String }.first { !$0.isEmpty }
            return Listed(container: container, state: object["State"] as? String ?? "", labels: labels, published: published, address: address)
        }
    }
}
