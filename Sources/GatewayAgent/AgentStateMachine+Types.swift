/// The value types of ``AgentStateMachine``: what happens, what it decides, and the pure apply plan.
extension AgentStateMachine {
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

    /// The waits before an apply that failed, or left a gateway out, is tried again with the same text.
    package struct RetryBackoff: Sendable, Equatable {
        /// Wait before the first retry; doubled after each further failure.
        package var initial: Duration
        /// Longest wait.
        package var limit: Duration

        /// Creates the waits.
        package init(initial: Duration = .seconds(1), limit: Duration = .seconds(30)) {
            self.initial = initial
            self.limit = limit
        }
    }

    /// A gateway of the text that HAProxy does not serve, and why.
    package struct LeftOut: Sendable, Equatable, Hashable {
        /// The gateway's name (from its `# gateway` marker), or `virtual hosts`.
        package var name: String
        /// Why: the address that cannot be bound, or HAProxy's alerts about its sections.
        package var reason: String
        /// Whether trying again can help (a busy port may be freed; sections HAProxy refuses stay refused until
        /// the text changes).
        package var retryable: Bool

        /// Creates one.
        package init(name: String, reason: String, retryable: Bool) {
            self.name = name
            self.reason = reason
            self.retryable = retryable
        }
    }

    /// How an apply reached HAProxy.
    package enum ApplyPath: Sendable, Equatable {
        /// The composed text equalled the running file: nothing done.
        case unchanged
        /// Only `server … weight` changed: set through the master CLI, no reload.
        case weights
        /// Servers were added, removed or moved (and maybe weights changed): through the runtime API, no reload.
        case servers
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
        /// A text is applied and serves, but for the gateways in `leftOut` (empty: all of it).
        case applySucceeded(String, ApplyPath, leftOut: [LeftOut] = [])
        /// A text was not applied (`reason`: HAProxy's alerts or what failed); the running
        /// configuration was kept. `retryable`: whether the same text may go through later (a busy port, a
        /// master that did not answer), so it is tried again with backoff.
        case applyFailed(String, reason: String, retryable: Bool = true)
        /// The wait of a ``Action/scheduleRetry(after:generation:)`` is over.
        case retryTimerFired(generation: Int)
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
        /// Compose base + fragments + this text, and bring HAProxy onto it (weights and servers at runtime, or a
        /// reload; a gateway HAProxy cannot serve left out); report ``Event/applySucceeded(_:_:leftOut:)`` or
        /// ``Event/applyFailed(_:reason:retryable:)``.
        case apply(String)
        /// Write the status key: `applied` (error nil), `partial` (gateways left out, `error` says which) or
        /// `failed` with the error.
        case writeStatus(error: String?, leftOut: [LeftOut] = [])
        /// Wait, then report ``Event/retryTimerFired(generation:)`` (an older wait still running is superseded).
        case scheduleRetry(after: Duration, generation: Int)
        /// Log the gateways left out (the set changed).
        case logLeftOut([LeftOut])
        /// Log that these gateways, left out before, are served again.
        case logServedAgain([String])
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

    /// How to bring HAProxy from the `running` file to the `candidate`.
    package enum ApplyPlan: Sendable, Equatable {
        /// The same bytes: nothing to do.
        case unchanged
        /// Only weights differ: these master CLI commands (falling back to a reload if one fails).
        case setWeights([String])
        /// Only servers of backends differ (added, removed, moved, weighted): these runtime API steps (falling
        /// back to a reload if one fails).
        case runtime(RuntimeChanges)
        /// A reload.
        case reload
    }

    /// The plan for `candidate` when HAProxy runs `running`: weights alone, or the servers of backends alone, go
    /// through the runtime API; everything else is a reload.
    package static func plan(running: String, candidate: String) -> ApplyPlan {
        if running == candidate { return .unchanged }
        if let commands = GatewayAgent.weightChanges(from: running, to: candidate) { return .setWeights(commands) }
        if let changes = RuntimeChanges.plan(from: running, to: candidate) { return .runtime(changes) }
        return .reload
    }
}
