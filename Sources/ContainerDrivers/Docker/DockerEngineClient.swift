import Foundation
import NIOHTTP1
import VampModel

/// The few Docker Engine API 1.41 calls the driver makes, over the engine's unix socket (through ``JSONHTTPClient``).
struct DockerEngineClient: Sendable {
    /// The engine's socket (`/var/run/docker.sock`).
    let socketPath: String
    /// The Vamp namespace whose containers ``list(_:)`` sees.
    let namespace: String
    /// JSON over HTTP on the socket, `/v1.41` before every path.
    let http: JSONHTTPClient

    /// The client of the engine on `socketPath`.
    init(socketPath: String, namespace: String) {
        self.socketPath = socketPath
        self.namespace = namespace
        self.http = JSONHTTPClient(
            endpoint: .unixSocket(path: socketPath, prefix: "/v1.41"), name: "the Docker engine at unix://\(socketPath)",
            headers: ["Host": "docker"]
        ) { method, path, answer in
            ContainerDriverError("Docker engine: \(method) \(path) answered \(answer.status): \(Self.message(answer))")
        }
    }

    /// `GET /events` with `filters`, streamed: `onLine` gets each event (one JSON object a line) as it comes. Returns
    /// after `onConnected` once the engine answered 200, when the engine ends the stream or the task is cancelled;
    /// throws when the engine cannot be reached or refuses.
    func events(
        filters: String, onConnected: @Sendable () async -> Void, onLine: @Sendable (Substring) async -> Void
    ) async throws(ContainerDriverError) {
        try await http.lines("/events", query: [("filters", filters)], onConnected: onConnected, onLine: onLine)
    }

    /// The engine's `{"message": ...}`, or the body as it is.
    static func message(_ answer: JSONHTTPClient.Answer) -> String {
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
        let answer = try await http.expect(.GET, "/containers/json", query: [("all", "true"), ("filters", DockerPlan.filters(service, namespace: namespace))])
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
