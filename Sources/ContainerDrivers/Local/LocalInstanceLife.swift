/// The life of one instance of ``LocalProcessDriver``: the state it is in and what each event does to it, in one place.
/// A pure state machine (no I/O, the time given): the driver feeds it what it saw and carries out the effects.
///
/// - `starting` → `probing` when its process runs (started, or adopted from an earlier driver); an adopted process
///   that was up when the earlier driver last saw it goes straight to `ready`, so that a restart of the server does
///   not take its traffic away while the probe looks again;
/// - `probing` ⇄ `ready` as the readiness probe finds it up or down;
/// - `starting`, `probing` or `ready` → `exited` when the process exits (or cannot start): it is started again after a
///   backoff that doubles with every exit in a row, and `exited` → `probing` once it runs again;
/// - any → `stopping`, which is final: no restart, and a process that starts then is killed.
package struct LocalInstanceLife: Sendable, Hashable {
    /// Where an instance is.
    package enum State: Sendable, Hashable {
        /// No process yet: waiting for its first start, for the adoption of the process its record names, or being
        /// started again after its backoff.
        case starting
        /// Its process runs; the readiness probe has not found it up (or found it down).
        case probing(pid: Int32)
        /// Its process runs and is up since `since`: it gets traffic.
        case ready(pid: Int32, since: ContinuousClock.Instant)
        /// Its process exited; it is started again at `restartAt`.
        case exited(restartAt: ContinuousClock.Instant)
        /// Being stopped: it gets no traffic and is not restarted.
        case stopping
    }

    /// What the driver saw.
    package enum Event: Sendable, Hashable {
        /// Its process runs: started by the driver (or adopted without knowing whether it was up).
        case started(pid: Int32)
        /// Its process, left by an earlier driver, still runs; `wasUp`: its record says it was up.
        case adopted(pid: Int32, wasUp: Bool)
        /// The readiness probe of process `pid` found it up or down.
        case readiness(pid: Int32, up: Bool)
        /// Its process exited, in words (`exited with status 3`, `killed by signal 9`, `not started: ...`).
        case exited(String)
        /// It is to be stopped.
        case stop
    }

    /// What the driver does after a transition.
    package enum Effect: Sendable, Hashable {
        /// Start the readiness probe of process `pid`.
        case startProbe(pid: Int32)
        /// Stop the readiness probe.
        case stopProbe
        /// Tell the change notices' listeners.
        case notify
        /// Start the process again after `delay`.
        case restart(after: Duration)
        /// Kill process group `pid` at once: it started while the instance was being stopped.
        case kill(pid: Int32)
    }

    /// The restart backoff.
    package struct Policy: Sendable, Hashable {
        /// The wait before the first restart after an exit; it doubles with every exit in a row.
        package var initialDelay: Duration
        /// The longest wait before a restart.
        package var maximumDelay: Duration
        /// An instance that stayed up this long starts again from ``initialDelay`` after its next exit.
        package var reset: Duration

        /// Creates a policy.
        package init(initialDelay: Duration, maximumDelay: Duration, reset: Duration) {
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
            self.reset = reset
        }
    }

    /// Where the instance is now.
    package private(set) var state: State = .starting
    /// Exits since it last stayed up for the policy's ``Policy/reset`` (0: none).
    package private(set) var exitsInARow = 0
    /// The last exit, in words.
    package private(set) var lastExit: String?

    /// A new instance, ``State/starting``.
    package init() {}

    /// True while it is ``State/ready``: the only state that gets traffic.
    package var isUp: Bool {
        if case .ready = state { return true }
        return false
    }

    /// True once it is being stopped.
    package var isStopping: Bool { state == .stopping }

    /// The process that runs it now, as far as the driver watches one.
    package var pid: Int32? {
        switch state {
        case .probing(let pid), .ready(let pid, _): pid
        case .starting, .exited, .stopping: nil
        }
    }

    /// Moves to the state `event` leads to at `now`; returns what the driver is to do.
    package mutating func handle(_ event: Event, now: ContinuousClock.Instant, policy: Policy) -> [Effect] {
        switch (event, state) {
        case (.stop, .stopping):
            return []
        case (.stop, _):
            state = .stopping
            return [.stopProbe]

        case (.started(let pid), .stopping):
            return [.kill(pid: pid)]
        case (.adopted(let pid, let wasUp), .starting):
            state = wasUp ? .ready(pid: pid, since: now) : .probing(pid: pid)
            return [.startProbe(pid: pid)]
        case (.adopted, _):
            return []
        case (.started(let pid), .starting), (.started(let pid), .exited):
            state = .probing(pid: pid)
            return [.startProbe(pid: pid)]
        case (.started, _):
            return []

        case (.readiness(let pid, true), .probing(let current)) where pid == current:
            state = .ready(pid: pid, since: now)
            return [.notify]
        case (.readiness(let pid, false), .ready(let current, _)) where pid == current:
            state = .probing(pid: pid)
            return [.notify]
        case (.readiness, _):
            // A probe of an earlier process, or no change.
            return []

        case (.exited(let words), .stopping):
            lastExit = words
            return [.stopProbe, .notify]
        case (.exited(let words), let previous):
            if case .ready(_, let since) = previous, now - since >= policy.reset { exitsInARow = 0 }
            exitsInARow += 1
            lastExit = words
            let delay = LocalProcessPlan.restartDelay(failures: exitsInARow, initial: policy.initialDelay, maximum: policy.maximumDelay)
            state = .exited(restartAt: now + delay)
            return [.stopProbe, .notify, .restart(after: delay)]
        }
    }
}
