public import Foundation
public import VampModel

/// The SLA check of Vamp 0.9.5 (`SlaActor`, reference `sla-websocket-releases.md` §1), as a pure function of the
/// deployments, the response times measured, the recent SLA events and the clock's `now`. The ``SLAMonitor`` asks
/// the gateways for the response times ``measurements(deployments:stored:events:now:)`` lists, then publishes the
/// events ``plan(deployments:stored:responseTimes:events:now:)`` returns.
///
/// For each cluster with a `response_time_sliding_window` SLA whose services are all settled (deployed and `Done`):
/// 1. when an event tagged `sla`, `deployment:<d>`, `cluster:<c>` is no older than `interval + cooldown`, the cluster
///    is cooling down and nothing happens;
/// 2. otherwise the cluster's response time is the highest of its internal gateways' (`<d>/<c>/<port>`) over the last
///    `interval`, each the exact mean of the total time of every request the gateway served in that window;
/// 3. above `threshold.upper` the cluster escalates, below `threshold.lower` it de-escalates, with no request in
///    the window nothing happens. The event carries the original's tags: `sla`, `sla:escalate` (or
///    `sla:deescalate`), `deployment:<d>`, `cluster:<c>`, singular.
///
/// `escalation_only` SLAs are left to external events; any other type is kept and reported as unsupported.
public enum SLAPlanner {
    /// A cluster of a deployment.
    public struct ClusterKey: Sendable, Hashable, Comparable, CustomStringConvertible {
        /// The deployment's name.
        public var deployment: String
        /// The cluster's name.
        public var cluster: String

        /// Creates a key.
        public init(deployment: String, cluster: String) {
            self.deployment = deployment
            self.cluster = cluster
        }

        public static func < (lhs: ClusterKey, rhs: ClusterKey) -> Bool {
            (lhs.deployment, lhs.cluster) < (rhs.deployment, rhs.cluster)
        }

        public var description: String { "\(deployment)/\(cluster)" }
    }

    /// Which way an SLA event asks the escalations to go.
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        /// `sla:escalate`: more resources.
        case escalate
        /// `sla:deescalate`: fewer resources.
        case deescalate

        /// The event's tag: `sla:escalate` or `sla:deescalate`.
        public var tag: String { "sla:\(rawValue)" }
    }

    /// An SLA event read back: the cluster it names and the direction (``signal(of:)``).
    public struct Signal: Sendable, Hashable {
        /// The cluster.
        public var key: ClusterKey
        /// The direction.
        public var direction: Direction
        /// When it happened.
        public var timestamp: Date

        /// Creates a signal.
        public init(key: ClusterKey, direction: Direction, timestamp: Date) {
            self.key = key
            self.direction = direction
            self.timestamp = timestamp
        }
    }

    /// The stored SLAs and escalations that clusters and escalation groups refer to by name.
    public struct StoredSLAs: Sendable, Hashable {
        /// Stored SLAs by name.
        public var slas: [String: SLA]
        /// Stored escalations by name.
        public var escalations: [String: Escalation]

        /// Creates the lookup.
        public init(slas: [String: SLA] = [:], escalations: [String: Escalation] = [:]) {
            self.slas = slas
            self.escalations = escalations
        }

        /// Nothing stored.
        public static let none = StoredSLAs()
    }

    /// One response time to measure: a gateway over a window ending now.
    public struct Measurement: Sendable, Hashable {
        /// The gateway's name (`<deployment>/<cluster>/<port>`).
        public var gateway: String
        /// How far back (the SLA's `window.interval`).
        public var window: Duration
    }

    /// Why a cluster with an SLA produced no event this time.
    public enum Skip: Sendable, Hashable {
        /// A service of the cluster is not deployed and `Done`.
        case unsettled
        /// An SLA event of the cluster is within `interval + cooldown` (the time of the newest).
        case coolingDown(since: Date)
        /// No gateway of the cluster served a request in the window (or the cluster has no gateway).
        case noData
        /// The response time is within `lower...upper`.
        case withinThresholds(responseTime: Double)
        /// `escalation_only`: events come from outside.
        case escalationOnly
        /// A type this server does not evaluate (kept, as the original does).
        case unsupported(type: String)
        /// The cluster refers to an SLA that is not stored.
        case missingSLA(name: String)
    }

    /// The decision for one cluster.
    public struct Decision: Sendable, Hashable {
        /// The cluster.
        public var key: ClusterKey
        /// The event to publish, or why there is none.
        public var outcome: Outcome
        /// The response time per gateway that was measured (milliseconds), for the log.
        public var responseTimes: [String: Double]
        /// When it was decided: the time of its event.
        public var time: Date

        /// The event to publish, when the outcome is one.
        public var event: Event? {
            guard case .publish(let direction, _) = outcome else { return nil }
            return SLAPlanner.event(direction, for: key, at: time)
        }

        /// What the check decided.
        public enum Outcome: Sendable, Hashable {
            /// Publish the event: the cluster's response time (ms) left the thresholds.
            case publish(Direction, responseTime: Double)
            /// Nothing to publish.
            case skip(Skip)
        }
    }

    /// The decision of one pass: the events to publish and every cluster's outcome.
    public struct Plan: Sendable, Hashable {
        /// The decision of every cluster with an SLA, ordered by deployment and cluster.
        public var decisions: [Decision] = []

        /// The events to publish, in the order of ``decisions``.
        public var events: [Event] { decisions.compactMap(\.event) }
    }

    // MARK: Deciding

    /// The response times ``plan(deployments:stored:responseTimes:events:now:)`` needs: every internal gateway of every
    /// cluster that is due for a check (a settled `response_time_sliding_window` cluster that is not cooling down),
    /// with the SLA's window.
    public static func measurements(deployments: [Deployment], stored: StoredSLAs = .none, events: [Event], now: Date) -> [Measurement] {
        var measurements: [Measurement] = []
        for (key, cluster, sla) in clusters(deployments, stored) {
            guard case .responseTimeSlidingWindow(_, _, let interval, let cooldown) = sla?.definition,
                  due(key, cluster, interval: interval, cooldown: cooldown, events: events, now: now) == nil else { continue }
            for gateway in gatewayNames(key, cluster) {
                measurements.append(Measurement(gateway: gateway, window: .seconds(interval)))
            }
        }
        return measurements
    }

    /// Decides every cluster with an SLA.
    ///
    /// - Parameters:
    ///   - deployments: the stored deployments.
    ///   - stored: the stored SLAs a cluster may name.
    ///   - responseTimes: the mean total time (milliseconds) of the requests of each gateway over its SLA's window;
    ///     a gateway that served none is absent.
    ///   - events: recent SLA events (any others are ignored); those no older than a cluster's `interval + cooldown`
    ///     hold its checks back.
    ///   - now: the clock's time.
    public static func plan(
        deployments: [Deployment], stored: StoredSLAs = .none, responseTimes: [String: Double], events: [Event], now: Date
    ) -> Plan {
        var plan = Plan()
        for (key, cluster, sla) in clusters(deployments, stored) {
            let outcome: Decision.Outcome
            var measured: [String: Double] = [:]
            switch sla?.definition {
            case nil:
                outcome = .skip(.missingSLA(name: cluster.sla?.referenceName ?? ""))
            case .escalationOnly?:
                outcome = .skip(.escalationOnly)
            case .generic(let type, _)?:
                outcome = .skip(.unsupported(type: type))
            case .responseTimeSlidingWindow(let upper, let lower, let interval, let cooldown)?:
                if let skip = due(key, cluster, interval: interval, cooldown: cooldown, events: events, now: now) {
                    outcome = .skip(skip)
                    break
                }
                for gateway in gatewayNames(key, cluster) {
                    if let time = responseTimes[gateway], time.isFinite { measured[gateway] = time }
                }
                guard let highest = measured.values.max() else {
                    outcome = .skip(.noData)
                    break
                }
                if highest > Double(upper) {
                    outcome = .publish(.escalate, responseTime: highest)
                } else if highest < Double(lower) {
                    outcome = .publish(.deescalate, responseTime: highest)
                } else {
                    outcome = .skip(.withinThresholds(responseTime: highest))
                }
            }
            plan.decisions.append(Decision(key: key, outcome: outcome, responseTimes: measured, time: now))
        }
        return plan
    }

    // MARK: Events

    /// The event the original publishes: tags `sla`, `sla:escalate` or `sla:deescalate`, `deployment:<d>`,
    /// `cluster:<c>` (singular), type `event`, no value.
    public static func event(_ direction: Direction, for key: ClusterKey, at now: Date) -> Event {
        Event(tags: ["sla", direction.tag, "deployment:\(key.deployment)", "cluster:\(key.cluster)"], value: nil, timestamp: now, type: "event")
    }

    /// The cluster and direction of an SLA event (the monitor's own or one posted by anyone), or `nil` when `event`
    /// lacks a direction (`sla:escalate` or `sla:deescalate`, which imply `sla`) or the `deployment:` and `cluster:`
    /// tags. `sla:escalate` wins when both directions are there, as in the original.
    public static func signal(of event: Event) -> Signal? {
        let tags = Set(event.tags)
        let direction: Direction
        if tags.contains(Direction.escalate.tag) {
            direction = .escalate
        } else if tags.contains(Direction.deescalate.tag) {
            direction = .deescalate
        } else {
            return nil
        }
        func value(_ prefix: String) -> String? {
            event.tags.first { $0.hasPrefix(prefix) && $0.count > prefix.count }.map { String($0.dropFirst(prefix.count)) }
        }
        guard let deployment = value("deployment:"), let cluster = value("cluster:") else { return nil }
        return Signal(key: ClusterKey(deployment: deployment, cluster: cluster), direction: direction, timestamp: event.timestamp)
    }

    /// Whether `event` is an SLA event of `key` (`sla`, `deployment:<d>`, `cluster:<c>`): what holds its checks back.
    static func isSLAEvent(_ event: Event, of key: ClusterKey) -> Bool {
        let tags = Set(event.tags)
        return (tags.contains("sla") || tags.contains(where: { $0.hasPrefix("sla:") }))
            && tags.contains("deployment:\(key.deployment)") && tags.contains("cluster:\(key.cluster)")
    }

    // MARK: Support

    /// Every cluster with an SLA, ordered, with the SLA resolved (`nil` when it names an SLA that is not stored).
    static func clusters(_ deployments: [Deployment], _ stored: StoredSLAs) -> [(ClusterKey, DeploymentCluster, SLA?)] {
        var result: [(ClusterKey, DeploymentCluster, SLA?)] = []
        for deployment in deployments.sorted(by: { $0.name < $1.name }) {
            for cluster in deployment.clusters where cluster.sla != nil {
                result.append((ClusterKey(deployment: deployment.name, cluster: cluster.name), cluster, EscalationPlanner.resolvedSLA(of: cluster, stored: stored)))
            }
        }
        return result.sorted { $0.0 < $1.0 }
    }

    /// `nil` when the cluster is due for a check, otherwise why not.
    static func due(_ key: ClusterKey, _ cluster: DeploymentCluster, interval: Int, cooldown: Int, events: [Event], now: Date) -> Skip? {
        guard isSettled(cluster) else { return .unsettled }
        let since = now.addingTimeInterval(-Double(interval) - Double(cooldown))
        let recent = events.filter { isSLAEvent($0, of: key) && $0.timestamp >= since && $0.timestamp <= now }
        if let newest = recent.map(\.timestamp).max() { return .coolingDown(since: newest) }
        return nil
    }

    /// Every service of the cluster is to be deployed and `Done`: nothing is on its way.
    static func isSettled(_ cluster: DeploymentCluster) -> Bool {
        !cluster.services.isEmpty && cluster.services.allSatisfy { $0.status.intention == .deployment && $0.status.phase.name == .done }
    }

    /// The names of the cluster's internal gateways: `<deployment>/<cluster>/<port>`.
    static func gatewayNames(_ key: ClusterKey, _ cluster: DeploymentCluster) -> [String] {
        cluster.gateways.map { "\(key.deployment)/\(key.cluster)/\($0.name)" }.sorted()
    }
}
