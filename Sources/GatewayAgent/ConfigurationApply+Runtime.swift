#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization

/// The runtime API path of an apply: weights or servers changed in the running worker, without a reload.
extension GatewayAgent {
    /// What the runtime path did: `applied` when the worker took every step (the file is then swapped in), else
    /// nil, with `touched` when it may have taken some of them (the reload that follows must not be undone by
    /// leaving the worker as it is).
    struct RuntimeAttempt: Sendable {
        var applied: BringUp?
        var touched = false
    }

    /// Applies `plan` through the runtime API when it is made of weights or servers alone and HAProxy serves.
    func bringUpAtRuntime(_ plan: AgentStateMachine.ApplyPlan, current: String, next: URL, started: ContinuousClock.Instant) async throws
        -> RuntimeAttempt
    {
        let changes: RuntimeChanges
        let path: AgentStateMachine.ApplyPath
        switch plan {
        case .setWeights(let commands):
            changes = RuntimeChanges(steps: commands.map { .plain($0) })
            path = .weights
        case .runtime(let steps):
            changes = steps
            path = .servers
        case .unchanged, .reload:
            return RuntimeAttempt()
        }
        guard haproxy.isReady else { return RuntimeAttempt() }
        // The worker is about to run something other than the file on disk: an agent restarted before the swap below
        // reloads the master onto the file instead of taking it over as it is.
        haproxy.forgetLoaded()
        switch await haproxy.applyRuntime(changes, drainTimeout: configuration.serverDrainTimeout) {
        case .applied:
            try Data(current.utf8).write(to: previousFile, options: .atomic)
            try swap(next)
            if let master = haproxy.pid, let worker = await haproxy.currentWorker() { haproxy.recordLoaded(master: master, worker: worker) }
            let seconds = (ContinuousClock.now - started).secondsValue
            metrics.update {
                if path == .weights { $0.weightUpdates += 1 } else { $0.serverUpdates += 1 }
                $0.lastReloadSeconds = seconds
            }
            logger.info(path == .weights ? "changed weights without a reload" : "changed servers without a reload", metadata: [
                "vamp.reload.seconds": "\(seconds)", "vamp.haproxy.commands": "\(changes.commands)",
            ])
            return RuntimeAttempt(applied: .applied(path))
        case .failed(let reason, let touched):
            metrics.update { $0.runtimeFallbacks += 1 }
            logger.notice("the runtime API did not take the change; reloading HAProxy onto the new file", metadata: [
                "vamp.error": "\(reason)", "vamp.haproxy.partly_applied": "\(touched)",
            ])
            return RuntimeAttempt(touched: touched)
        }
    }

    /// Reloads the master onto the file on disk (after a change the runtime API took in part and the master refused
    /// to reload): the new worker runs exactly the file. When no new worker comes up, the next apply reloads.
    func reloadOntoFile() async {
        let before = await haproxy.masterState()
        haproxy.signalReload()
        let outcome = await haproxy.waitForReload(previous: before?.worker, failedBefore: before?.failedReloads, timeout: configuration.reloadTimeout)
        if outcome == .newWorker, let master = haproxy.pid, let worker = await haproxy.currentWorker() {
            haproxy.recordLoaded(master: master, worker: worker)
        } else {
            runningUnknown.withLock { $0 = true }
        }
    }
}
