import Foundation
import Logging
import Subprocess
import Synchronization
import SystemPackage
import VampModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local driver's one-off runs of workflows.
extension LocalProcessDriver {
    /// True: this driver runs one-off jobs.
    public nonisolated var runsJobs: Bool { true }

    /// Runs a `command` breed once, as the driver runs a service's command: its definition through `/bin/sh -c` in the
    /// working directory (with ``Configuration/user``, as that user in the workflow's folder under
    /// ``Configuration/userWorkDirectory``), in a session and process group of its own, with the job's environment
    /// plus the server's `PATH`, `HOME`, `LANG`, `LC_*` and `TZ` and the driver's marker (run `job-<run>`), no port.
    /// Standard output and error are read through one pipe; the last ``JobSpecification/outputLimit`` bytes are kept.
    ///
    /// Past the timeout, or when the calling task is cancelled, the whole process group gets SIGTERM, then SIGKILL
    /// after ``Configuration/gracePeriod`` if anything of it is left. When the command ends, whatever it left running
    /// in its group is killed. It returns once nothing of the group runs. A run that a crashed server left is killed by
    /// the next driver on the directory when it reads its records, as a process with its marker that no record claims.
    /// - Throws: A permanent ``ContainerDriverError`` for a breed that is not a command, an empty command or a bad run
    ///   id; a transient one once ``run()`` has ended, or when the command could not be started.
    public func runJob(_ job: JobSpecification) async throws(ContainerDriverError) -> JobOutcome {
        if let refusal = job.refusal { throw refusal }
        guard let deployable = job.breed.deployable, runs(deployable) else {
            throw ContainerDriverError(
                "breed \(job.breed.name) of workflow \(job.id.deployment) has deployable type \(job.breed.deployable?.type ?? "none"); "
                    + "the local driver runs only command (cmd)",
                permanent: true)
        }
        let command = deployable.definition.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !command.isEmpty else { throw ContainerDriverError("breed \(job.breed.name) has an empty command", permanent: true) }
        // The records are read (and processes with the marker that nobody owns killed) before this run has a marker.
        try openForChanges()
        let user = configuration.user
        let folder: URL
        do {
            folder = try user.map { try LocalUserFolders.prepare(root: configuration.userWorkDirectory, key: LocalRecordStore.key(job.id), for: $0) }
                ?? workingDirectory
        } catch {
            throw ContainerDriverError(
                "cannot prepare the working folder of user \(user?.name ?? "?") in \(configuration.userWorkDirectory.path): \(error)", cause: error)
        }
        let environment = LocalProcessPlan.environment(
            specification: job.environment, ports: [], server: serverEnvironment, user: user,
            marker: LocalProcessPlan.marker(owner: owner, run: LocalJob.markerRun(job.run)))
        var details = metadata(job.id)
        details["vamp.run"] = "\(job.run)"
        logger.info("one-off run starting", metadata: details)
        let outcome = try await LocalJob.run(LocalJob.Launch(
            command: command, environment: environment, workingDirectory: folder.path, user: user, timeout: job.timeout,
            gracePeriod: configuration.gracePeriod, outputLimit: job.outputLimit))
        details["vamp.exit"] = "\(outcome.exitStatus.map { "status \($0)" } ?? outcome.signal.map { "signal \($0)" } ?? "unknown")"
        logger.info(outcome.timedOut ? "one-off run timed out" : outcome.cancelled ? "one-off run cancelled" : "one-off run ended", metadata: details)
        return outcome
    }
}

/// One one-off run of a command as a local process group (``LocalProcessDriver/runJob(_:)``).
enum LocalJob {
    /// What to run and how.
    struct Launch: Sendable {
        var command: String
        var environment: [String: String]
        var workingDirectory: String
        var user: LocalUser?
        var timeout: Duration
        var gracePeriod: Duration
        var outputLimit: Int
    }

    /// The run in the marker of a job's processes: never a service instance's (those are UUIDs), so the next driver kills
    /// a leftover as nobody's.
    static func markerRun(_ run: String) -> String { "job-\(run)" }

    /// Why a run was stopped.
    enum Stop: Sendable {
        case timedOut
        case cancelled
    }

    /// The group's leader, shared by the task that runs it and the one that stops it.
    final class Leader: Sendable {
        private let state = Mutex<(pid: Int32?, done: Bool)>((nil, false))

        func started(_ pid: Int32) { state.withLock { $0.pid = pid } }
        func finished() { state.withLock { $0.done = true } }
        var pid: Int32? { state.withLock { $0.pid } }
        var done: Bool { state.withLock { $0.done } }
    }

    /// Runs the command to its end, or until it is stopped (timeout, cancellation of the caller); returns once nothing
    /// of its process group runs.
    static func run(_ launch: Launch) async throws(ContainerDriverError) -> JobOutcome {
        let started = Date()
        if Task.isCancelled { return JobOutcome(exitStatus: nil, cancelled: true, started: started, ended: started) }
        let deadline = ContinuousClock.now + launch.timeout
        let leader = Leader()
        let (ended, end) = AsyncStream.makeStream(of: Void.self)
        // Not a child task: cancelling swift-subprocess's run kills the leader alone, at once. The run is stopped by
        // `terminate` instead (the whole group, SIGTERM first), and this task is awaited below: nothing outlives the call.
        let execution = Task.detached {
            defer {
                leader.finished()
                end.finish()
            }
            return await execute(launch, leader)
        }
        let stop: Stop? = await withTaskGroup(of: Stop?.self) { group in
            group.addTask {
                for await _ in ended {}
                return Task.isCancelled ? .cancelled : nil
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        var signalSent: Int32?
        if stop != nil { signalSent = await withoutCancellation { await terminate(leader, gracePeriod: launch.gracePeriod) } }
        let result = await execution.value
        if let pid = leader.pid {
            // The command ended: what it left running in its group goes with it.
            LocalProcesses.killOrphans(of: pid)
            _ = await withoutCancellation { await LocalProcesses.waitUntilGone(pid, within: .seconds(2)) }
        }
        let (status, tail) = try result.get()
        // Stopped only when a signal was sent: a command that ended as its time ran out ended on its own.
        let stopped = signalSent == nil ? nil : stop
        var outcome = JobOutcome(
            exitStatus: nil, timedOut: stopped == .timedOut, cancelled: stopped == .cancelled, output: tail.text, started: started, ended: Date())
        switch status {
        case .exited(let code): if stopped == nil { outcome.exitStatus = code } else { outcome.signal = signalSent }
        case .signaled(let signal): outcome.signal = signal
        }
        return outcome
    }

    /// Stops the group: SIGTERM, then SIGKILL once the grace period is over. Returns the last signal sent (nil when the
    /// command had ended already).
    static func terminate(_ leader: Leader, gracePeriod: Duration) async -> Int32? {
        // A stop asked for while the process is being spawned waits for its pid (a matter of milliseconds).
        var pid = leader.pid
        while pid == nil, !leader.done {
            try? await Task.sleep(for: .milliseconds(5))
            pid = leader.pid
        }
        guard let pid, !leader.done else { return nil }
        LocalProcesses.signalGroup(pid, SIGTERM)
        if await LocalProcesses.waitUntilGone(pid, within: gracePeriod) { return SIGTERM }
        LocalProcesses.signalGroup(pid, SIGKILL)
        _ = await LocalProcesses.waitUntilGone(pid, within: .seconds(2))
        return SIGKILL
    }

    /// Spawns `/bin/sh -c command` in a session of its own and reads its output until it ends (or the leader exited and
    /// a process it left holds the pipe: swift-subprocess ends the reading then).
    static func execute(_ launch: Launch, _ leader: Leader) async -> Result<(TerminationStatus, JobOutputTail), ContainerDriverError> {
        var options = PlatformOptions()
        options.createSession = true
        if let user = launch.user {
            // Group first, then user (swift-subprocess's order); no supplementary group of the server's is kept.
            options.groupID = user.gid
            options.userID = user.uid
            options.supplementaryGroups = [user.gid]
        }
        let keys = Dictionary(uniqueKeysWithValues: launch.environment.compactMap { key, value in
            Environment.Key(rawValue: key).map { ($0, value) }
        })
        let limit = launch.outputLimit
        do {
            let result = try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", launch.command], environment: .custom(keys),
                workingDirectory: FilePath(launch.workingDirectory), platformOptions: options, input: .none, output: .sequence,
                error: .combinedWithOutput
            ) { execution in
                leader.started(execution.processIdentifier.value)
                var tail = JobOutputTail(limit: limit)
                do {
                    for try await chunk in execution.standardOutput { chunk.withUnsafeBytes { tail.append($0) } }
                } catch {
                    // The output is cut short, not the run: its end is still awaited.
                }
                return tail
            }
            return .success((result.terminationStatus, result.closureResult))
        } catch {
            return .failure(ContainerDriverError(
                "cannot run the command of a one-off run with /bin/sh in \(launch.workingDirectory): \(error)", cause: error))
        }
    }
}
