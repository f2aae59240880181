/// A service level agreement of a cluster, with escalations (reference §1.7).
public struct SLA: Sendable, Hashable {
    /// What the SLA measures.
    public enum Definition: Sendable, Hashable {
        /// Escalate when the response time over a window leaves `lower...upper` milliseconds.
        case responseTimeSlidingWindow(upper: Int, lower: Int, interval: Int, cooldown: Int)
        /// Only escalations, triggered by external `sla:escalate` events.
        case escalationOnly
        /// Any other type: kept with its parameters, not evaluated.
        case generic(type: String, parameters: [String: JSONValue])
    }

    /// Name when stored.
    public var name: String?
    /// The definition.
    public var definition: Definition
    /// Escalations (several are one `to_all` group).
    public var escalations: [ArtifactReference<Escalation>]

    /// Creates an SLA.
    public init(name: String? = nil, definition: Definition, escalations: [ArtifactReference<Escalation>] = []) {
        self.name = name
        self.definition = definition
        self.escalations = escalations
    }

    /// The type as written: `response_time_sliding_window`, `escalation_only` or the generic type.
    public var type: String {
        switch definition {
        case .responseTimeSlidingWindow: "response_time_sliding_window"
        case .escalationOnly: "escalation_only"
        case .generic(let type, _): type
        }
    }
}

/// What to do when an SLA escalates or de-escalates (reference §1.8).
public struct Escalation: Sendable, Hashable {
    /// The escalation's behaviour.
    public enum Definition: Sendable, Hashable {
        /// Scale the number of instances within `minimum...maximum` by `scaleBy`.
        case scaleInstances(minimum: Int, maximum: Int, scaleBy: Int, target: String?)
        /// Scale cpu within `minimum...maximum` cores by `scaleBy`.
        case scaleCPU(minimum: Double, maximum: Double, scaleBy: Double, target: String?)
        /// Scale memory within `minimum...maximum` MB by `scaleBy`.
        case scaleMemory(minimum: Double, maximum: Double, scaleBy: Double, target: String?)
        /// Apply every child in order.
        case toAll([ArtifactReference<Escalation>])
        /// Apply children in order until one changes something.
        case toOne([ArtifactReference<Escalation>])
        /// Any other type, kept with its parameters.
        case generic(type: String, parameters: [String: JSONValue])
    }

    /// Name when stored.
    public var name: String?
    /// The definition.
    public var definition: Definition

    /// Creates an escalation.
    public init(name: String? = nil, definition: Definition) {
        self.name = name
        self.definition = definition
    }

    /// The type as written.
    public var type: String {
        switch definition {
        case .scaleInstances: "scale_instances"
        case .scaleCPU: "scale_cpu"
        case .scaleMemory: "scale_memory"
        case .toAll: "to_all"
        case .toOne: "to_one"
        case .generic(let type, _): type
        }
    }
}
