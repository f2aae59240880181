@testable import ContainerDrivers
import Testing

/// ``LocalInstanceLife``, the local driver's state machine of one instance, with plain values: no process, no clock.
@Suite("LocalInstanceLife")
struct LocalInstanceLifeTests {
    static let policy = LocalInstanceLife.Policy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), reset: .seconds(10))
    static let start = ContinuousClock.now

    /// `life` after `events`, each at `start` plus its offset; the effects of the last one.
    static func after(
        _ events: [(LocalInstanceLife.Event, Duration)], from life: LocalInstanceLife = LocalInstanceLife()
    ) -> (LocalInstanceLife, [LocalInstanceLife.Effect]) {
        var life = life
        var effects: [LocalInstanceLife.Effect] = []
        for (event, offset) in events { effects = life.handle(event, now: start + offset, policy: policy) }
        return (life, effects)
    }

    @Test func aStartedProcessIsProbedThenReadyThenDown() {
        var (life, effects) = Self.after([(.started(pid: 41), .zero)])
        #expect(life.state == .probing(pid: 41))
        #expect(effects == [.startProbe(pid: 41)])
        #expect(!life.isUp)
        #expect(life.pid == 41)

        effects = life.handle(.readiness(pid: 41, up: true), now: Self.start + .seconds(1), policy: Self.policy)
        #expect(life.state == .ready(pid: 41, since: Self.start + .seconds(1)))
        #expect(effects == [.notify])
        #expect(life.isUp)
        // Up again is no change.
        #expect(life.handle(.readiness(pid: 41, up: true), now: Self.start + .seconds(2), policy: Self.policy).isEmpty)

        effects = life.handle(.readiness(pid: 41, up: false), now: Self.start + .seconds(3), policy: Self.policy)
        #expect(life.state == .probing(pid: 41))
        #expect(effects == [.notify])
    }

    @Test func aProbeOfAnEarlierProcessIsIgnored() {
        let (life, effects) = Self.after([(.started(pid: 41), .zero), (.exited("killed by signal 9"), .seconds(1)), (.started(pid: 42), .seconds(2)),
                                          (.readiness(pid: 41, up: true), .seconds(3))])
        #expect(life.state == .probing(pid: 42))
        #expect(effects.isEmpty)
    }

    @Test func exitsInARowDoubleTheWaitUpToTheMaximum() {
        var life = LocalInstanceLife()
        var delays: [Duration] = []
        for exit in 0..<6 {
            let at = Duration.seconds(exit)
            _ = life.handle(.started(pid: Int32(100 + exit)), now: Self.start + at, policy: Self.policy)
            let effects = life.handle(.exited("exited with status 3"), now: Self.start + at + .milliseconds(10), policy: Self.policy)
            #expect(effects.contains(.stopProbe))
            #expect(effects.contains(.notify))
            for case .restart(let delay) in effects { delays.append(delay) }
        }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(life.exitsInARow == 6)
        #expect(life.lastExit == "exited with status 3")
        #expect(life.state == .exited(restartAt: Self.start + .seconds(5) + .milliseconds(10) + .seconds(1)))
        #expect(life.pid == nil)
    }

    @Test func anInstanceThatStayedUpStartsTheBackoffAgain() {
        let base: [(LocalInstanceLife.Event, Duration)] = [
            (.started(pid: 1), .zero), (.exited("exited with status 1"), .milliseconds(10)),
            (.started(pid: 2), .milliseconds(200)), (.readiness(pid: 2, up: true), .milliseconds(300)),
        ]
        // Up for less than the reset: the second exit in a row waits twice as long.
        let (short, shortEffects) = Self.after(base + [(.exited("exited with status 1"), .seconds(5))])
        #expect(short.exitsInARow == 2)
        #expect(shortEffects.contains(.restart(after: .milliseconds(200))))
        // Up for the reset or longer: the first wait again.
        let (long, longEffects) = Self.after(base + [(.exited("exited with status 1"), .seconds(11))])
        #expect(long.exitsInARow == 1)
        #expect(longEffects.contains(.restart(after: .milliseconds(100))))
    }

    @Test func aStoppedInstanceIsNeverRestartedAndAProcessStartedMeanwhileIsKilled() {
        var (life, effects) = Self.after([(.started(pid: 7), .zero), (.readiness(pid: 7, up: true), .seconds(1)), (.stop, .seconds(2))])
        #expect(life.state == .stopping)
        #expect(life.isStopping)
        #expect(!life.isUp)
        #expect(effects == [.stopProbe])
        #expect(life.handle(.stop, now: Self.start, policy: Self.policy).isEmpty)
        #expect(life.handle(.readiness(pid: 7, up: true), now: Self.start, policy: Self.policy).isEmpty)
        #expect(life.handle(.started(pid: 8), now: Self.start, policy: Self.policy) == [.kill(pid: 8)])
        effects = life.handle(.exited("killed by signal 15"), now: Self.start + .seconds(3), policy: Self.policy)
        #expect(effects == [.stopProbe, .notify])
        #expect(life.state == .stopping)
        #expect(life.lastExit == "killed by signal 15")
        #expect(life.exitsInARow == 0)
    }

    @Test func aProcessThatCannotStartCountsAsAnExit() {
        let (life, effects) = Self.after([(.exited("not started: no such file"), .zero)])
        #expect(life.state == .exited(restartAt: Self.start + .milliseconds(100)))
        #expect(effects == [.stopProbe, .notify, .restart(after: .milliseconds(100))])
        // A started event for a running instance changes nothing.
        var running = Self.after([(.started(pid: 3), .zero)]).0
        #expect(running.handle(.started(pid: 4), now: Self.start, policy: Self.policy).isEmpty)
        #expect(running.state == .probing(pid: 3))
    }

    @Test func anAdoptedProcessKeepsTheReadinessItsRecordSays() {
        let (wasUp, upEffects) = Self.after([(.adopted(pid: 9, wasUp: true), .seconds(1))])
        #expect(wasUp.state == .ready(pid: 9, since: Self.start + .seconds(1)))
        #expect(wasUp.isUp)
        #expect(upEffects == [.startProbe(pid: 9)])
        let (unknown, unknownEffects) = Self.after([(.adopted(pid: 9, wasUp: false), .zero)])
        #expect(unknown.state == .probing(pid: 9))
        #expect(unknownEffects == [.startProbe(pid: 9)])
        // Only an instance that has no process yet is adopted.
        var running = wasUp
        #expect(running.handle(.adopted(pid: 10, wasUp: true), now: Self.start, policy: Self.policy).isEmpty)
        #expect(running.pid == 9)
    }
}
