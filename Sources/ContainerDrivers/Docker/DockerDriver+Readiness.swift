import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import VampConcurrency
import VampModel

/// How ``DockerDriver`` tells that a container's instance is ready: its health checks, or an open port.
extension DockerDriver {
    // MARK: - Readiness

    /// Every owned container's id, state and readiness: it changes when anything the reconciler cares about does.
    static func fingerprint(_ engine: DockerEngineClient) async throws(ContainerDriverError) -> [String] {
        var seen: [String] = []
        for entry in try await engine.list(nil).sorted(by: { $0.container.id < $1.container.id }) {
            let up = entry.container.running ? await isUp(entry, ports: DockerPlan.portNames(entry.labels), checks: []) : false
            seen.append("\(entry.container.id) \(entry.container.running) \(up)")
        }
        return seen
    }

    /// Up: it runs and each HTTP check passes, or without checks each port accepts a connection, on the container's
    /// address (the published host port when it has none).
    static func isUp(_ entry: DockerEngineClient.Listed, ports: [String: Int], checks: [HealthCheck]) async -> Bool {
        guard entry.container.running else { return false }
        func target(_ number: Int) -> (String, Int)? {
            if let address = entry.address { return (address, number) }
            return entry.published[number].map { ("127.0.0.1", $0) }
        }
        if checks.isEmpty {
            for number in ports.values.sorted() {
                guard let (host, port) = target(number), await accepts(host: host, port: port) else { return false }
            }
            return true
        }
        for check in checks {
            guard let number = ports[check.port], let (host, port) = target(number) else { return false }
            let path = check.path.hasPrefix("/") ? check.path : "/" + check.path
            let request = HTTPClientRequest(url: "\(check.protocol == .https ? "https" : "http")://\(host):\(port)\(path)")
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(max(1, check.timeout.seconds))))
                _ = try await response.body.collect(upTo: 1 << 20)
                guard (200..<400).contains(Int(response.status.code)) else { return false }
            } catch {
                return false
            }
        }
        return true
    }

    /// The longest a TCP probe waits. The engine is on this machine: a container's address answers a connect at once
    /// (accepted, or refused while nothing listens), so only an address whose container just went away makes the
    /// probe wait, and a pass of ``services()`` should not wait long for it.
    static let probeTimeout: TimeAmount = .milliseconds(250)

    static func accepts(host: String, port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(probeTimeout).connect(host: host, port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
