/// The gateway agent's decisions as a value: what to do with a new value from the store, the outcome
/// of an apply, a HAProxy that came up or died, a restart timer, a store outage, a failed side service.
///
/// ``handle(_:now:)`` takes one ``Event`` and the time it happened (the clock is the caller's, so a
/// test passes plain instants), updates the state and returns the ``Action``s for the executors in
/// ``GatewayAgent`` to carry out: start HAProxy, apply a text, wait before a restart, write the
/// status key, log, try a text again. It does no I/O and never waits, so every fault of the agent (a refused
/// value reverted, a HAProxy that keeps exiting, a store outage, changes arriving during an apply, a gateway left
/// out and tried again until it serves) is decided here and tested with plain values. The value types are in
/// `AgentStateMachine+Types.swift`.
package struct AgentStateMachine: Sendable {
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
    /// The waits before a text is tried again.
    package let retry: RetryBackoff
    /// The wait before the next retry.
    package private(set) var nextRetryDelay: Duration
    /// The text to try again when the retry wait is over (its last apply failed or left a gateway out that may
    /// yet be served); nil when there is nothing to retry.
    package private(set) var retryText: String?
    /// Numbers the retry waits: only the newest one's timer counts.
    package private(set) var retryGeneration = 0
    /// Retries started, in all (for `/metrics`).
    package private(set) var retries = 0
    /// Whether ``pending`` is a retry (no new value from the store).
    private var pendingIsRetry = false
    /// Whether the apply running now is a retry.
    private var applyingIsRetry = false
    /// The gateways of ``applied`` that HAProxy does not serve, by name.
    package private(set) var leftOut: [LeftOut] = []

    /// A machine before ``Event/started``.
    package init(backoff: Backoff, coalesceWindow: Duration = .zero, retry: RetryBackoff = RetryBackoff()) {
        self.backoff = backoff
        self.coalesceWindow = coalesceWindow
        self.nextRestartDelay = backoff.initial
        self.retry = retry
        self.nextRetryDelay = retry.initial
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
            pendingIsRetry = false
            return nextApply()

        case .keyDeleted:
            return [.logKeyDeleted]

        case .applySucceeded(let text, let path, let newLeftOut):
            guard applying == text else { return [] }
            applying = nil
            applyingIsRetry = false
            applied = text
            let previousError = lastError, previousLeftOut = leftOut
            leftOut = newLeftOut.sorted { $0.name < $1.name }
            lastError = leftOut.isEmpty ? nil : Self.summary(leftOut)
            var actions: [Action] = []
            if leftOut != previousLeftOut {
                if !leftOut.isEmpty { actions.append(.logLeftOut(leftOut)) }
                let servedAgain = previousLeftOut.map(\.name).filter { name in !leftOut.contains { $0.name == name } }
                if !servedAgain.isEmpty { actions.append(.logServedAgain(servedAgain)) }
            }
            // An unchanged text says nothing new unless it clears a failure (a refused value reverted) or changes
            // which gateways are left out.
            if path != .unchanged || previousError != lastError || previousLeftOut != leftOut {
                actions.append(.writeStatus(error: lastError, leftOut: leftOut))
            }
            return actions + retryLater(text, when: leftOut.contains { $0.retryable }) + nextApply()

        case .applyFailed(let text, let reason, let retryable):
            guard applying == text else { return [] }
            let again = applyingIsRetry && lastError == reason
            applying = nil
            applyingIsRetry = false
            lastError = reason
            // A retry that fails as the try before it is not news: no log line, no status write.
            let report: [Action] = again ? [] : [.logApplyFailed(reason: reason), .writeStatus(error: reason)]
            return report + retryLater(text, when: retryable) + nextApply()

        case .retryTimerFired(let generation):
            guard generation == retryGeneration, let text = retryText else { return [] }
            retryText = nil
            // A newer value is on its way; its outcome decides whether to try again.
            guard pending == nil, applying == nil else { return [] }
            pending = text
            pendingIsRetry = true
            retries += 1
            return nextApply(waited: true)

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
        applyingIsRetry = pendingIsRetry
        pendingIsRetry = false
        return [.apply(text)]
    }

    /// A retry of `text` after the next wait when `retryable` (the wait doubles up to the limit); otherwise nothing
    /// to retry, and the waits start over.
    private mutating func retryLater(_ text: String, when retryable: Bool) -> [Action] {
        guard retryable else {
            retryText = nil
            nextRetryDelay = retry.initial
            return []
        }
        retryText = text
        retryGeneration += 1
        let delay = nextRetryDelay
        nextRetryDelay = min(nextRetryDelay * 2, retry.limit)
        return [.scheduleRetry(after: delay, generation: retryGeneration)]
    }

    /// The error shown while gateways are left out.
    static func summary(_ leftOut: [LeftOut]) -> String {
        let list = leftOut.map { "\($0.name): \($0.reason)" }.joined(separator: "; ")
        return leftOut.count == 1
            ? "the gateway \(list) (left out; the other gateways are applied)"
            : "\(leftOut.count) gateways are left out (the others are applied): \(list)"
    }
}
