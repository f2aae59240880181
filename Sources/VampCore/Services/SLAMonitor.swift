public import Foundation
public import Logging
import Persistence
public import ServiceLifecycle
import Synchronization
import VampConcurrency
public import VampModel

/// Checks the clusters' SLAs and applies their escalations (Vamp 0.9.5's `SlaActor` and `EscalationActor`, reference
/// `sla-websocket-releases.md` §1): a short wake → plan → execute loop on the facade's clock.
///
/// Every ``Configuration/period`` (Vamp's `vamp.operation.sla.period`, 5 s) one pass:
/// 1. reads the deployments and the recent SLA events, asks ``Configuration/responseTime`` for the response time of
///    every internal gateway of every cluster that is due (``SLAPlanner/measurements(deployments:stored:events:now:)``),
///    decides (``SLAPlanner/plan(deployments:stored:responseTimes:events:now:)``) and publishes the `sla:escalate` and
///    `sla:deescalate` events;
/// 2. reads every SLA event since the previous pass, its own and any posted by others (`POST /api/v1/events`), oldest
///    first, and applies the escalations of the cluster each names (``EscalationPlanner``) through the path of a
///    user's scale change: the service gets its new scale, is `Initiated` again, an archive event is written, and the
///    ``Reconciler`` redeploys it.
///
/// The first pass looks at events published after the monitor started, as the original did.
public struct SLAMonitor: ServiceLifecycle.Service, Sendable {
    /// The response time of a gateway: the mean total time (HAProxy's `Tt`, milliseconds) of every request the gateway
    /// `<deployment>/<cluster>/<port>` served within `window` before now, or `nil` when it served none.
    public typealias ResponseTime = @Sendable (_ gateway: String, _ window: Duration) async -> Double?

    /// Settings of the monitor.
    public struct Configuration: Sendable {
        /// Time between two passes (Vamp's `vamp.operation.sla.period`, 5 s).
        public var period: Duration
        /// Where response times come from (the server's window of the gateways' figures).
        public var responseTime: ResponseTime
        /// The most SLA events one pass applies; older ones beyond it are logged and left.
        public var maximumEventsPerPass: Int

        /// Creates the settings.
        public init(period: Duration = .seconds(5), maximumEventsPerPass: Int = 1000, responseTime: @escaping ResponseTime) {
            self.period = period
            self.responseTime = responseTime
            self.maximumEventsPerPass = maximumEventsPerPass
        }
    }

    /// What one pass did.
    public struct Report: Sendable, Hashable {
        /// One SLA event applied and what its escalations did.
        public struct Applied: Sendable, Hashable {
            /// The event read back.
            public var signal: SLAPlanner.Signal
            /// The scale changes made and the notes.
            public var outcome: EscalationPlanner.Outcome
        }

        /// The SLA decision of every cluster with an SLA.
        public var plan = SLAPlanner.Plan()
        /// The events it published.
        public var published: [Event] = []
        /// Each SLA event applied, oldest first.
        public var escalations: [Applied] = []
    }

    let vamp: Vamp
    let configuration: Configuration
    let logger: Logger
    /// Problems already logged as warnings (an unsupported type, a missing SLA): repeated at debug level only.
    let warned = Warned()

    /// Creates the monitor of `vamp`'s SLAs.
    public init(vamp: Vamp, configuration: Configuration, logger: Logger = Logger(label: "vamp.sla")) {
        self.vamp = vamp
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let clock = vamp.clock, period = configuration.period
        do {
            try await cancelWhenGracefulShutdown {
                var since = clock.now
                while !Task.isCancelled {
                    try await clock.sleep(for: period)
                    let now = clock.now
                    await pass(escalationsAfter: since, now: now)
                    since = now
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: a pass cut short leaves its SLA events to be applied by no one; the original
            // also started afresh, with the events published after it started.
        }
    }

    /// One pass at `now` (the clock's by default): the SLA decision, its events, then the escalations of every SLA
    /// event after `after` and up to `now`. A store that fails is logged; the next pass tries again.
    @discardableResult
    public func pass(escalationsAfter after: Date, now: Date? = nil) async -> Report {
        let now = now ?? vamp.clock.now
        var report = Report()
        do throws(OperationError) {
            report.plan = try await decide(now: now)
        } catch {
            logger.error("the SLAs cannot be checked this pass", metadata: ["vamp.error": "\(error.message)"])
        }
        for event in report.plan.events {
            do throws(OperationError) {
                report.published += try await vamp.publish([event])
            } catch {
                logger.error("an SLA event cannot be published", metadata: ["vamp.event.tags": "\(event.tags)", "vamp.error": "\(error.message)"])
            }
        }
        let signals: [SLAPlanner.Signal]
        do {
            signals = try await self.signals(after: after, upTo: now)
        } catch {
            logger.error("the SLA events cannot be read; their escalations wait for the next pass", metadata: ["vamp.error": "\(error)"])
            return report
        }
        for signal in signals {
            do throws(OperationError) {
                let outcome = try await vamp.escalate(signal)
                report.escalations.append(Report.Applied(signal: signal, outcome: outcome))
                log(signal, outcome)
            } catch {
                logger.error("an escalation cannot be applied", metadata: [
                    "vamp.deployment": "\(signal.key.deployment)", "vamp.cluster": "\(signal.key.cluster)",
                    "vamp.sla.direction": "\(signal.direction.rawValue)", "vamp.error": "\(error.message)",
                ])
            }
        }
        return report
    }

    // MARK: Steps

    /// Reads what the decision needs, measures what it lists, and decides.
    func decide(now: Date) async throws(OperationError) -> SLAPlanner.Plan {
        let deployments = try await vamp.allDeployments()
        guard deployments.contains(where: { $0.clusters.contains { $0.sla != nil } }) else { return SLAPlanner.Plan() }
        let stored = try await vamp.storedSLAs(for: deployments)
        let recent = try await recentEvents(deployments, stored: stored, now: now)
        var responseTimes: [String: Double] = [:]
        for measurement in SLAPlanner.measurements(deployments: deployments, stored: stored, events: recent, now: now) {
            if let time = await configuration.responseTime(measurement.gateway, measurement.window) { responseTimes[measurement.gateway] = time }
        }
        let plan = SLAPlanner.plan(deployments: deployments, stored: stored, responseTimes: responseTimes, events: recent, now: now)
        for decision in plan.decisions { log(decision) }
        return plan
    }

    /// The newest SLA event of every cluster with a sliding-window SLA within its `interval + cooldown`: all the
    /// decision needs to know whether the cluster cools down.
    func recentEvents(_ deployments: [Deployment], stored: SLAPlanner.StoredSLAs, now: Date) async throws(OperationError) -> [Event] {
        var events: [Event] = []
        for (key, _, sla) in SLAPlanner.clusters(deployments, stored) {
            guard case .responseTimeSlidingWindow(_, _, let interval, let cooldown)? = sla?.definition else { continue }
            let query = EventQuery(
                tags: ["sla", "deployment:\(key.deployment)", "cluster:\(key.cluster)"],
                timestamp: TimeRange(gte: .date(now.addingTimeInterval(-Double(interval) - Double(cooldown))), lte: .date(now)))
            do {
                if let event = try await vamp.events.latest(matching: query) { events.append(event) }
            } catch {
                throw OperationError(.unavailable, "the SLA events of \(key) cannot be read: \(error)", cause: error)
            }
        }
        return events
    }

    /// The SLA events after `after` up to `now`, oldest first, at most ``Configuration/maximumEventsPerPass``.
    func signals(after: Date, upTo now: Date) async throws -> [SLAPlanner.Signal] {
        let query = EventQuery(tags: ["sla"], timestamp: TimeRange(gt: .date(after), lte: .date(now)))
        let limit = max(1, configuration.maximumEventsPerPass)
        let page = try await vamp.events.events(matching: query, page: PageRequest(page: 1, perPage: limit))
        if page.total > limit {
            logger.warning("more SLA events than one pass applies; the oldest are left", metadata: [
                "vamp.sla.events": "\(page.total)", "vamp.sla.applied": "\(limit)",
            ])
        }
        // Newest first from the store: the oldest first here, as they happened.
        return page.items.reversed().compactMap(SLAPlanner.signal(of:))
    }

    // MARK: Logging

    func log(_ decision: SLAPlanner.Decision) {
        var metadata: Logger.Metadata = ["vamp.deployment": "\(decision.key.deployment)", "vamp.cluster": "\(decision.key.cluster)"]
        for (gateway, time) in decision.responseTimes.sorted(by: { $0.key < $1.key }) {
            metadata["vamp.response-time.\(gateway)"] = "\(time)"
        }
        switch decision.outcome {
        case .publish(let direction, let time):
            metadata["vamp.response-time"] = "\(time)"
            let side = direction == .escalate ? "above its upper" : "below its lower"
            logger.info("the SLA's response time is \(side) threshold: \(direction.tag)", metadata: metadata)
        case .skip(.unsupported(let type)):
            warnOnce(
                "\(decision.key)#type:\(type)",
                "SLA type '\(type)' is not supported; it is kept and not evaluated (its escalations follow posted sla:escalate and sla:deescalate events)",
                metadata)
        case .skip(.missingSLA(let name)):
            warnOnce("\(decision.key)#missing:\(name)", "the cluster names the SLA '\(name)', which is not stored; nothing is checked", metadata)
        case .skip(let skip):
            metadata["vamp.sla.skip"] = "\(skip)"
            logger.debug("no SLA event", metadata: metadata)
        }
    }

    func log(_ signal: SLAPlanner.Signal, _ outcome: EscalationPlanner.Outcome) {
        var metadata: Logger.Metadata = [
            "vamp.deployment": "\(signal.key.deployment)", "vamp.cluster": "\(signal.key.cluster)", "vamp.sla.direction": "\(signal.direction.rawValue)",
        ]
        for note in outcome.notes { logger.info("escalation: \(note)", metadata: metadata) }
        if outcome.changes.isEmpty {
            logger.info("\(signal.direction.tag): the escalations changed nothing", metadata: metadata)
        } else {
            metadata["vamp.sla.changes"] = "\(outcome.changes.map(\.description).joined(separator: "; "))"
            logger.notice("\(signal.direction.tag): scaled", metadata: metadata)
        }
    }

    func warnOnce(_ key: String, _ message: Logger.Message, _ metadata: Logger.Metadata) {
        if warned.insert(key) {
            logger.warning(message, metadata: metadata)
        } else {
            logger.debug(message, metadata: metadata)
        }
    }

    /// Keys of the problems already warned about.
    final class Warned: Sendable {
        let keys = Mutex<Set<String>>([])

        /// True the first time `key` is seen.
        func insert(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }
    }
}
