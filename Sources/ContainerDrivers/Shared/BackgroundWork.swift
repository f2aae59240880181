import Synchronization

/// A driver's background work, run by its `run()`: jobs can be started at any time (before `run()` they wait for it),
/// each can be cancelled on its own, and every one is cancelled, and awaited, when `run()` ends.
///
/// The jobs are child tasks of `run()` (a discarding task group fed by a queue): nothing outlives the driver's
/// service, and a job never runs without it.
final class BackgroundWork: Sendable {
    /// What a job does; it should end soon after its task is cancelled.
    typealias Work = @Sendable () async -> Void

    /// A started job, to cancel it.
    struct Job: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    private struct Queued: Sendable {
        let id: UInt64
        let work: Work
        /// Ends when the job is cancelled.
        let cancellation: AsyncStream<Void>
    }

    private enum Phase {
        case waiting, running, ended
    }

    private struct State {
        var phase = Phase.waiting
        var nextID: UInt64 = 0
        var cancellers: [UInt64: AsyncStream<Void>.Continuation] = [:]
    }

    private let state = Mutex(State())
    private let queue: AsyncStream<Queued>
    private let enqueue: AsyncStream<Queued>.Continuation

    /// Creates the work of a driver that has not run yet.
    init() {
        (queue, enqueue) = AsyncStream.makeStream()
    }

    /// Runs `work` in ``run()``: at once while it runs, when it starts before. Nil, and nothing is run, once ``run()``
    /// has ended.
    @discardableResult
    func start(_ work: @escaping Work) -> Job? {
        let (cancellation, canceller) = AsyncStream.makeStream(of: Void.self)
        let id: UInt64? = state.withLock { state in
            guard state.phase != .ended else { return nil }
            state.nextID += 1
            state.cancellers[state.nextID] = canceller
            return state.nextID
        }
        guard let id else { return nil }
        enqueue.yield(Queued(id: id, work: work, cancellation: cancellation))
        return Job(id: id)
    }

    /// Cancels the job: its task is cancelled (a job that has not started yet does not run). A job that ended is
    /// left alone.
    func cancel(_ job: Job?) {
        guard let job else { return }
        let canceller = state.withLock { $0.cancellers.removeValue(forKey: job.id) }
        canceller?.finish()
    }

    /// Runs the jobs, those started before and those started meanwhile, until the calling task is cancelled; then
    /// cancels every job and returns when all have ended. It runs once: a second call returns at once.
    func run() async {
        let first = state.withLock { state in
            guard state.phase == .waiting else { return false }
            state.phase = .running
            return true
        }
        guard first else { return }
        await withDiscardingTaskGroup { group in
            // Ends when the calling task is cancelled.
            for await job in queue {
                // Cancelled before it started: it does not run at all.
                guard state.withLock({ $0.cancellers[job.id] != nil }) else { continue }
                group.addTask {
                    await Self.perform(job)
                    _ = self.state.withLock { $0.cancellers.removeValue(forKey: job.id) }
                }
            }
            group.cancelAll()
        }
        state.withLock { state in
            state.phase = .ended
            state.cancellers = [:]
        }
        enqueue.finish()
    }

    /// Runs the job until it ends or is cancelled on its own.
    private static func perform(_ job: Queued) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await job.work() }
            group.addTask { for await _ in job.cancellation {} }
            await group.next()
            group.cancelAll()
        }
    }
}
