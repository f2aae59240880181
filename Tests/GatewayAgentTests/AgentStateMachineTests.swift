@testable import GatewayAgent
import Testing

/// The agent's decisions with plain values: events in, actions out, instants made up (no HAProxy, no store, no
/// waiting). Each test is one fault of issue 9, decided where the agent decides it.
@Suite("Gateway agent state machine (plain values)")
struct AgentStateMachineTests {
    typealias Machine = AgentStateMachine
    static let backoff = Machine.Backoff(initial: .milliseconds(200), limit: .seconds(2), reset: .seconds(10))
    static let t0 = ContinuousClock.now

    /// A machine whose HAProxy serves, started at `t0`, nothing applied yet.
    static func running(coalesceWindow: Duration = .zero) -> Machine {
        var machine = Machine(backoff: backoff, coalesceWindow: coalesceWindow)
        #expect(machine.handle(.started, now: t0) == [.startHAProxy])
        #expect(machine.handle(.haproxyReady, now: t0 + .seconds(1)) == [])
        return machine
    }

    @Test("a value that arrives before HAProxy serves waits, and is applied once its worker is up")
    func valueBeforeReady() {
        var machine = Machine(backoff: Self.backoff)
        #expect(machine.handle(.started, now: Self.t0) == [.startHAProxy])
        #expect(machine.handle(.valueArrived("A"), now: Self.t0) == [])
        #expect(machine.pending == "A" && !machine.haproxyRunning)
        #expect(machine.handle(.haproxyReady, now: Self.t0 + .milliseconds(300)) == [.apply("A")])
        #expect(machine.applying == "A" && machine.pending == nil)
    }

    @Test("a refused value sets the failure; writing the previous good text back clears it (health follows the store)")
    func revertClearsFailure() {
        var machine = Self.running()
        let now = Self.t0 + .seconds(2)
        #expect(machine.handle(.valueArrived("good"), now: now) == [.apply("good")])
        #expect(machine.handle(.applySucceeded("good", .reload), now: now) == [.writeStatus(error: nil)])
        #expect(machine.handle(.valueArrived("bad"), now: now) == [.apply("bad")])
        // What `haproxy -c` refuses stays refused until the text changes: not tried again.
        #expect(machine.handle(.applyFailed("bad", reason: "haproxy refused", retryable: false), now: now)
            == [.logApplyFailed(reason: "haproxy refused"), .writeStatus(error: "haproxy refused")])
        #expect(machine.lastError == "haproxy refused")
        #expect(machine.applied == "good")
        // The revert composes to the running file: unchanged, and the failure is gone with a status write.
        #expect(machine.handle(.valueArrived("good"), now: now) == [.apply("good")])
        #expect(machine.handle(.applySucceeded("good", .unchanged), now: now) == [.writeStatus(error: nil)])
        #expect(machine.lastError == nil)
        // The same text again with nothing to clear: no status write.
        #expect(machine.handle(.valueArrived("good"), now: now) == [.apply("good")])
        #expect(machine.handle(.applySucceeded("good", .unchanged), now: now) == [])
    }

    @Test("a HAProxy that keeps exiting is restarted after 0.2, 0.4, 0.8, 1.6 s, then the 2 s limit; a long run starts the waits over")
    func backoffDoublesAndCaps() {
        var machine = Machine(backoff: Self.backoff)
        var now = Self.t0
        #expect(machine.handle(.started, now: now) == [.startHAProxy])
        var waits: [Duration] = []
        for attempt in 0..<7 {
            now += .milliseconds(50)
            let event: Machine.Event = attempt % 2 == 0 ? .haproxyExited("exited") : .haproxyStartFailed("[ALERT] cannot bind")
            let actions = machine.handle(event, now: now)
            guard case .scheduleRestart(let wait)? = actions.first, actions.count == 1 else {
                Issue.record("not a restart: \(actions)")
                return
            }
            waits.append(wait)
            #expect(!machine.haproxyRunning)
            // Nothing happens before the timer; the timer starts HAProxy.
            #expect(machine.handle(.valueArrived("v\(attempt)"), now: now) == [])
            now += wait
            #expect(machine.handle(.restartTimerFired, now: now) == [.startHAProxy])
        }
        #expect(waits == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2), .seconds(2)])
        #expect(machine.haproxyStartError == "[ALERT] cannot bind")
        // This one comes up and serves the newest value that arrived meanwhile, then runs 11 s.
        #expect(machine.handle(.haproxyReady, now: now + .milliseconds(100)) == [.apply("v6")])
        #expect(machine.haproxyStartError == nil)
        #expect(machine.handle(.haproxyExited("killed"), now: now + .seconds(11)) == [.scheduleRestart(after: .milliseconds(200))])
        // A timer that fires when no restart is due does nothing.
        var idle = Self.running()
        #expect(idle.handle(.restartTimerFired, now: Self.t0 + .seconds(3)) == [])
    }

    @Test("a store outage keeps HAProxy on its configuration: no start, no apply; logged at the 1st, 2nd, 4th, 8th failure; shown until it answers")
    func outageKeepsHAProxy() {
        var machine = Self.running()
        let now = Self.t0 + .seconds(2)
        _ = machine.handle(.valueArrived("A"), now: now)
        _ = machine.handle(.applySucceeded("A", .reload), now: now)
        #expect(machine.handle(.storeReachable, now: now) == [])
        var logged: [Int] = []
        for _ in 1...70 {
            for action in machine.handle(.storeUnreachable("connection refused"), now: now) {
                guard case .logStoreUnreachable(let error, let failures) = action else {
                    Issue.record("an outage led to \(action)")
                    continue
                }
                #expect(error == "connection refused")
                logged.append(failures)
            }
        }
        #expect(logged == [1, 2, 4, 8, 16, 32, 64])
        #expect(machine.haproxyRunning && machine.applied == "A" && machine.lastError == nil)
        #expect(machine.storeReachable == false && machine.storeError == "connection refused" && machine.storeErrors == 70)
        #expect(machine.handle(.storeReachable, now: now) == [.logStoreReachable])
        #expect(machine.storeReachable == true && machine.storeError == nil)
        // The next outage counts from one again.
        #expect(machine.handle(.storeUnreachable("timeout"), now: now) == [.logStoreUnreachable(error: "timeout", failures: 1)])
        #expect(machine.storeErrors == 71)
        // A deleted key is logged, the running configuration kept.
        #expect(machine.handle(.keyDeleted, now: now) == [.logKeyDeleted])
        #expect(machine.applied == "A")
    }

    @Test("changes that arrive during an apply become one apply of the newest")
    func changesDuringApplyCoalesce() {
        var machine = Self.running()
        let now = Self.t0 + .seconds(2)
        #expect(machine.handle(.valueArrived("A"), now: now) == [.apply("A")])
        for text in ["B", "C", "D"] { #expect(machine.handle(.valueArrived(text), now: now) == []) }
        #expect(machine.handle(.applySucceeded("A", .reload), now: now) == [.writeStatus(error: nil), .apply("D")])
        #expect(machine.handle(.applySucceeded("D", .weights), now: now) == [.writeStatus(error: nil)])
        #expect(machine.applying == nil && machine.pending == nil && machine.applied == "D")
    }

    @Test("with a coalescing window, a burst waits once and the newest is applied")
    func coalescingWindow() {
        var machine = Self.running(coalesceWindow: .milliseconds(20))
        let now = Self.t0 + .seconds(2)
        #expect(machine.handle(.valueArrived("A"), now: now) == [.scheduleApply(after: .milliseconds(20))])
        #expect(machine.handle(.valueArrived("B"), now: now) == [])
        #expect(machine.handle(.applyTimerFired, now: now + .milliseconds(20)) == [.apply("B")])
    }

    @Test("a worker that dies during an apply: the apply fails, HAProxy is restarted, a value that arrived meanwhile is applied once it serves")
    func deadWorkerDuringApply() {
        var machine = Self.running()
        let now = Self.t0 + .seconds(20)
        #expect(machine.handle(.valueArrived("A"), now: now) == [.apply("A")])
        #expect(machine.handle(.haproxyExited("exited"), now: now) == [.scheduleRestart(after: .milliseconds(200))])
        let reason = "HAProxy exited during the reload; it is restarted on the previous configuration"
        #expect(machine.handle(.applyFailed("A", reason: reason), now: now)
            == [.logApplyFailed(reason: reason), .writeStatus(error: reason), .scheduleRetry(after: .seconds(1), generation: 1)])
        #expect(machine.handle(.valueArrived("B"), now: now) == [])
        #expect(machine.handle(.restartTimerFired, now: now + .milliseconds(200)) == [.startHAProxy])
        #expect(machine.handle(.haproxyReady, now: now + .milliseconds(500)) == [.apply("B")])
        #expect(machine.handle(.applySucceeded("B", .reload), now: now) == [.writeStatus(error: nil)])
        #expect(machine.lastError == nil)
    }

    @Test("a failed side service is recorded for /health and touches nothing else")
    func sideServiceFailure() {
        var machine = Self.running()
        #expect(machine.handle(.sideServiceFailed(name: "status server", error: "address in use"), now: Self.t0) == [])
        #expect(machine.failedServices == ["status server": "address in use"])
        #expect(machine.haproxyRunning)
    }

    @Test("the apply plan: the same bytes → nothing, weights only → master CLI commands, servers only → runtime steps, anything else → a reload")
    func applyPlan() {
        let old = "backend o_g\n  server a 127.0.0.1:1 weight 100\n  server b 127.0.0.1:2 weight 0\n"
        let weights = "backend o_g\n  server a 127.0.0.1:1 weight 0\n  server b 127.0.0.1:2 weight 100\n"
        #expect(Machine.plan(running: old, candidate: old) == .unchanged)
        #expect(Machine.plan(running: old, candidate: weights) == .setWeights(["set server o_g/b weight 100", "set server o_g/a weight 0"]))
        #expect(Machine.plan(running: old, candidate: old + "backend new\n") == .reload)
        let scaled = old + "  server c 127.0.0.1:3 weight 100\n"
        #expect(Machine.plan(running: old, candidate: scaled) == .runtime(RuntimeChanges(steps: [
            .add("add server o_g/c 127.0.0.1:3 weight 100"), .plain("enable server o_g/c"),
        ])))
    }

    // MARK: Gateways left out, and tries again (issue 23)

    static let busy = Machine.LeftOut(name: "b", reason: "cannot bind 127.0.0.1:8081 (Address already in use)", retryable: true)

    @Test("a gateway left out: applied for the others, reported (status partial, log), tried again after 1, 2, 4 … 30 s without a new value; served → the waits start over")
    func leftOutIsRetried() {
        var machine = Self.running()
        var now = Self.t0 + .seconds(2)
        #expect(machine.handle(.valueArrived("A+B"), now: now) == [.apply("A+B")])
        let summary = Machine.summary([Self.busy])
        #expect(machine.handle(.applySucceeded("A+B", .reload, leftOut: [Self.busy]), now: now)
            == [.logLeftOut([Self.busy]), .writeStatus(error: summary, leftOut: [Self.busy]), .scheduleRetry(after: .seconds(1), generation: 1)])
        #expect(machine.applied == "A+B" && machine.leftOut == [Self.busy] && machine.lastError == summary)
        var waits: [Duration] = [.seconds(1)]
        for generation in 1...7 {
            now += waits.last!
            // The same text again, no new value from the store.
            #expect(machine.handle(.retryTimerFired(generation: generation), now: now) == [.apply("A+B")])
            // Still busy: nothing new to say (no log, no status write), the next wait doubles up to 30 s.
            let actions = machine.handle(.applySucceeded("A+B", .unchanged, leftOut: [Self.busy]), now: now)
            guard case .scheduleRetry(let wait, let next)? = actions.first, actions.count == 1, next == generation + 1 else {
                Issue.record("not one retry: \(actions)")
                return
            }
            waits.append(wait)
        }
        #expect(waits == [1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
        #expect(machine.retries == 7)
        // The port is free: served, said so, no retry, and the next failure starts from 1 s again.
        now += .seconds(30)
        #expect(machine.handle(.retryTimerFired(generation: 8), now: now) == [.apply("A+B")])
        #expect(machine.handle(.applySucceeded("A+B", .reload), now: now) == [.logServedAgain(["b"]), .writeStatus(error: nil)])
        #expect(machine.lastError == nil && machine.leftOut.isEmpty && machine.retryText == nil)
        #expect(machine.nextRetryDelay == .seconds(1))
    }

    @Test("sections HAProxy refuses are not retried (they stay refused until the text changes); a stale retry timer does nothing")
    func refusedSectionsAreNotRetried() {
        var machine = Self.running()
        let now = Self.t0 + .seconds(2)
        let refused = Machine.LeftOut(name: "c", reason: "HAProxy refuses its sections: [ALERT] unknown keyword", retryable: false)
        _ = machine.handle(.valueArrived("A+C"), now: now)
        #expect(machine.handle(.applySucceeded("A+C", .reload, leftOut: [refused]), now: now)
            == [.logLeftOut([refused]), .writeStatus(error: Machine.summary([refused]), leftOut: [refused])])
        #expect(machine.retryText == nil)
        #expect(machine.handle(.retryTimerFired(generation: 0), now: now) == [])
        // A failure that may pass later is retried; a newer value supersedes the retry (its outcome decides).
        _ = machine.handle(.valueArrived("X"), now: now)
        #expect(machine.handle(.applyFailed("X", reason: "no answer"), now: now)
            == [.logApplyFailed(reason: "no answer"), .writeStatus(error: "no answer"), .scheduleRetry(after: .seconds(1), generation: 1)])
        #expect(machine.handle(.valueArrived("Y"), now: now) == [.apply("Y")])
        #expect(machine.handle(.retryTimerFired(generation: 1), now: now + .seconds(1)) == [])
        #expect(machine.handle(.applySucceeded("Y", .reload), now: now) == [.logServedAgain(["c"]), .writeStatus(error: nil)])
        #expect(machine.handle(.retryTimerFired(generation: 1), now: now + .seconds(2)) == [])
    }

    @Test("a retry that fails as before says nothing new; one that fails otherwise is logged and written")
    func repeatedFailureIsQuiet() {
        var machine = Self.running()
        let now = Self.t0 + .seconds(2)
        _ = machine.handle(.valueArrived("A"), now: now)
        _ = machine.handle(.applyFailed("A", reason: "master refused"), now: now)
        #expect(machine.handle(.retryTimerFired(generation: 1), now: now) == [.apply("A")])
        #expect(machine.handle(.applyFailed("A", reason: "master refused"), now: now) == [.scheduleRetry(after: .seconds(2), generation: 2)])
        #expect(machine.handle(.retryTimerFired(generation: 2), now: now) == [.apply("A")])
        #expect(machine.handle(.applyFailed("A", reason: "no worker"), now: now)
            == [.logApplyFailed(reason: "no worker"), .writeStatus(error: "no worker"), .scheduleRetry(after: .seconds(4), generation: 3)])
        // A retry that comes while HAProxy restarts waits for it to serve.
        _ = machine.handle(.haproxyExited("killed"), now: now)
        #expect(machine.handle(.retryTimerFired(generation: 3), now: now) == [])
        #expect(machine.pending == "A")
        _ = machine.handle(.restartTimerFired, now: now + .seconds(1))
        #expect(machine.handle(.haproxyReady, now: now + .seconds(1)) == [.apply("A")])
    }
}
