/// What a token may do. Each role from `read` on includes the ones before it: `write` may read, `command` may write,
/// `admin` may do everything. `agent` stands apart: it may only send a gateway agent's figures (`POST /pulse`).
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Only `POST /pulse`: what a separate `vamp-gateway-agent` needs to send its figures, and nothing else (not
    /// even reading).
    case agent
    /// Every `GET`, the event stream.
    case read
    /// Artifacts, deployments, gateways, workflows, events: every change that runs nothing new on a machine.
    case write
    /// `write`, and changes that run a `command` breed's command line on a machine (a breed, blueprint, deployment
    /// or workflow that introduces one).
    case command
    /// Everything: tokens, namespaces that are not open yet, and the configuration.
    case admin

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    /// What a request with this need is called in a refusal ("reading", "changing artifacts", ...).
    public var described: String {
        switch self {
        case .agent: "agent"
        case .read: "read"
        case .write: "write"
        case .command: "command (or admin)"
        case .admin: "admin"
        }
    }
}
