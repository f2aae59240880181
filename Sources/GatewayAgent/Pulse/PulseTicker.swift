import Logging
import ServiceLifecycle
import Synchronization
import VampPulse

/// Pulse's once-a-second loop: at each second's start it reads HAProxy's request counters (every worker, across
/// reloads) and adds their growth to the second that just ended, closes the buckets of past seconds, updates the
/// accounting shown in `/metrics` and `/health`, and hands the buckets to the configured destination: the in-process
/// sink, or the backlog the ``PulsePusher`` sends to `vamp-server`. Waits on the configured ``PulseClock``. A graceful
/// shutdown hands what is still open to the in-process sink. HAProxy's counters are also read right before each reload
/// (``PulseCounterReader``), so that an old worker's last counts do not go with it.
struct PulseTicker: Service {
    let agent: GatewayAgent
    let recorder: PulseRecorder
    let counters: PulseCounterReader
    /// The backlog and the pusher's wake-up, when the buckets go to `vamp-server`.
    let backlog: PulseBacklog?

    var clock: any PulseClock { recorder.clock }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { [self] in
                var next = clock.now.rounded(.down) + 1
                while true {
                    try await clock.sleep(until: next)
                    let second = Int64(clock.now.rounded(.down))
                    await tick(second: second)
                    // A tick that took longer than a second goes on at the next second's start.
                    next = max(Double(second) + 1, clock.now.rounded(.down) + 1)
                }
            }
        } catch is CancellationError {
        }
        if let sink = agent.configuration.pulse.sink {
            let rest = recorder.close(before: .max)
            if !rest.isEmpty {
                await sink(rest)
                agent.metrics.update {
                    $0.pulseBuckets += rest.count
                    $0.pulseBucketsSent += rest.count
                }
            }
        }
    }

    /// One second: counters, buckets, accounting, delivery.
    func tick(second: Int64) async {
        // The counters' growth since the last read belongs, but for the read's own milliseconds, to the second that
        // just ended.
        let countsRead = await counters.read(into: second - 1)
        var buckets = recorder.close(before: second)
        if countsRead {
            // The counters were read over these seconds: a second with lines but no growth is a count of 0, not unknown.
            for index in buckets.indices where buckets[index].haproxyCounts == nil { buckets[index].haproxyCounts = [:] }
        }
        let accounting = counters.account(buckets)
        let lines = recorder.lines
        agent.metrics.update {
            $0.pulseLines = Int(clamping: lines.total)
            $0.pulseUnparsed = Int(clamping: lines.unparsed)
            $0.pulseBuckets += buckets.count
            $0.haproxyRequests = Int(clamping: accounting.haproxy)
            $0.pulseCountedRequests = Int(clamping: accounting.counted)
            $0.pulseDifferences = accounting.differences
        }
        if let sink = agent.configuration.pulse.sink {
            guard !buckets.isEmpty else { return }
            await sink(buckets)
            agent.metrics.update { $0.pulseBucketsSent += buckets.count }
        } else if let backlog {
            backlog.add(buckets, now: second, metrics: agent.metrics)
        }
    }
}

/// The buckets waiting for `vamp-server` (a ``PulseOutbox`` behind a lock), shared by the ``PulseTicker`` that fills
/// it and the ``PulsePusher`` that empties it, with the pusher's wake-up.
final class PulseBacklog: Sendable {
    private let outbox: Mutex<PulseOutbox>
    private let wake: AsyncStream<Void>.Continuation
    /// The pusher's wake-ups: one waits at most.
    let wakeUps: AsyncStream<Void>

    init(span: Int) {
        outbox = Mutex(PulseOutbox(span: Int64(span)))
        (wakeUps, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Adds closed buckets, drops what is too old, and wakes the pusher while anything waits (so a failed send is
    /// tried again each second).
    func add(_ buckets: [PulseBucket], now: Int64, metrics: AgentMetrics) {
        let (waiting, dropped) = outbox.withLock { outbox in
            outbox.add(buckets, now: now)
            return (outbox.buckets.count, outbox.dropped)
        }
        metrics.update {
            $0.pulseBacklog = waiting
            $0.pulseBucketsDropped = Int(clamping: dropped)
        }
        if waiting > 0 { wake.yield() }
    }

    /// The next buckets to send, oldest first.
    func batch(limit: Int) -> [PulseBucket] { outbox.withLock { $0.batch(limit: limit) } }

    /// Forgets the buckets sent; returns how many still wait.
    func remove(seconds: Set<Int64>) -> Int {
        outbox.withLock {
            $0.remove(seconds: seconds)
            return $0.buckets.count
        }
    }

    /// Ends the wake-ups (the agent stops).
    func finish() { wake.finish() }
}
