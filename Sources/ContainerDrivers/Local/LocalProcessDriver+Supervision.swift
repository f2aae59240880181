import Foundation
import Logging
import ServiceLifecycle
import Subprocess
import SystemPackage
import VampConcurrency
import VampModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local driver's supervision of its processes (started, watched, restarted, probed) and each instance's life
/// (``LocalProcessDriver`` keeps the state; these run as jobs under its `run()`).
extension LocalProcessDriver {
    // MARK: - Supervision

    func startSupervisor(_ id: ServiceIdentity, _ index: Int) {
        guard let token = running[id]?.instances[index]?.token else { return }
        running[id]?.instances[index]?.supervisor = work.start { await self.supervise(id, index, token) }
    }

    /// Runs the instance until it is stopped or the driver stops: adopts its recorded process when that still runs,
    /// otherwise starts it; restarts it after every exit, with backoff.
    func supervise(_ id: ServiceIdentity, _ index: Int, _ token: UUID) async {
        var mayAdopt = true
        while !Task.isCancelled, let instance = instance(id, index, token), !instance.life.isStopping {
            let exit: String?
            if mayAdopt, let pid = instance.record.pid, let startTime = instance.record.startTime,
                LocalProcesses.isAlive(pid: pid, startTime: startTime)
            {
                // Adopted when the records were read, unless it was not running then.
                if instance.life.pid != pid { processStarted(id, index, token, pid: pid, startTime: startTime) }
                while !Task.isCancelled, LocalProcesses.isAlive(pid: pid, startTime: startTime) {
                    try? await Task.sleep(for: configuration.pollInterval)
                }
                exit = "exited (status unknown: adopted, not a child of this server)"
            } else {
                if mayAdopt, let pid = instance.record.pid { LocalProcesses.killOrphans(of: pid) }
                exit = await launch(id, index, token, instance.record)
            }
            mayAdopt = false
            // Cancelled: the driver stops (the process keeps running) or the instance is being stopped.
            guard !Task.isCancelled, let exit, let delay = processExited(id, index, token, exit: exit) else { return }
            try? await Task.sleep(for: delay)
        }
    }

    /// Starts the instance's process and returns when it has exited, with its exit status in words; nil when the
    /// supervisor is cancelled first (the process goes on).
    ///
    /// The run is recorded before the process starts, and the process carries it as its marker: a server killed
    /// before the pid is recorded leaves a process that the next driver adopts by its marker, never a second one.
    func launch(_ id: ServiceIdentity, _ index: Int, _ token: UUID, _ record: LocalInstanceRecord) async -> String? {
        guard phase != .stopped, instance(id, index, token) != nil else { return nil }
        var record = record
        let run = UUID().uuidString.lowercased()
        record.run = run
        record.pid = nil
        record.startTime = nil
        do {
            try store.write(record)
        } catch {
            return "not started: cannot record its run in \(directory.path): \(error)"
        }
        running[id]?.instances[index]?.record = record
        let ports = record.launch.ports.compactMap { name in record.ports[name].map { (name: name, number: $0) } }
        let user = configuration.user
        let environment = LocalProcessPlan.environment(
            specification: record.launch.environment, ports: ports, server: serverEnvironment, user: user,
            marker: LocalProcessPlan.marker(owner: owner, run: run))
        let log: FileDescriptor
        let folder: URL
        do {
            folder = try user.map { try LocalUserFolders.prepare(root: configuration.userWorkDirectory, key: LocalRecordStore.key(id), for: $0) }
                ?? workingDirectory
        } catch {
            return "not started: cannot prepare the working folder of user \(user?.name ?? "?") in \(configuration.userWorkDirectory.path): \(error)"
        }
        do {
            // The server writes the log (the process inherits the open file): owner-only, in the state directory.
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: record.logFile).deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            log = try FileDescriptor.open(
                FilePath(record.logFile), .writeOnly, options: [.append, .create], permissions: [.ownerReadWrite])
            let ports = ports.map { "\($0.name)=\($0.number)" }.joined(separator: " ")
            _ = try log.writeAll("--- \(Date()) starting \(record.name) (\(ports)): \(record.launch.command)\n".utf8)
        } catch {
            return "not started: cannot open the log file \(record.logFile): \(error)"
        }
        var options = PlatformOptions()
        options.createSession = true
        if let user {
            // Group first, then user (swift-subprocess's order); no supplementary group of the server's is kept.
            options.groupID = user.gid
            options.userID = user.uid
            options.supplementaryGroups = [user.gid]
        }
        let command = record.launch.command
        let workingDirectory = FilePath(folder.path)
        let keys = Dictionary(uniqueKeysWithValues: environment.compactMap { key, value in
            Environment.Key(rawValue: key).map { ($0, value) }
        })
        let crashPoint = configuration.crashPoint
        let (ended, end) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        // Not a child of run(), on purpose: cancelling swift-subprocess's run kills the child, and the child must
        // outlive the driver. This task ends with the child, reaping it; the supervisor only stops listening.
        Task.detached {
            let words: String
            do {
                let status = try await Subprocess.run(
                    .path("/bin/sh"), arguments: ["-c", command], environment: .custom(keys), workingDirectory: workingDirectory,
                    platformOptions: options, input: .none, output: .fileDescriptor(log, closeAfterSpawningProcess: true),
                    error: .combinedWithOutput
                ) { execution in
                    let pid = execution.processIdentifier.value
                    crashPoint?(.spawned)
                    await self.processStarted(id, index, token, pid: pid, startTime: LocalProcesses.startTime(of: pid), launched: record)
                }.terminationStatus
                switch status {
                case .exited(let code): words = "exited with status \(code)"
                case .signaled(let signal): words = "killed by signal \(signal)"
                }
            } catch {
                words = "not started: \(error)"
            }
            end.yield(words)
            end.finish()
        }
        for await words in ended { return words }
        return nil
    }

    /// The instance's process runs (`launched` with this record, or adopted).
    func processStarted(
        _ id: ServiceIdentity, _ index: Int, _ token: UUID, pid: Int32, startTime: UInt64?, launched: LocalInstanceRecord? = nil
    ) {
        if phase == .stopped {
            // Started while the driver stopped: recorded all the same, so the next driver adopts it.
            if var record = launched {
                record.pid = pid
                record.startTime = startTime
                try? store.write(record)
            }
            return
        }
        guard let instance = instance(id, index, token) else {
            // Stopped and forgotten while its process started: nothing would ever watch it.
            if launched != nil { LocalProcesses.signalGroup(pid, SIGKILL) }
            return
        }
        let effects = transition(id, index, token, .started(pid: pid))
        if effects.contains(.kill(pid: pid)) {
            LocalProcesses.signalGroup(pid, SIGKILL)
            return
        }
        var record = instance.record
        record.pid = pid
        record.startTime = startTime
        record.up = false
        running[id]?.instances[index]?.record = record
        save(record)
        logger.info(
            launched == nil ? "adopted a running instance" : "instance started",
            metadata: metadata(record).merging(["vamp.log": "\(record.logFile)"]) { $1 })
        perform(effects, id, index, token)
    }

    func readinessChanged(_ id: ServiceIdentity, _ index: Int, _ token: UUID, pid: Int32, up: Bool) {
        guard phase != .stopped, var record = instance(id, index, token)?.record else { return }
        let effects = transition(id, index, token, .readiness(pid: pid, up: up))
        guard effects.contains(.notify) else { return }
        // Kept, so that a driver that adopts the process after a restart goes on giving it traffic.
        record.up = up
        running[id]?.instances[index]?.record = record
        save(record)
        if up {
            logger.info("instance up", metadata: metadata(record))
        } else {
            logger.warning("instance down", metadata: metadata(record))
        }
        perform(effects, id, index, token)
    }

    /// Records the exit; returns the wait before the restart, or `nil` when the instance is not to be restarted.
    func processExited(_ id: ServiceIdentity, _ index: Int, _ token: UUID, exit: String) -> Duration? {
        guard phase != .stopped, let instance = instance(id, index, token) else { return nil }
        var record = instance.record
        if let pid = record.pid { LocalProcesses.killOrphans(of: pid) }
        record.pid = nil
        record.startTime = nil
        record.up = nil
        running[id]?.instances[index]?.record = record
        let effects = transition(id, index, token, .exited(exit))
        perform(effects, id, index, token)
        let delay = effects.lazy.compactMap { effect -> Duration? in
            if case .restart(let delay) = effect { return delay }
            return nil
        }.first
        guard let delay else {
            logger.info("instance exited", metadata: metadata(record).merging(["vamp.exit": "\(exit)"]) { $1 })
            return nil
        }
        save(record)
        logger.warning(
            "instance exited; restarting it",
            metadata: metadata(record).merging([
                "vamp.exit": "\(exit)", "vamp.restart_in": "\(delay)",
                "vamp.exits_in_a_row": "\(running[id]?.instances[index]?.life.exitsInARow ?? 0)", "vamp.log": "\(record.logFile)",
            ]) { $1 })
        return delay
    }

    // MARK: - The instance's life

    /// Feeds `event` to the instance's ``LocalInstanceLife``; returns the effects to perform.
    func transition(_ id: ServiceIdentity, _ index: Int, _ token: UUID, _ event: LocalInstanceLife.Event) -> [LocalInstanceLife.Effect] {
        guard instance(id, index, token) != nil else { return [] }
        return running[id]?.instances[index]?.life.handle(event, now: .now, policy: policy) ?? []
    }

    /// Performs the effects of a transition that concern probes and listeners (restarts and kills are the caller's).
    func perform(_ effects: [LocalInstanceLife.Effect], _ id: ServiceIdentity, _ index: Int, _ token: UUID) {
        for effect in effects {
            switch effect {
            case .startProbe(let pid):
                guard let record = instance(id, index, token)?.record else { continue }
                let (ports, checks) = (record.ports, record.launch.checks)
                running[id]?.instances[index]?.probe = work.start {
                    await LocalProcesses.watchReadiness(ports: ports, checks: checks) { up in
                        await self.readinessChanged(id, index, token, pid: pid, up: up)
                    }
                }
            case .stopProbe:
                work.cancel(instance(id, index, token)?.probe)
                if instance(id, index, token) != nil { running[id]?.instances[index]?.probe = nil }
            case .notify:
                notices.signal()
            case .restart, .kill:
                break
            }
        }
    }

    // MARK: - Helpers

    func instance(_ id: ServiceIdentity, _ index: Int, _ token: UUID) -> InstanceState? {
        guard let instance = running[id]?.instances[index], instance.token == token else { return nil }
        return instance
    }

    func save(_ record: LocalInstanceRecord) {
        guard phase != .stopped else { return }
        do {
            try store.write(record)
        } catch {
            logger.error("cannot write an instance record", metadata: metadata(record).merging(["vamp.error": "\(error)"]) { $1 })
        }
    }

    func metadata(_ id: ServiceIdentity) -> Logger.Metadata {
        if let workflow = id.workflow { return ["vamp.workflow": "\(workflow)", "vamp.breed": "\(id.service)"] }
        return ["vamp.deployment": "\(id.deployment)", "vamp.cluster": "\(id.cluster)", "vamp.service": "\(id.service)"]
    }

    func metadata(_ record: LocalInstanceRecord) -> Logger.Metadata {
        var metadata = metadata(record.id)
        metadata["vamp.instance"] = "\(record.name)"
        if let pid = record.pid { metadata["vamp.pid"] = "\(pid)" }
        metadata["vamp.ports"] = "\(record.ports.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
        return metadata
    }
}
