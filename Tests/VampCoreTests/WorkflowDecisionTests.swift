import Foundation
import Testing
import VampCore
import VampModel
import VampTesting

/// Issue 25: what a `time` schedule says to do at a moment (start, wait, finished) and how an `event` workflow's
/// trigger coalesces a flood of events, with a `now` instead of a clock.
@Suite("Workflow timing: decisions")
struct WorkflowDecisionTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static func every(_ period: String, repeat repeatCount: Int? = nil, from start: Date = start) -> TimeSchedule {
        TimeSchedule(start: start, period: ISO8601Duration(period)!, repeatCount: repeatCount)
    }

    @Test("a start in the future waits for it; at it slot 0 starts; then the schedule waits for slot 1")
    func futureStart() {
        let schedule = Self.every("PT2S")
        #expect(schedule.decide(lastStarted: nil, running: false, now: Self.start - 3600) == .wait(until: Self.start))
        #expect(schedule.decide(lastStarted: nil, running: true, now: Self.start - 1) == .wait(until: Self.start))
        #expect(schedule.decide(lastStarted: nil, running: false, now: Self.start) == .start(slot: 0, due: Self.start, skipped: 0))
        #expect(schedule.decide(lastStarted: 0, running: false, now: Self.start + 1.9) == .wait(until: Self.start + 2))
        #expect(schedule.decide(lastStarted: 0, running: true, now: Self.start + 1.9) == .wait(until: Self.start + 2))
        #expect(schedule.decide(lastStarted: 0, running: false, now: Self.start + 2) == .start(slot: 1, due: Self.start + 2, skipped: 0))
    }

    @Test("a start in the past runs the newest slot once at once, and skips the ones before")
    func pastStart() {
        let schedule = Self.every("PT1M")
        #expect(schedule.decide(lastStarted: nil, running: false, now: Self.start + 210) == .start(slot: 3, due: Self.start + 180, skipped: 3))
        #expect(schedule.decide(lastStarted: 3, running: false, now: Self.start + 210) == .wait(until: Self.start + 240))
    }

    @Test("a restart after ten missed periods runs once, not ten times")
    func restartAfterMissedPeriods() {
        let schedule = Self.every("PT10S")
        let back = Self.start + 105.5
        #expect(schedule.decide(lastStarted: 0, running: false, now: back, lastEnded: Self.start + 3) == .start(slot: 10, due: Self.start + 100, skipped: 9))
        #expect(schedule.decide(lastStarted: 10, running: true, now: back + 0.1) == .wait(until: Self.start + 110))
        #expect(schedule.decide(lastStarted: 10, running: false, now: back + 1, lastEnded: back + 1) == .wait(until: Self.start + 110))
    }

    @Test("a long run: the slots that come due while it goes are skipped, not queued; the next slot after it starts")
    func longRunSkips() {
        let schedule = Self.every("PT1M")
        // Slot 0 runs from 0 s to 150 s: slots 1 (60 s) and 2 (120 s) come due while it goes.
        #expect(schedule.decide(lastStarted: 0, running: true, now: Self.start + 60) == .wait(until: Self.start + 120))
        #expect(schedule.decide(lastStarted: 0, running: true, now: Self.start + 120) == .wait(until: Self.start + 180))
        let ended = Self.start + 150
        #expect(schedule.decide(lastStarted: 0, running: false, now: ended, lastEnded: ended) == .wait(until: Self.start + 180))
        #expect(schedule.decide(lastStarted: 0, running: false, now: Self.start + 180, lastEnded: ended) == .start(slot: 3, due: Self.start + 180, skipped: 2))
        // A slot due the moment the run ended did not come due while it was going.
        #expect(schedule.decide(lastStarted: 0, running: false, now: Self.start + 120, lastEnded: Self.start + 120) == .start(slot: 2, due: Self.start + 120, skipped: 1))
        // Without the end (not known), a slot that came due is started once no run is going.
        #expect(schedule.decide(lastStarted: 0, running: false, now: ended) == .start(slot: 2, due: Self.start + 120, skipped: 1))
    }

    @Test("repeat counts: finished once the last slot has been started or skipped")
    func repeatCounts() {
        let three = Self.every("PT1M", repeat: 3)
        #expect(three.decide(lastStarted: 1, running: false, now: Self.start + 90) == .wait(until: Self.start + 120))
        #expect(three.decide(lastStarted: 1, running: false, now: Self.start + 120) == .start(slot: 2, due: Self.start + 120, skipped: 0))
        #expect(three.decide(lastStarted: 2, running: true, now: Self.start + 121) == .finished)
        #expect(three.decide(lastStarted: 2, running: false, now: Self.start + 999) == .finished)
        // Long after the end with nothing started: the last slot runs, once.
        #expect(three.decide(lastStarted: nil, running: false, now: Self.start + 9999) == .start(slot: 2, due: Self.start + 120, skipped: 2))
        // The last slot came due while slot 1 was running: skipped, and so finished.
        #expect(three.decide(lastStarted: 1, running: true, now: Self.start + 130) == .finished)
        #expect(three.decide(lastStarted: 1, running: false, now: Self.start + 150, lastEnded: Self.start + 140) == .finished)
        let once = Self.every("P1D", repeat: 1)
        #expect(once.decide(lastStarted: nil, running: false, now: Self.start) == .start(slot: 0, due: Self.start, skipped: 0))
        #expect(once.decide(lastStarted: 0, running: true, now: Self.start + 1) == .finished)
        #expect(Self.every("PT1M", repeat: 0).decide(lastStarted: nil, running: false, now: Self.start) == .finished)
        // Odd inputs give an answer, not an overflow.
        #expect(Self.every("PT1M", repeat: Int.min).decide(lastStarted: nil, running: false, now: Self.start) == .finished)
        #expect(Self.every("PT1M").decide(lastStarted: Int.max, running: false, now: Self.start) == .wait(until: .distantFuture))
        #expect(Self.every("P1M").decide(lastStarted: nil, running: false, now: .distantFuture) == .start(slot: 23_687, due: Self.every("P1M").slotTime(23_687), skipped: 23_687))
    }

    @Test("calendar periods: slots on the month's last day from a start on the 31st")
    func calendarSlots() {
        let monthly = Self.every("P1M", from: WorkflowTimingTests.date("2028-01-31T06:00:00Z"))
        #expect(monthly.decide(lastStarted: 0, running: false, now: WorkflowTimingTests.date("2028-03-01T00:00:00Z"))
            == .start(slot: 1, due: WorkflowTimingTests.date("2028-02-29T06:00:00Z"), skipped: 0))
        #expect(monthly.decide(lastStarted: 1, running: false, now: WorkflowTimingTests.date("2028-03-01T00:00:00Z"))
            == .wait(until: WorkflowTimingTests.date("2028-03-31T06:00:00Z")))
        #expect(monthly.decide(lastStarted: 1, running: false, now: WorkflowTimingTests.date("2038-05-31T05:59:59Z"))
            == .start(slot: 123, due: WorkflowTimingTests.date("2038-04-30T06:00:00Z"), skipped: 121))
        #expect(monthly.slotTime(123) == WorkflowTimingTests.date("2038-04-30T06:00:00Z"))
    }

    /// A stand-in for the executor: it acts on every decision at once and wakes exactly when told to (or when its
    /// run ends), with server outages where time passes and nothing wakes.
    struct Simulation {
        var schedule: TimeSchedule
        var now: Date
        var lastStarted: Int?
        var run: (slot: Int, ends: Date)?
        var lastEnded: Date?
        var starts: [(slot: Int, at: Date, skipped: Int, late: Bool)] = []
        var finished = false

        /// Runs until finished or `steps` decisions; `runLength` gives each run's length, `outage` the length of an
        /// outage before a wake (0: none).
        mutating func go(steps: Int, runLength: (Int) -> Double, outage: () -> Double) {
            var resumed = true
            for _ in 0..<steps {
                if let run, run.ends <= now {
                    lastEnded = run.ends
                    self.run = nil
                }
                let decision = schedule.decide(lastStarted: lastStarted, running: run != nil, now: now, lastEnded: lastEnded)
                var wake: Date
                switch decision {
                case .start(let slot, let due, let skipped):
                    #expect(run?.slot == nil, "started slot \(slot) while slot \(String(describing: run?.slot)) runs")
                    #expect(slot > lastStarted ?? -1 && due <= now && due == schedule.slotTime(slot))
                    #expect(skipped == slot - (lastStarted ?? -1) - 1)
                    #expect(schedule.repeatCount.map { slot < $0 } ?? true)
                    #expect(schedule.slotTime(slot + 1) > now || schedule.repeatCount == slot + 1, "slot \(slot) is the newest due")
                    if let lastEnded, skipped > 0, !resumed {
                        #expect(schedule.slotTime(slot - 1) < lastEnded, "a slot that came due after the run was skipped")
                    }
                    starts.append((slot, now, skipped, now != due))
                    lastStarted = slot
                    let ends = now + runLength(slot)
                    run = (slot, ends)
                    wake = ends
                case .wait(let until):
                    #expect(until > now)
                    #expect(until == schedule.slotTime((lastStarted ?? -1) + 1) || run != nil || lastEnded != nil)
                    wake = min(until, run?.ends ?? until)
                case .finished:
                    guard let count = schedule.repeatCount else {
                        Issue.record("a schedule without a repeat count finished")
                        return
                    }
                    #expect((lastStarted ?? -1) >= count - 1 || schedule.slotTime(count - 1) <= now)
                    guard let run else {
                        finished = true
                        return
                    }
                    wake = run.ends
                }
                let gap = outage()
                resumed = gap > 0
                if resumed {
                    // A server that stops loses its run and the run's end; the next one sees neither.
                    run = nil
                    lastEnded = nil
                }
                now = max(wake, now) + gap
            }
        }
    }

    @Test("every 2 s for 20 s with 0.5 s runs: ten runs, each on time")
    func simulatedTimer() {
        var simulation = Simulation(schedule: Self.every("PT2S", repeat: 10), now: Self.start - 5)
        simulation.go(steps: 100, runLength: { _ in 0.5 }, outage: { 0 })
        #expect(simulation.finished)
        #expect(simulation.starts.map { $0.slot } == Array(0..<10))
        #expect(simulation.starts.allSatisfy { !$0.late && $0.skipped == 0 })
    }

    @Test("property: over 300 seeded schedules, never two runs at once, never a slot twice, never a late start but after an outage")
    func seededSchedules() {
        var random = SeededRandom(seed: 2025)
        let periods = ["PT1S", "PT2S", "PT0.25S", "PT1M", "PT1H30M", "P1D", "P1W", "P1M", "P1Y", "P1M1D", "P1DT0.5S", "PT7.75S"]
        var totalStarts = 0
        for index in 0..<300 {
            let period = ISO8601Duration(random.pick(periods))!
            let start = Self.start + Double(random.int(-1_000_000...1_000_000)) / 10
            let schedule = TimeSchedule(start: start, period: period, repeatCount: random.bool() ? random.int(1...30) : nil)
            // Runs from a tenth of a period to three and a half periods long (by the period's first slot).
            let length = schedule.slotTime(1).timeIntervalSince(schedule.slotTime(0))
            let runLengths = (0..<64).map { _ in length * Double(random.int(1...35)) / 10 }
            let outages = (0..<64).map { _ in random.int(0...9) == 0 ? length * Double(random.int(1...50)) / 10 : 0 }
            var simulation = Simulation(schedule: schedule, now: start + Double(random.int(-100...100)) * length / 10)
            var outage = 0, outagesTaken = 0
            simulation.go(steps: 60, runLength: { runLengths[$0 % 64] }, outage: {
                outage += 1
                if outages[outage % 64] > 0 { outagesTaken += 1 }
                return outages[outage % 64]
            })
            let slots = simulation.starts.map { $0.slot }
            #expect(slots == slots.sorted() && Set(slots).count == slots.count, "schedule \(index)")
            // A start is late only as the first one or after an outage.
            let lateStarts = simulation.starts.dropFirst().filter { $0.late }.count
            #expect(lateStarts <= outagesTaken, "schedule \(index)")
            totalStarts += slots.count
        }
        #expect(totalStarts > 3000)
    }

    @Test("property: decisions at random moments never start a slot already started, nor one while running")
    func monotone() {
        var random = SeededRandom(seed: 31)
        for _ in 0..<400 {
            let schedule = TimeSchedule(
                start: Self.start, period: ISO8601Duration(random.pick(["PT1S", "PT3M", "P1M", "P1Y2M3DT4H", "PT0.001S"]))!,
                repeatCount: random.bool() ? random.int(1...1000) : nil)
            let lastStarted = random.bool() ? nil : random.int(0...5000)
            let running = random.bool()
            let now = Self.start + Double(random.int(-10_000...1_000_000_000)) / 1000 * (random.bool() ? 1 : 1000)
            switch schedule.decide(lastStarted: lastStarted, running: running, now: now) {
            case .start(let slot, let due, _):
                #expect(!running)
                #expect(slot > lastStarted ?? -1 && due <= now)
                #expect(schedule.slotTime(slot + 1) > now || slot + 1 == schedule.repeatCount)
            case .wait(let until): #expect(until > now)
            case .finished: #expect(schedule.repeatCount != nil)
            }
        }
    }

    // MARK: Event trigger

    @Test("an event with the workflow's tags starts a run; group tags count; other events do nothing")
    func eventMatching() {
        var trigger = EventTrigger(tags: ["deployments:shop", "synchronization"])
        let deployed = Event(tags: ["deployments:shop", "synchronization:deployed"])
        #expect(trigger.matches(deployed))
        #expect(!trigger.matches(Event(tags: ["deployments:shop"])))
        #expect(!trigger.matches(Event(tags: ["deployments:shopping", "synchronization"])))
        #expect(trigger.received(Event(tags: ["gateways:g"])) == .idle)
        #expect(!trigger.running)
        #expect(trigger.received(deployed) == .start(deployed))
        #expect(trigger.running)
    }

    @Test("a flood of events during a run yields exactly one more run, with the newest event")
    func eventCoalescing() {
        var trigger = EventTrigger(tags: ["metrics"])
        let first = Event(id: "0", tags: ["metrics"])
        #expect(trigger.received(first) == .start(first))
        let flood = (1...100).map { Event(id: "\($0)", tags: ["metrics", "gateways:g"]) }
        for event in flood {
            #expect(trigger.received(event) == .coalesced)
        }
        #expect(trigger.received(Event(tags: ["health"])) == .idle)
        #expect(trigger.coalesced == 100)
        #expect(trigger.pending?.id == "100")
        #expect(trigger.finished() == .start(flood[99]))
        #expect(trigger.running && trigger.pending == nil)
        #expect(trigger.finished() == .idle)
        #expect(!trigger.running)
        #expect(trigger.finished() == .idle)
        let next = Event(id: "101", tags: ["metrics"])
        #expect(trigger.received(next) == .start(next))
    }
}
