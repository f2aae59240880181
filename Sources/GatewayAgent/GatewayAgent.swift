import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import KVStores
public import Logging
import Synchronization

/// The Vamp Gateway Agent as a library: keeps a real HAProxy running on the configuration
/// stored under one KV key, with seamless reloads and a last known good configuration.
///
/// `run()` starts HAProxy on the last good configuration on disk (or the base alone) before
/// the first KV read, then for every change of the key (bursts coalesced): composes base +
/// user fragments + KV text, does nothing when the bytes are unchanged, validates with
/// `haproxy -c` on a temporary file, swaps it in atomically and reloads (master-worker,
/// `SIGUSR2`). A refused configuration is never loaded; a reload whose new worker does not
/// come up is rolled back. HAProxy is restarted if it dies. KV outages only delay updates:
/// the watch reconnects by itself and HAProxy keeps serving meanwhile.
public final class GatewayAgent: Sendable {
    /// The settings.
    public let configuration: GatewayAgentConfiguration
    /// The counters.
    public let metrics = AgentMetrics()
    let store: any KeyValueStore
    let logger: Logger
    let haproxy: HAProxyMaster
    private let latest = Mutex<[UInt8]?>(nil)

    /// Creates an agent watching `configuration.key` in `store`.
    public init(configuration: GatewayAgentConfiguration, store: any KeyValueStore, logger: Logger = Logger(label: "vamp.gateway-agent")) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.haproxy = HAProxyMaster(
            executable: configuration.haproxyExecutable,
            configurationFile: configuration.workDirectory.appendingPathComponent("haproxy.cfg"),
            masterSocket: configuration.workDirectory.appendingPathComponent("master.sock").path,
            pidFile: configuration.workDirectory.appendingPathComponent("haproxy.pid"),
            output: configuration.haproxyOutput, leavesRunning: configuration.leavesHAProxyRunning,
            retireGrace: (configuration.hardStopAfter ?? .seconds(30)) + .seconds(5), logger: logger)
    }

    var configurationFile: URL { configuration.workDirectory.appendingPathComponent("haproxy.cfg") }
    /// The configuration that ran before the last apply, for a start after the agent stopped mid-apply.
    var previousFile: URL { configuration.workDirectory.appendingPathComponent("haproxy.cfg.previous") }

    var base: String {
        configuration.baseConfiguration
            ?? GatewayAgentConfiguration.defaultBaseConfiguration(
                logPort: configuration.logPort, logSocket: configuration.logSocket, hardStopAfter: configuration.hardStopAfter)
    }

    /// Runs until the task is cancelled, then stops HAProxy (or leaves it serving, when
    /// ``GatewayAgentConfiguration/leavesHAProxyRunning``).
    public func run() async throws {
        // A key no store accepts would end the watch at once; refuse it before HAProxy starts.
        try KeyPath.validate(configuration.key)
        try FileManager.default.createDirectory(at: configuration.workDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: configuration.socketDirectory, withIntermediateDirectories: true)
        // Cancelling the group stops HAProxy (SIGTERM, SIGKILL after 5 s) unless it is to be left serving.
        try await serve()
    }

    private func serve() async throws {
        let (signals, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                for await event in store.watch(configuration.key).events() {
                    switch event {
                    case .change(.value(let entry)):
                        latest.withLock { $0 = entry.value }
                        metrics.update { $0.updates += 1 }
                        signal.yield()
                    case .change(.deleted):
                        logger.warning("the configuration key does not exist; keeping the running configuration", metadata: ["vamp.kv.key": "\(configuration.key)"])
                    case .reachable:
                        storeReachable()
                    case .unreachable(let error):
                        storeUnreachable(error)
                    }
                }
                if !Task.isCancelled {
                    metrics.update { $0.watchEnded = true }
                    throw GatewayAgentError("the watch of key '\(configuration.key)' ended; the store refused the key or the watch")
                }
            }
            group.addTask { [self] in
                for await _ in signals {
                    // SIGUSR2 before the master installed its handlers would kill it.
                    await haproxy.waitUntilReady()
                    if configuration.coalesceWindow > .zero { try? await Task.sleep(for: configuration.coalesceWindow) }
                    guard let text = latest.withLock({ $0 }) else { continue }
                    await apply(String(decoding: text, as: UTF8.self))
                }
            }
            let leftBehind = haproxy.leftBehindMaster()
            group.addTask { [self] in try await superviseHAProxy(adopting: leftBehind) }
            // The log forwarder and the status server are optional: when one fails (a busy port)
            // it is logged, counted and shown in /health, and HAProxy keeps serving.
            if configuration.logPort != nil || configuration.logSocket != nil {
                group.addTask { [self] in
                    await runSideService("log forwarder") {
                        try await LogForwarder(
                            listenPort: configuration.logPort, socketPath: configuration.logSocket, logstash: configuration.logstash, capacity: configuration.logBufferCapacity,
                            retryTimeout: configuration.retryTimeout, metrics: metrics, logger: logger
                        ).run()
                    }
                }
            }
            if let status = configuration.statusAddress {
                group.addTask { [self] in
                    await runSideService("status server") { try await StatusServer(host: status.host, port: status.port, agent: self).run() }
                }
            }
            // The side services return without ending the agent; the watcher and the
            // supervisor run until cancelled (or the watch ends).
            while let _ = try await group.next() {
                if Task.isCancelled { break }
                if metrics.snapshot.watchEnded { break }
            }
            group.cancelAll()
        }
    }

    /// The store answered: health and the gauge say so, and an outage's end is logged.
    func storeReachable() {
        let outage = metrics.snapshot.storeReachable == false
        metrics.update {
            $0.storeReachable = true
            $0.storeError = nil
        }
        if outage { logger.notice("the KV store is reachable again", metadata: ["vamp.kv.key": "\(configuration.key)"]) }
    }

    /// A failed attempt to reach the store: counted and shown in health at once; logged at warning
    /// on the 1st, 2nd, 4th, 8th… failure of an outage (then every 64th), so a long outage does not
    /// flood the log while the store's watch retries with its own backoff. HAProxy keeps serving.
    func storeUnreachable(_ error: String) {
        var failures = 0
        metrics.update {
            $0.storeErrors += 1
            if $0.storeReachable != false { $0.outageFailures = 0 }
            $0.outageFailures += 1
            failures = $0.outageFailures
            $0.storeReachable = false
            $0.storeError = error
        }
        if failures & (failures - 1) == 0 || failures % 64 == 0 {
            logger.warning(
                "the KV store is unreachable; HAProxy keeps serving the running configuration, retrying with backoff",
                metadata: ["vamp.kv.key": "\(configuration.key)", "vamp.kv.error": "\(error)", "vamp.kv.failures": "\(failures)"])
        }
    }

    /// Runs an optional part; its failure is logged and recorded, never thrown.
    func runSideService(_ name: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch is CancellationError {
        } catch {
            if Task.isCancelled { return }
            logger.error("the \(name) failed; HAProxy keeps serving without it", metadata: ["vamp.error": "\(error)"])
            metrics.update { $0.failedServices[name] = "\(error)" }
        }
    }

    /// Puts the last good configuration in place for a (re)start: the file on disk, or the base
    /// alone when there is none or it no longer validates.
    func prepareConfigurationFile() async throws {
        if !FileManager.default.fileExists(atPath: configurationFile.path) {
            try Data(compose(kv: "").utf8).write(to: configurationFile, options: .atomic)
        } else if let alerts = try await haproxy.validate(configurationFile) {
            if FileManager.default.fileExists(atPath: previousFile.path), try await haproxy.validate(previousFile) == nil {
                logger.error("the configuration on disk does not validate; starting on the previous one", metadata: ["vamp.haproxy.alerts": "\(alerts)"])
                try Data(contentsOf: previousFile).write(to: configurationFile, options: .atomic)
            } else {
                logger.error("the configuration on disk no longer validates; starting on the base sections", metadata: ["vamp.haproxy.alerts": "\(alerts)"])
                try Data(compose(kv: "").utf8).write(to: configurationFile, options: .atomic)
            }
        }
    }

    /// Runs HAProxy and starts it again whenever it exits: after `restartBackoff.initial`, then
    /// twice as long after each exit (at most `restartBackoffLimit`); the wait resets once a
    /// master ran for `restartBackoffReset`. The master a previous agent left running on this work
    /// folder (`leftBehind`) is taken over on the first round and reloaded onto the last good
    /// file, so exactly one master serves and no connection is refused.
    func superviseHAProxy(adopting leftBehind: Int32?) async throws {
        var backoff = configuration.restartBackoffInitial
        var leftBehind = leftBehind
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await prepareConfigurationFile()
                metrics.update { $0.haproxyStarts += 1 }
                let adopted = leftBehind
                leftBehind = nil
                let ended = try await haproxy.run(adopting: adopted) { [metrics] _ in
                    metrics.update {
                        $0.haproxyRunning = true
                        $0.haproxyStartError = nil
                    }
                }
                if Task.isCancelled { break }
                logger.error("HAProxy exited", metadata: ["vamp.haproxy.status": "\(ended)"])
            } catch {
                if Task.isCancelled { break }
                logger.error("HAProxy did not start", metadata: ["vamp.error": "\(error)"])
                metrics.update { $0.haproxyStartError = "\(error)" }
            }
            metrics.update { $0.haproxyRunning = false }
            if ContinuousClock.now - started >= configuration.restartBackoffReset { backoff = configuration.restartBackoffInitial }
            logger.warning("restarting HAProxy on the last good configuration", metadata: ["vamp.backoff": "\(backoff)"])
            metrics.update { $0.lastRestartDelaySeconds = backoff.secondsValue }
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.restartBackoffLimit)
        }
        metrics.update { $0.haproxyRunning = false }
    }

    /// Base + user fragments + generated text.
    func compose(kv: String) throws -> String {
        var text = base
        if let fragments = configuration.fragmentsDirectory {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: fragments.path))?.filter { $0.hasSuffix(".cfg") }.sorted() ?? []
            for name in names {
                text += "\n# fragment \(name)\n" + (try String(contentsOf: fragments.appendingPathComponent(name), encoding: .utf8)) + "\n"
            }
        }
        return text + "\n# generated by Vamp\n" + kv + (kv.hasSuffix("\n") || kv.isEmpty ? "" : "\n")
    }

    /// Applies one configuration from the store. Returns quietly in every case; failures are
    /// logged, counted and written to the status key.
    func apply(_ kv: String) async {
        let started = ContinuousClock.now
        let composed: String
        do {
            composed = try compose(kv: kv)
        } catch {
            await report(failure: "cannot read the user fragments: \(error)")
            return
        }
        let current = (try? String(contentsOf: configurationFile, encoding: .utf8)) ?? ""
        if composed == current {
            // The store holds the running text again (e.g. after a refused one was reverted):
            // the last apply result is for this text, which is applied.
            let hadError = metrics.snapshot.lastError != nil
            metrics.update {
                $0.unchanged += 1
                $0.lastError = nil
                $0.appliedConfiguration = kv
            }
            if hadError { await writeStatus(state: "applied", error: nil) }
            return
        }
        let candidate = configuration.workDirectory.appendingPathComponent("haproxy.cfg.new")
        do {
            try Data(composed.utf8).write(to: candidate)
            // A change of weights only (a canary step, the common case) needs no reload: the
            // running worker takes `set server … weight` through the master CLI, and the file is
            // swapped so a later reload or restart runs the same. Any other answer: a full reload.
            if let commands = Self.weightChanges(from: current, to: composed), haproxy.isReady,
               await haproxy.setWeights(commands) {
                try Data(current.utf8).write(to: previousFile, options: .atomic)
                guard rename(candidate.path, configurationFile.path) == 0 else {
                    throw GatewayAgentError("cannot move \(candidate.path) to \(configurationFile.path): errno \(errno)")
                }
                let seconds = (ContinuousClock.now - started).secondsValue
                metrics.update {
                    $0.weightUpdates += 1
                    $0.lastReloadSeconds = seconds
                    $0.lastError = nil
                    $0.appliedConfiguration = kv
                }
                logger.info("changed weights without a reload", metadata: ["vamp.reload.seconds": "\(seconds)", "vamp.haproxy.commands": "\(commands)"])
                await writeStatus(state: "applied", error: nil)
                return
            }
            // No `haproxy -c` first: the master parses the file on reload anyway, and a file it
            // refuses leaves the old workers serving (counted in `show proc`'s `[failed: N]`), so a
            // second parse would only add its time to every change. The running file is kept as
            // the previous good one in case the agent stops before the master answered.
            try Data(current.utf8).write(to: previousFile, options: .atomic)
            let before = await haproxy.masterState()
            // rename(2) swaps the file atomically: HAProxy never sees a half-written one.
            guard rename(candidate.path, configurationFile.path) == 0 else {
                throw GatewayAgentError("cannot move \(candidate.path) to \(configurationFile.path): errno \(errno)")
            }
            haproxy.signalReload()
            let signalled = ContinuousClock.now
            let outcome = await haproxy.waitForReload(
                previous: before?.worker, failedBefore: before?.failedReloads, timeout: configuration.reloadTimeout)
            if outcome == .newWorker {
                let seconds = (ContinuousClock.now - started).secondsValue
                metrics.update {
                    $0.reloads += 1
                    $0.reloadSecondsSum += seconds
                    $0.lastReloadSeconds = seconds
                    $0.lastError = nil
                    $0.appliedConfiguration = kv
                }
                logger.info("reloaded HAProxy", metadata: [
                    "vamp.reload.seconds": "\(seconds)", "vamp.reload.worker_seconds": "\((ContinuousClock.now - signalled).secondsValue)",
                ])
                await writeStatus(state: "applied", error: nil)
            } else if Task.isCancelled {
                // The agent is stopping (and HAProxy with it) before the master answered: the file
                // stays, and the next start checks it with `haproxy -c` (falling back to the
                // previous good file).
                return
            } else if !haproxy.isRunning {
                logger.warning("HAProxy exited during the reload; it will be restarted on the last good configuration")
                try? Data(current.utf8).write(to: configurationFile, options: .atomic)
            } else {
                // Back to the running text, then find out why (only on this slow path).
                let refused = configuration.workDirectory.appendingPathComponent("haproxy.cfg.refused")
                try Data(composed.utf8).write(to: refused)
                let after = await haproxy.masterState()
                try Data(current.utf8).write(to: configurationFile, options: .atomic)
                haproxy.signalReload()
                _ = await haproxy.waitForReload(previous: after?.worker, failedBefore: after?.failedReloads, timeout: configuration.reloadTimeout)
                if outcome == .refused, let alerts = try await haproxy.validate(refused) {
                    metrics.update { $0.failedValidations += 1 }
                    await report(failure: "haproxy refused the new configuration; keeping the running one:\n\(alerts)")
                } else {
                    metrics.update { $0.failedReloads += 1 }
                    await report(failure: outcome == .refused
                        ? "the HAProxy master could not load the new configuration (see its output); went back to the previous configuration"
                        : "the new HAProxy worker did not come up within \(configuration.reloadTimeout); went back to the previous configuration")
                }
            }
        } catch {
            await report(failure: "applying the configuration failed: \(error)")
        }
    }

    /// The master CLI commands that turn `old` into `new` when the two differ only in the
    /// `weight` of `server` lines (same lines otherwise, same order), raised weights first; nil for
    /// any other change.
    static func weightChanges(from old: String, to new: String) -> [String]? {
        let before = old.split(separator: "\n", omittingEmptySubsequences: false)
        let after = new.split(separator: "\n", omittingEmptySubsequences: false)
        guard before.count == after.count else { return nil }
        var section: Substring?
        var raised: [String] = [], lowered: [String] = []
        for (was, now) in zip(before, after) {
            if let first = was.first, first != " ", first != "\t" {
                let words = was.split(separator: " ")
                section = words.count >= 2 && (words[0] == "backend" || words[0] == "listen") ? words[1] : nil
            }
            if was == now { continue }
            guard let section, let (server, previous, rest) = serverWeight(was), let (sameServer, weight, sameRest) = serverWeight(now),
                  server == sameServer, rest == sameRest, (0...256).contains(weight)
            else { return nil }
            let command = "set server \(section)/\(server) weight \(weight)"
            if weight > previous { raised.append(command) } else { lowered.append(command) }
        }
        // Raise first: between two commands some server must keep a weight, or requests get a 503.
        let commands = raised + lowered
        return commands.isEmpty ? nil : commands
    }

    /// A `server NAME … weight N …` line: the name, the weight and the line without the weight.
    static func serverWeight(_ line: Substring) -> (Substring, Int, [Substring])? {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 4, words[0] == "server", let index = words.firstIndex(of: "weight"), index + 1 < words.count,
              let weight = Int(words[index + 1])
        else { return nil }
        words[index + 1] = "_"
        return (words[1], weight, words)
    }

    func report(failure: String) async {
        logger.error("the configuration was not applied", metadata: ["vamp.kv.key": "\(configuration.key)", "vamp.error": "\(failure)"])
        metrics.update { $0.lastError = failure }
        await writeStatus(state: "failed", error: failure)
    }

    func writeStatus(state: String, error: String?) async {
        guard let key = configuration.statusKey else { return }
        var object: [String: Any] = ["state": state, "time": ISO8601DateFormatter().string(from: Date())]
        if let error { object["error"] = error }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        do {
            try await store.set(key, value: Array(data))
        } catch {
            logger.warning("cannot write the agent status to the KV store", metadata: ["vamp.kv.error": "\(error)"])
        }
    }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension GatewayAgent {
    /// Stops the HAProxy master an agent with `configuration` left serving (see
    /// ``GatewayAgentConfiguration/leavesHAProxyRunning``): SIGTERM, SIGKILL after 5 s. Returns its pid, or nil
    /// when none runs on that work directory. Stop the agent first, or it starts HAProxy again.
    public static func stopHAProxyLeftRunning(configuration: GatewayAgentConfiguration) async -> Int32? {
        let master = GatewayAgent(configuration: configuration, store: InMemoryKeyValueStore()).haproxy
        guard let pid = master.leftBehindMaster() else { return nil }
        await master.stop(pid)
        if HAProxyMaster.pid(in: master.pidFile) == pid { try? FileManager.default.removeItem(at: master.pidFile) }
        return pid
    }
}
