public import VampModel

/// The escalations of Vamp 0.9.5 (`EscalationActor`, reference `sla-websocket-releases.md` §1) as a pure function:
/// a deployment, the cluster whose SLA event arrived, its SLA and the direction in; the scale changes out.
///
/// - The SLA's list of escalations acts as `to_one` when it has one element and as `to_all` when it has several.
/// - `to_one` tries its children in order (in reverse order when de-escalating); the first that changes something
///   wins. `to_all` applies every child in order, each seeing what the ones before it changed.
/// - `scale_instances`, `scale_cpu` and `scale_memory` (MB) add `scale_by` (escalate) or subtract it (de-escalate)
///   on the first deployed service of their `target` cluster (the SLA's own cluster by default), only if the result
///   stays within `minimum...maximum`; the bounds are never crossed.
/// - Any other type, and a reference to an escalation that is not stored, changes nothing and is reported.
///
/// One deliberate difference: the original folded `to_all` so that a child that changed nothing dropped what the
/// children before it had changed; here every change of every child is kept.
public enum EscalationPlanner {
    /// A new scale for one service.
    public struct ScaleChange: Sendable, Hashable, CustomStringConvertible {
        /// The cluster.
        public var cluster: String
        /// The service (its breed's name).
        public var service: String
        /// The scale before the change.
        public var from: Scale
        /// The scale after it.
        public var to: Scale
        /// The escalation's type (`scale_instances`, `scale_cpu`, `scale_memory`).
        public var escalation: String

        public var description: String {
            switch escalation {
            case "scale_cpu": "\(cluster)/\(service) cpu \(from.cpu) → \(to.cpu)"
            case "scale_memory": "\(cluster)/\(service) memory \(from.memory) → \(to.memory)"
            default: "\(cluster)/\(service) instances \(from.instances) → \(to.instances)"
            }
        }
    }

    /// What one SLA event does to a deployment.
    public struct Outcome: Sendable, Hashable {
        /// The changes, in the order they were made (a later change of the same service includes the earlier ones).
        public var changes: [ScaleChange] = []
        /// What changed nothing and why: an escalation at its bound, an unsupported type, a missing reference or
        /// target cluster.
        public var notes: [String] = []
    }

    /// How deep stored escalations may refer to one another (a stored group that names itself stops here).
    static let maximumDepth = 16

    // MARK: Deciding

    /// The scale changes an SLA event makes.
    ///
    /// - Parameters:
    ///   - direction: `escalate` or `deescalate`.
    ///   - cluster: the cluster the event names (the default target).
    ///   - deployment: the deployment as stored.
    ///   - sla: the cluster's SLA with its escalations (``resolvedSLA(of:stored:)``); references left in it change
    ///     nothing and are reported.
    public static func plan(_ direction: SLAPlanner.Direction, cluster: String, of deployment: Deployment, sla: SLA) -> Outcome {
        var state = State(deployment: deployment, cluster: cluster, escalate: direction == .escalate)
        let top = sla.escalations
        if top.count == 1 {
            _ = state.apply(top[0], depth: 0)
        } else if !top.isEmpty {
            _ = state.apply(.inline(Escalation(definition: .toAll(top))), depth: 0)
        }
        if top.isEmpty { state.outcome.notes.append("the SLA of cluster '\(cluster)' has no escalations") }
        return state.outcome
    }

    /// The SLA of a cluster with every reference resolved: a stored SLA by name, the escalations a cluster adds to a
    /// referenced SLA (`sla: {reference: x, escalations: [...]}`) after the stored ones, and stored escalations at
    /// every level of `to_all` and `to_one` groups. `nil` when the cluster has no SLA or names one that is not
    /// stored; an escalation that is not stored stays a reference.
    public static func resolvedSLA(of cluster: DeploymentCluster, stored: SLAPlanner.StoredSLAs) -> SLA? {
        var sla: SLA
        switch cluster.sla {
        case nil: return nil
        case .inline(let inline)?: sla = inline
        case .reference(let name)?:
            guard let found = stored.slas[name] else { return nil }
            sla = found
        }
        sla.escalations = (sla.escalations + cluster.slaEscalations).map { resolved($0, stored: stored, depth: 0) }
        return sla
    }

    static func resolved(_ reference: ArtifactReference<Escalation>, stored: SLAPlanner.StoredSLAs, depth: Int) -> ArtifactReference<Escalation> {
        guard depth < maximumDepth else { return reference }
        var escalation: Escalation
        switch reference {
        case .inline(let inline): escalation = inline
        case .reference(let name):
            guard let found = stored.escalations[name] else { return reference }
            escalation = found
        }
        switch escalation.definition {
        case .toAll(let children):
            escalation.definition = .toAll(children.map { resolved($0, stored: stored, depth: depth + 1) })
        case .toOne(let children):
            escalation.definition = .toOne(children.map { resolved($0, stored: stored, depth: depth + 1) })
        case .scaleInstances, .scaleCPU, .scaleMemory, .generic: break
        }
        return .inline(escalation)
    }

    // MARK: Applying

    /// The deployment as the escalations change it, and what they did.
    struct State {
        var deployment: Deployment
        let cluster: String
        let escalate: Bool
        var outcome = Outcome()

        /// Applies one escalation; true when it changed something.
        mutating func apply(_ reference: ArtifactReference<Escalation>, depth: Int) -> Bool {
            guard depth <= EscalationPlanner.maximumDepth, case .inline(let escalation) = reference else {
                let name = reference.referenceName ?? unresolvedName(reference)
                outcome.notes.append("the escalation '\(name)' is not stored (or is nested more than \(EscalationPlanner.maximumDepth) levels deep); it changes nothing")
                return false
            }
            let up = escalate
            switch escalation.definition {
            case .toAll(let children):
                var changed = false
                for child in children where apply(child, depth: depth + 1) { changed = true }
                return changed
            case .toOne(let children):
                for child in up ? children : Array(children.reversed()) where apply(child, depth: depth + 1) { return true }
                return false
            case .scaleInstances(let minimum, let maximum, let scaleBy, let target):
                return scale(target, type: escalation.type) { scale in
                    let instances = up ? scale.instances + scaleBy : scale.instances - scaleBy
                    guard instances >= minimum, instances <= maximum else {
                        return .refused("\(instances) instances would leave \(minimum)...\(maximum)")
                    }
                    var next = scale
                    next.instances = instances
                    return .next(next)
                }
            case .scaleCPU(let minimum, let maximum, let scaleBy, let target):
                return scale(target, type: escalation.type) { scale in
                    let cores = Self.rounded(up ? scale.cpu.cores + scaleBy : scale.cpu.cores - scaleBy)
                    guard cores >= minimum, cores <= maximum, let cpu = CPU(cores: cores) else {
                        return .refused("\(cores) cpu would leave \(minimum)...\(maximum)")
                    }
                    var next = scale
                    next.cpu = cpu
                    return .next(next)
                }
            case .scaleMemory(let minimum, let maximum, let scaleBy, let target):
                return scale(target, type: escalation.type) { scale in
                    let megabytes = Self.rounded(up ? scale.memory.megabytes + scaleBy : scale.memory.megabytes - scaleBy)
                    guard megabytes >= minimum, megabytes <= maximum, let memory = Memory(megabytes: megabytes) else {
                        return .refused("\(megabytes) MB would leave \(minimum)...\(maximum)")
                    }
                    var next = scale
                    next.memory = memory
                    return .next(next)
                }
            case .generic(let type, _):
                outcome.notes.append("escalation type '\(type)' is not supported; it changes nothing")
                return false
            }
        }

        /// The name to report for an escalation that could not be applied.
        func unresolvedName(_ reference: ArtifactReference<Escalation>) -> String {
            reference.inlineValue?.name ?? "(nested more than \(EscalationPlanner.maximumDepth) levels deep)"
        }

        /// Changes the scale of the first deployed service of `target` (the event's cluster by default).
        mutating func scale(_ target: String?, type: String, _ change: (Scale) -> Step) -> Bool {
            let name = target ?? cluster
            guard let c = deployment.clusters.firstIndex(where: { $0.name == name }) else {
                outcome.notes.append("\(type): deployment '\(deployment.name)' has no cluster '\(name)'; it changes nothing")
                return false
            }
            guard let s = deployment.clusters[c].services.firstIndex(where: { $0.status.intention == .deployment }) else {
                outcome.notes.append("\(type): cluster '\(name)' has no deployed service; it changes nothing")
                return false
            }
            let service = deployment.clusters[c].services[s]
            switch change(service.scale) {
            case .refused(let reason):
                outcome.notes.append("\(type) of \(name)/\(service.breed.name): \(reason); it changes nothing")
                return false
            case .next(let next):
                guard next != service.scale else { return false }
                deployment.clusters[c].services[s].scale = next
                outcome.changes.append(ScaleChange(cluster: name, service: service.breed.name, from: service.scale, to: next, escalation: type))
                return true
            }
        }

        /// A scale escalation's answer: the next scale, or why there is none.
        enum Step {
            case next(Scale)
            case refused(String)
        }

        /// Sums of cores or megabytes without binary noise (`0.1 + 0.2` is `0.3`, which a bound of 0.3 admits).
        static func rounded(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }
    }
}
