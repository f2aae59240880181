import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import VampTesting

/// A writer that changes other deployments and gateways while the server is being killed, and remembers what the
/// server acknowledged, so that the run can check that every acknowledged write is there afterwards.
///
/// Each key (`deployment dN`, which also covers its internal gateway `dN/web/web`, and `gateway gN`) holds what its last
/// acknowledged write promises. A write whose answer never came (the server was killed under it) may or may not have
/// been committed: the key is then uncertain until the next acknowledged write on it, and is not checked.
final class ChaosWriter: Sendable {
    /// What the last acknowledged write of a key promises.
    enum Promise: Sendable, Equatable {
        /// The deployment exists and has this service (`dN-sava:1.0`).
        case service(String)
        /// The deployment is gone once its services are undeployed.
        case deploymentGone
        /// The internal gateway `dN/web/web` routes with these weights (route path → percent).
        case weights([String: Int])
        /// The gateway exists on this port.
        case gateway(port: Int)
        /// The gateway is gone.
        case gatewayGone
    }

    struct State: Sendable {
        var promises: [String: Promise] = [:]
        var uncertain: Set<String> = []
        var acknowledged = 0
        var refused = 0
        var unanswered = 0
        var serverErrors: [String] = []
    }

    let state = Mutex(State())
    let api: String
    let gatewayPorts: [Int]
    let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(api: String, gatewayPorts: [Int], seed: UInt64) {
        self.api = api
        self.gatewayPorts = gatewayPorts
        let task = Task { [self] in
            var random = SeededRandom(seed: seed)
            while !Task.isCancelled {
                await step(&random)
                try? await Task.sleep(for: .milliseconds(Int.random(in: 20...150, using: &random)))
            }
        }
        self.task.withLock { $0 = task }
    }

    func stop() async {
        let task = self.task.withLock { $0 }
        task?.cancel()
        await task?.value
    }

    var snapshot: State { state.withLock { $0 } }

    static func blueprint(_ name: String, version: String) -> String {
        """
        name: \(name)
        clusters:
          web:
            services:
              - breed:
                  name: \(name)-sava:\(version)
                  deployable: {type: command, definition: "sava --text \(name):\(version)"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 1}
        """
    }

    /// One random write.
    func step(_ random: inout SeededRandom) async {
        let deployment = "d\(Int.random(in: 1...3, using: &random))"
        let roll = Int.random(in: 0..<100, using: &random)
        switch roll {
        case 0..<45:
            let version = Bool.random(using: &random) ? "1.0" : "1.1"
            await write("deployment \(deployment)", .PUT, "/deployments/\(deployment)", Self.blueprint(deployment, version: version),
                        promise: .service("\(deployment)-sava:\(version)"))
        case 45..<60:
            await write("deployment \(deployment)", .DELETE, "/deployments/\(deployment)", """
                name: \(deployment)
                clusters:
                  web:
                    services: [{breed: \(deployment)-sava:1.0}, {breed: \(deployment)-sava:1.1}]
                """, promise: .deploymentGone)
        case 60..<80:
            guard let (status, body) = try? await call(.GET, "/gateways/\(deployment)/web/web", nil), status == 200,
                  let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let port = object["port"] as? String, let routes = (object["routes"] as? [String: Any])?.keys.sorted(),
                  routes.count == 2
            else { return }
            let weight = [0, 10, 50, 90, 100].randomElement(using: &random)!
            let weights = [routes[0]: weight, routes[1]: 100 - weight]
            let yaml = "name: \(deployment)/web/web\nport: \(port)\nroutes:\n"
                + weights.sorted { $0.key < $1.key }.map { "  \($0.key): {weight: \($0.value)%}\n" }.joined()
            await write("deployment \(deployment)", .PUT, "/gateways/\(deployment)/web/web", yaml, promise: .weights(weights))
        case 80..<92:
            let index = Int.random(in: 0..<gatewayPorts.count, using: &random)
            let port = gatewayPorts[index]
            await write("gateway g\(index)", .PUT, "/gateways/g\(index)",
                        "name: g\(index)\nport: \(port)/http\nroutes:\n  \(deployment)/web/web: {weight: 100%}\n", promise: .gateway(port: port))
        default:
            let index = Int.random(in: 0..<gatewayPorts.count, using: &random)
            await write("gateway g\(index)", .DELETE, "/gateways/g\(index)", nil, promise: .gatewayGone)
        }
    }

    func write(_ key: String, _ method: HTTPMethod, _ path: String, _ yaml: String?, promise: Promise) async {
        do {
            let (status, body) = try await call(method, path, yaml)
            state.withLock { state in
                switch status {
                case 200..<300:
                    state.acknowledged += 1
                    state.promises[key] = promise
                    state.uncertain.remove(key)
                case 500...:
                    state.serverErrors.append("\(method) \(path): \(status) \(body.prefix(300))")
                default:
                    // Refused: nothing was changed, so what the key promised before still holds.
                    state.refused += 1
                }
            }
        } catch {
            // Refused connection: the request never reached a server, nothing changed.
            if "\(error)".contains("Connection refused") {
                state.withLock { $0.refused += 1 }
                return
            }
            // Killed under the request: it may or may not have been committed.
            state.withLock { state in
                state.unanswered += 1
                state.uncertain.insert(key)
            }
        }
    }

    func call(_ method: HTTPMethod, _ path: String, _ yaml: String?) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: api + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(VampServerFixture.adminToken)")
        request.headers.add(name: "Accept", value: "application/json")
        if let yaml {
            request.headers.add(name: "Content-Type", value: "application/x-yaml")
            request.body = .bytes(ByteBuffer(string: yaml))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), String(buffer: body))
    }
}
