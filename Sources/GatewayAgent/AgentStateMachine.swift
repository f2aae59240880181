/// The gateway agent's decisions as a value: what to do with a new value from the store, the outcome
/// of an apply, a HAProxy that came up or died, a restart timer, a store outage, a failed side service.
///
/// ``handle(_:now:)`` takes one ``Event`` and the time it happened (the clock is the caller's, so a
/// test passes plain instants), updates the state and returns the ``Action``s for the executors in
/// ``GatewayAgent`` to carry out: start HAProxy, apply a text, wait before a restart, write the
/// status key, log. It does no I/O and never waits, so every fault of the agent (a refused value
/// reverted, a HAProxy that keeps exiting, a store outage, changes arriving during an apply) is
/// decided here and tested with plain values.
package struct AgentStateMachine: Sendable {
    /// The waits between restarts of a HAProxy that keeps exiting.
    package struct Backoff: Sendable, Equatable {
        /// Wait before the first restart; doubled after each further exit.
        package var initial: Duration
        /// Longest wait.
        package var limit: Duration
        /// How long a master must have run for its exit to count as new (the wait starts over).
        package var reset: Duration

        /// Creates the waits.
        package init(initial: Duration, limit: Duration, reset: Duration) {
            self.initial = initial
            self.limit = limit
            self.reset = reset
        }
    }

    /// How an apply reached HAProxy.
    package enum ApplyPath: Sendable, Equatable {
        /// The composed text equalled the running file: nothing done.
        case unchanged
        /// Only `server … weight` changed: set through the master CLI, no reload.
        case weights
        /// A reload (`SIGUSR2`) whose new worker came up.
        case reload
    }

    /// What happened.
    package enum Event: Sendable, Equatable {
        /// The agent started (HAProxy is to run, on the last good file).
        case started
        /// The store holds a new value for the key.
        case valueArrived(String)
        /// The key was deleted from the store.
        case keyDeleted
        /// HAProxy's first worker serves (after a start or a restart).
        case haproxyReady
        /// HAProxy's master exited (`status`: how, for the log).
        case haproxyExited(String)
        /// HAProxy could not be started (its alerts).
        case haproxyStartFailed(String)
        /// The wait of a ``Action/scheduleRestart(after:)`` is over.
        case restartTimerFired
        /// The wait of a ``Action/scheduleApply(after:)`` is over.
        case applyTimerFired
        /// A text is applied and serves.
        case applySucceeded(String, ApplyPath)
        /// A text was not applied (`reason`: HAProxy's alerts or what failed); the running
        /// configuration was kept.
        case applyFailed(String, reason: String)
        /// The store did not answer.
        case storeUnreachable(String)
        /// The store answered.
        case storeReachable
        /// An optional part (log forwarder, status server) failed.
        case sideServiceFailed(name: String, error: String)
    }

    /// What the executors do.
    package enum Action: Sendable, Equatable {
        /// Start HAProxy on the last good file (or take over the master left on the work folder).
        case startHAProxy
        /// Wait, then report ``Event/restartTimerFired``.
        case scheduleRestart(after: Duration)
        /// Wait (the coalescing window), then report ``Event/applyTimerFired``.
        case scheduleApply(after: Duration)
        /// Compose base + fragments + this text, and bring HAProxy onto it (weights at runtime, or a
        /// reload, rolled back when refused); report ``Event/applySucceeded(_:_:)`` or ``Event/applyFailed(_:reason:)``.
        case apply(String)
        /// Write the status key: `applied` (error nil) or `failed` with the error.
        case writeStatus(error: String?)
        /// Log that the store is unreachable (the `failures`-th failed attempt of this outage).
        case logStoreUnreachable(error: String, failures: Int)
        /// Log that the store is back after an outage.
        case logStoreReachable
        /// Log that the key does not exist (the running configuration is kept).
        case logKeyDeleted
        /// Log an apply that failed.
        case logApplyFailed(reason: String)
    }

    /// Where HAProxy is.
    package enum HAProxyState: Sendable, Equatable {
        /// Not started yet.
        case stopped
        /// Started at `since`, its first worker not up yet.
        case starting(since: ContinuousClock.Instant)
        /// Started at `since`, serving.
        case running(since: ContinuousClock.Instant)
        /// Exited; a restart is scheduled.
        case waitingToRestart
    }

    /// The restart waits.
    package let backoff: Backoff
    /// How long to wait after a change for more changes before applying (zero: at once).
    package let coalesceWindow: Duration
    /// Whether a coalescing wait runs.
    package private(set) var coalescing = false
    /// Where HAProxy is.
    package private(set) var haproxy: HAProxyState = .stopped
    /// The wait before the next restart.
    package private(set) var nextRestartDelay: Duration
    /// The wait before the last restart (for `/metrics`).
    package private(set) var lastRestartDelay: Duration = .zero
    /// Why HAProxy did not start the last time, until it serves.
    package private(set) var haproxyStartError: String?
    /// The text being applied now.
    package private(set) var applying: String?
    /// The newest value that arrived while HAProxy could not take it (not serving, or busy with an
    /// apply): applied next. Values arriving meanwhile replace it, so a burst becomes one apply.
    package private(set) var pending: String?
    /// The last value that reached HAProxy.
    package private(set) var applied: String?
    /// The error of the last apply, nil when it succeeded: health reflects the text in the store now.
    package private(set) var lastError: String?
    /// Whether the store answered last; nil before the first attempt ended.
    package private(set) var storeReachable: Bool?
    /// The store's last error while unreachable.
    package private(set) var storeError: String?
    /// Failed attempts since the store was last reachable.
    package private(set) var outageFailures = 0
    /// Failed attempts to reach the store, in all.
    package private(set) var storeErrors = 0
    /// Optional parts that failed, with their error.
    package private(set) var failedServices: [String: String] = [:]

    /// A machine before ``Event/started``.
    package init(backoff: Backoff, coalesceWindow: Duration = .zero) {
        self.backoff = backoff
        self.coalesceWindow = coalesceWindow
        self.nextRestartDelay = backoff.initial
    }

    /// Whether HAProxy's worker serves (and takes applies).
    package var haproxyRunning: Bool {
        if case .running = haproxy { return true }
        return false
    }

    /// Decides what `event`, which happened at `now`, leads to.
    package mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        switch event {
        case .started:
            haproxy = .starting(since: now)
            return [.startHAProxy]

        case .restartTimerFired:
            guard haproxy == .waitingToRestart else { return [] }
            haproxy = .starting(since: now)
            return [.startHAProxy]

        case .haproxyReady:
            guard case .starting(let since) = haproxy else { return [] }
            haproxy = .running(since: since)
            haproxyStartError = nil
            return nextApply()

        case .haproxyExited, .haproxyStartFailed:
            if case .haproxyStartFailed(let error) = event { haproxyStartError = error }
            let since: ContinuousClock.Instant? = switch haproxy {
            case .starting(let since), .running(let since): since
            case .stopped, .waitingToRestart: nil
            }
            // A master that ran long enough exited for a new reason: start the waits over.
            if let since, now - since >= backoff.reset { nextRestartDelay = backoff.initial }
            let delay = nextRestartDelay
            nextRestartDelay = min(nextRestartDelay * 2, backoff.limit)
            lastRestartDelay = delay
            haproxy = .waitingToRestart
            return [.scheduleRestart(after: delay)]

        case .applyTimerFired:
            coalescing = false
            return nextApply(waited: true)

        case .valueArrived(let text):
            pending = text
            return nextApply()

        case .keyDeleted:
            return [.logKeyDeleted]

        case .applySucceeded(let text, let path):
            guard applying == text else { return [] }
            applying = nil
            applied = text
            let hadError = lastError != nil
            lastError = nil
            // An unchanged text says nothing new unless it clears a failure (a refused value reverted).
            let status: [Action] = path == .unchanged && !hadError ? [] : [.writeStatus(error: nil)]
            return status + nextApply()

        case .applyFailed(let text, let reason):
            guard applying == text else { return [] }
            applying = nil
            lastError = reason
            return [.logApplyFailed(reason: reason), .writeStatus(error: reason)] + nextApply()

        case .storeUnreachable(let error):
            storeErrors += 1
            if storeReachable != false { outageFailures = 0 }
            outageFailures += 1
            storeReachable = false
            storeError = error
            // The 1st, 2nd, 4th, 8th… failure of an outage (then every 64th): a long outage does not flood the log.
            let failures = outageFailures
            return failures & (failures - 1) == 0 || failures % 64 == 0 ? [.logStoreUnreachable(error: error, failures: failures)] : []

        case .storeReachable:
            let outage = storeReachable == false
            storeReachable = true
            storeError = nil
            return outage ? [.logStoreReachable] : []

        case .sideServiceFailed(let name, let error):
            failedServices[name] = error
            return []
        }
    }

    /// The pending value, when HAProxy serves and no apply runs (after the coalescing window, if any).
    private mutating func nextApply(waited: Bool = false) -> [Action] {
        guard haproxyRunning, applying == nil, !coalescing, pending != nil else { return [] }
        if coalesceWindow > .zero && !waited {
            coalescing = true
            return [.scheduleApply(after: coalesceWindow)]
        }
        guard let text = pending else { return [] }
        pending = nil
        applying = text
        return [.apply(text)]
    }

    /// How to bring HAProxy from the `running` file to the `candidate`.
    package enum ApplyPlan: Sendable, Equatable {
        /// The same bytes: nothing to do.
        case unchanged
        /// Only weights differ: these master CLI commands (falling back to a reload if one fails).
        case setWeights([String])
        /// A reload.
        case reload
    }

    /// The plan for `candidate` when HAProxy runs `running`.
    package static func plan(running: String, candidate: String) -> ApplyPlan {
        if running == candidate { return .unchanged }
        if let commands = GatewayAgent.weightChanges(from: running, to: candidate) { return .setWeights(commands) }
        return .reload
    }
}
