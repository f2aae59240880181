import Foundation
import Logging
import Synchronization
import VampAccess

/// The tokens workflows get as `VAMP_API_TOKEN`: one per workflow, role `write` (what a workflow that shifts weights,
/// scales or posts events needs; never `command`), limited to its namespace, named `workflow.<namespace>.<name>`
/// (shortened with a digest when that is too long). The secret is kept in this server's memory only; after a restart
/// the token is made again (the old record revoked first).
final class WorkflowTokens: Sendable {
    private let registry = Mutex<TokenRegistry?>(nil)
    private let secrets = Mutex<[String: String]>([:])
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// The registry to make tokens in (nil: authentication is off, so workflows need none).
    func use(_ registry: TokenRegistry?) { self.registry.withLock { $0 = registry } }

    /// The token of `workflow` in `namespace`, made on first use.
    func token(workflow: String, namespace: String) async -> String? {
        guard let registry = registry.withLock({ $0 }) else { return nil }
        let name = Self.name(workflow: workflow, namespace: namespace)
        if let secret = secrets.withLock({ $0[name] }) { return secret }
        try? await registry.revoke(name: name)
        do {
            let (_, secret) = try await registry.create(
                name: name, role: .write, namespaces: [namespace], expires: nil, by: "workflow scheduler", at: Date())
            secrets.withLock { $0[name] = secret }
            return secret
        } catch {
            logger.warning("no token made for the workflow", metadata: ["vamp.workflow": "\(workflow)", "vamp.error": "\(error)"])
            return nil
        }
    }

    /// Revokes the token of a deleted workflow (here and, through the store, on the other servers).
    func forget(workflow: String, namespace: String) async {
        guard let registry = registry.withLock({ $0 }) else { return }
        let name = Self.name(workflow: workflow, namespace: namespace)
        secrets.withLock { $0[name] = nil }
        try? await registry.revoke(name: name)
    }

    static func name(workflow: String, namespace: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        let plain = "workflow.\(namespace).\(workflow)"
        if plain.count <= 64, plain.allSatisfy(allowed.contains) { return plain }
        let kept = String(workflow.filter(allowed.contains).prefix(30))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in plain.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "workflow.\(kept).\(String(hash, radix: 16))"
    }
}

/// What the server gives every namespace's workflow scheduler: the API's address as workflows reach it (known once
/// the API listens, for a port 0) and the workflows' tokens.
final class WorkflowHost: Sendable {
    let tokens: WorkflowTokens
    private let address = Mutex<String>("http://127.0.0.1:8080")
    /// `https` when the API is served over TLS.
    let scheme: String
    /// What workflows get as `VAMP_CA_FILE` (`vamp.http-api.tls.ca-file`).
    let caFile: String?

    init(interface: String, port: Int, tls: Bool = false, caFile: String? = nil, logger: Logger) {
        tokens = WorkflowTokens(logger: logger)
        scheme = tls ? "https" : "http"
        self.caFile = caFile
        setAddress(host: interface, port: port)
    }

    /// This server, as the workflows' lease names it: host, process and a random part (a restarted server is another).
    static let holder = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UInt32.random(in: 0...UInt32.max))"

    /// The API's URL (`http://127.0.0.1:8080`, `https://...` over TLS); a wildcard interface is reached on the loopback.
    var url: String { address.withLock { $0 } }

    func setAddress(host: String, port: Int) {
        let reachable = ["0.0.0.0", "::", "", "*"].contains(host) ? "127.0.0.1" : host
        let shown = reachable.contains(":") ? "[\(reachable)]" : reachable
        let url = "\(scheme)://\(shown):\(port)"
        address.withLock { $0 = url }
    }
}
