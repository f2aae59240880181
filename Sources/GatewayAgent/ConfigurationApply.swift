#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HAProxyConfigGen
import HAProxyControl
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One apply of a KV text: which gateways can be served, then the file swapped in and HAProxy brought onto it.
extension GatewayAgent {
    typealias LeftOut = AgentStateMachine.LeftOut

    /// Applies one configuration from the store and returns the outcome for the state machine: its counters and the
    /// log are written here, health, the status key and retries follow from the event.
    ///
    /// Every TCP address the candidate binds is probed first (``BindProbe``): a gateway whose address cannot be
    /// bound is left out, and the others go on, so HAProxy never sees a bind it would fail (which pauses every
    /// gateway's listeners for about 2 s). An address outside any gateway (base sections, fragments) that cannot be
    /// bound fails the whole text, before HAProxy sees it. When the master refuses the file anyway, the running
    /// workers serve on untouched (no rollback reload is needed: a refused reload leaves them as they were), and
    /// `haproxy -c` says which gateways' sections it refuses: those are left out (and remembered, so the same part
    /// is left out at once next time) and the rest is reloaded, at most three rounds.
    func apply(_ kv: String) async -> AgentStateMachine.Event {
        let started = ContinuousClock.now
        let prefix: String
        do {
            prefix = try composedPrefix()
        } catch {
            return .applyFailed(kv, reason: "cannot read the user fragments: \(error)")
        }
        // The certificates of stored secrets come before the HAProxy text; they are written before HAProxy sees it.
        let (text, certificates, problems) = GatewayCertificates.unbundle(kv)
        if let problem = problems.first { return .applyFailed(kv, reason: problem, retryable: false) }
        do {
            try writeCertificates(certificates)
        } catch {
            return .applyFailed(kv, reason: "\(error)")
        }
        let sections = GatewaySections(text)
        let current = (try? String(contentsOf: configurationFile, encoding: .utf8)) ?? ""
        let running = Set(TCPAddress.binds(in: current))
        var leftOut: [String: LeftOut] = [:]
        let known = refusals.withLock { $0 }
        for block in sections.blocks {
            if let reason = known[prefix + "\u{0}" + block.text] { leftOut[block.name] = LeftOut(name: block.name, reason: reason, retryable: false) }
        }
        var suspects: [String] = []
        for round in 1...3 {
            switch unbindable(prefix: prefix, sections: sections, leavingOut: Set(leftOut.keys), running: running) {
            case .failure(let error):
                return .applyFailed(kv, reason: error.message)
            case .success(let unbindable):
                leftOut.merge(unbindable) { known, _ in known }
            }
            let candidate = sections.candidate(prefix: prefix, leavingOut: Set(leftOut.keys))
            switch await bringUp(candidate.text, current: current, started: started) {
            case .applied(let path):
                removeCertificates(keeping: Set(certificates.keys))
                // A gateway left out on suspicion is confirmed now that the others went through without it: the same
                // part is left out at once next time, without a refused reload.
                for name in suspects {
                    if let block = sections.blocks.first(where: { $0.name == name }), let reason = leftOut[name]?.reason {
                        rememberRefusal(prefix + "\u{0}" + block.text, reason: reason)
                    }
                }
                return .applySucceeded(kv, path, leftOut: Array(leftOut.values))
            case .failed(let reason, let retryable):
                return .applyFailed(kv, reason: reason, retryable: retryable)
            case .refused(let file):
                // Why, from `haproxy -c` on the refused file (only on this slow path).
                let alerts: String?
                do {
                    alerts = try await haproxy.validate(file)
                } catch {
                    return .applyFailed(kv, reason: "the HAProxy master refused the new configuration, and haproxy -c could not say why: \(error)")
                }
                if let alerts {
                    metrics.update { $0.failedValidations += 1 }
                    let blamed = sections.blocks(blamedBy: alerts, file: file.path, in: candidate).filter { leftOut[$0.key] == nil }
                    guard !blamed.isEmpty, round < 3 else {
                        return .applyFailed(kv, reason: "haproxy refused the new configuration; keeping the running one:\n\(alerts)", retryable: false)
                    }
                    for (name, lines) in blamed {
                        let reason = "HAProxy refuses its sections: " + lines.joined(separator: "\n")
                        leftOut[name] = LeftOut(name: name, reason: reason, retryable: false)
                        if let block = sections.blocks.first(where: { $0.name == name }) { rememberRefusal(prefix + "\u{0}" + block.text, reason: reason) }
                    }
                    continue
                }
                // `haproxy -c` accepts what the master refused: an address taken since the probe?
                if round < 3, case .success(let taken) = unbindable(prefix: prefix, sections: sections, leavingOut: Set(leftOut.keys), running: running),
                   !taken.isEmpty {
                    leftOut.merge(taken) { known, _ in known }
                    continue
                }
                // Else a limit of the master that `-c` does not check (the file descriptors 10,000 routes need beyond
                // `ulimit -n`): the largest gateway new or changed since the running text is left out and the others
                // tried. It is reported only if they then go through; if not, nothing is applied.
                if round < 3, let suspect = Self.suspect(in: sections, running: current, leavingOut: Set(leftOut.keys)) {
                    metrics.update { $0.failedReloads += 1 }
                    suspects.append(suspect.name)
                    leftOut[suspect.name] = LeftOut(
                        name: suspect.name,
                        reason: "the HAProxy master refused the configuration with this gateway (\(suspect.lines.count) lines) although `haproxy -c` "
                            + "accepts it, and took the others without it; a limit of the master such as its file descriptors "
                            + "(ulimit -n) may be too small for it", retryable: false)
                    continue
                }
                metrics.update { $0.failedReloads += 1 }
                return .applyFailed(kv, reason: "the HAProxy master refused the new configuration although `haproxy -c` accepts it (a detached master's "
                    + "own messages are not kept; the file is \(file.path), HAProxy's output at start is in "
                    + "\(configuration.haproxyOutput?.path ?? "the agent's standard error")); the running configuration serves on")
            }
        }
        return .applyFailed(kv, reason: "gave up after three rounds of leaving gateways out")
    }

    /// The largest gateway part of `sections` (not in `leftOut`) that the running file lacks or has with other text.
    static func suspect(in sections: GatewaySections, running: String, leavingOut leftOut: Set<String>) -> GatewaySections.Block? {
        let marker = running.lastRange(of: GatewaySections.generatedMarker)
        let old = marker.map { GatewaySections(String(running[$0.upperBound...])).blocks } ?? []
        func key(_ block: GatewaySections.Block) -> String { block.name + "\u{0}" + block.text.trimming(while: \.isNewline) }
        let unchanged = Set(old.map(key))
        return sections.blocks
            .filter { !leftOut.contains($0.name) && !unchanged.contains(key($0)) }
            .max { $0.lines.count < $1.lines.count }
    }

    /// A gateway part `haproxy -c` refused (bounded: forgotten all at once past 64 parts).
    func rememberRefusal(_ key: String, reason: String) {
        refusals.withLock { known in
            if known.count >= 64 { known.removeAll() }
            known[key] = reason
        }
    }

    /// The gateways (not in `leftOut`) with a TCP address that the running file does not bind and that cannot be
    /// bound now, with why; an error when such an address belongs to no gateway (base sections, fragments, text
    /// before the first gateway), since leaving a gateway out cannot help then.
    func unbindable(prefix: String, sections: GatewaySections, leavingOut leftOut: Set<String>, running: Set<TCPAddress>)
        -> Result<[String: LeftOut], GatewayAgentError>
    {
        let outside = TCPAddress.binds(in: prefix) + TCPAddress.binds(inLines: sections.preamble)
        let kept = sections.blocks.filter { !leftOut.contains($0.name) }
        let byBlock = kept.map { ($0, TCPAddress.binds(inLines: $0.lines)) }
        let failed = BindProbe.unbindable((outside + byBlock.flatMap(\.1)).filter { !running.contains($0) })
        guard !failed.isEmpty else { return .success([:]) }
        if let address = outside.first(where: { failed[$0] != nil }) {
            return .failure(GatewayAgentError(
                "cannot bind \(address) (\(failed[address] ?? "")), which no gateway of the text binds (the base sections or a fragment); "
                    + "the running configuration serves on"))
        }
        var result: [String: LeftOut] = [:]
        for (block, addresses) in byBlock {
            guard let address = addresses.first(where: { failed[$0] != nil }) else { continue }
            result[block.name] = LeftOut(
                name: block.name, reason: "cannot bind \(address) (\(failed[address] ?? "")); served once it can be bound", retryable: true)
        }
        return .success(result)
    }

    /// How bringing HAProxy onto a file ended.
    enum BringUp: Sendable {
        /// HAProxy runs it (or ran it already).
        case applied(AgentStateMachine.ApplyPath)
        /// The master refused it (kept at this path for `haproxy -c`); the running workers serve on and the file on
        /// disk is the running one again.
        case refused(URL)
        /// Something else went wrong; the running configuration serves on.
        case failed(String, retryable: Bool)
    }

    /// Brings HAProxy from `current` (the file on disk) to `candidate`: nothing when they are equal, the runtime API
    /// when only weights or the servers of backends differ, else (or when the runtime API refused a step) the file
    /// swapped in and a reload.
    func bringUp(_ candidate: String, current: String, started: ContinuousClock.Instant) async -> BringUp {
        let forced = runningUnknown.withLock { $0 }
        var plan = AgentStateMachine.plan(running: current, candidate: candidate)
        if forced { plan = .reload }
        if plan == .unchanged {
            // The store holds the running text again (e.g. after a refused one was reverted, or a retry while a
            // left-out gateway's port is still busy): nothing to do.
            metrics.update { $0.unchanged += 1 }
            return .applied(.unchanged)
        }
        let next = configuration.workDirectory.appendingPathComponent("haproxy.cfg.new")
        do {
            try Data(candidate.utf8).write(to: next)
            // Weights alone (a canary step) or servers alone (a service scaled, a container replaced) need no reload:
            // the running worker takes them through the runtime API, and the file is swapped so a later reload or
            // restart runs the same. Anything the runtime API does not take: a full reload of the new file.
            let runtime = try await bringUpAtRuntime(plan, current: current, next: next, started: started)
            if let applied = runtime.applied { return applied }
            // No `haproxy -c` first: the master parses the file on reload anyway, and a file it refuses leaves the old
            // workers serving untouched (counted in `show proc`'s `[failed: N]`; only a bind that fails would pause
            // them, and the binds were probed), so a second parse would only add its time to every change. The running
            // file is kept as the previous good one in case the agent stops before the master answered.
            try Data(current.utf8).write(to: previousFile, options: .atomic)
            await readPulseCountersBeforeReload()
            let before = await haproxy.masterState()
            try swap(next)
            haproxy.signalReload()
            let signalled = ContinuousClock.now
            let outcome = await haproxy.waitForReload(
                previous: before?.worker, failedBefore: before?.failedReloads, timeout: configuration.reloadTimeout)
            if outcome == .newWorker {
                if let master = haproxy.pid, let worker = await haproxy.currentWorker() { haproxy.recordLoaded(master: master, worker: worker) }
                runningUnknown.withLock { $0 = false }
                let seconds = (ContinuousClock.now - started).secondsValue
                metrics.update {
                    $0.reloads += 1
                    $0.reloadSecondsSum += seconds
                    $0.lastReloadSeconds = seconds
                }
                logger.info("reloaded HAProxy", metadata: [
                    "vamp.reload.seconds": "\(seconds)", "vamp.reload.worker_seconds": "\((ContinuousClock.now - signalled).secondsValue)",
                ])
                return .applied(.reload)
            }
            if Task.isCancelled {
                // The agent is stopping (and HAProxy with it) before the master answered: the file stays, and the
                // next start checks it with `haproxy -c` (falling back to the previous good file).
                return .failed("the agent stopped before HAProxy answered the reload", retryable: true)
            }
            if !haproxy.isRunning {
                try? Data(current.utf8).write(to: configurationFile, options: .atomic)
                return .failed("HAProxy exited during the reload; it is restarted on the previous configuration", retryable: true)
            }
            // Back to the running text on disk; the refused file is kept for `haproxy -c`.
            let refused = configuration.workDirectory.appendingPathComponent("haproxy.cfg.refused")
            try Data(candidate.utf8).write(to: refused)
            try Data(current.utf8).write(to: configurationFile, options: .atomic)
            if outcome == .refused {
                if runtime.touched {
                    // The worker took part of the change through the runtime API: reloaded onto the running text, so
                    // that it runs exactly that again, never half of the change.
                    await reloadOntoFile()
                } else if let master = haproxy.pid, let worker = before?.worker {
                    // The old worker serves the running text, which is the file on disk again.
                    haproxy.recordLoaded(master: master, worker: worker)
                }
                return .refused(refused)
            }
            // No new worker in time: reload onto the running text, so the master does not bring the new one up later.
            let after = await haproxy.masterState()
            haproxy.signalReload()
            _ = await haproxy.waitForReload(previous: after?.worker, failedBefore: after?.failedReloads, timeout: configuration.reloadTimeout)
            metrics.update { $0.failedReloads += 1 }
            return .failed("the new HAProxy worker did not come up within \(configuration.reloadTimeout) (the file is \(refused.path)); "
                + "went back to the previous configuration", retryable: true)
        } catch {
            return .failed("applying the configuration failed: \(error)", retryable: true)
        }
    }

    /// Puts `next` in place of the configuration file: rename(2) swaps it atomically, so HAProxy never reads a
    /// half-written file.
    func swap(_ next: URL) throws {
        guard rename(next.path, configurationFile.path) == 0 else {
            throw GatewayAgentError("cannot move \(next.path) to \(configurationFile.path): errno \(errno)")
        }
    }
}
