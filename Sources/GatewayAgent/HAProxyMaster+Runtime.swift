import HAProxyControl

/// The runtime API: changes applied to the running worker through the master CLI, without a reload.
extension HAProxyMaster {
    /// How a runtime apply ended.
    enum RuntimeOutcome: Sendable, Equatable {
        /// Every step was taken.
        case applied
        /// A step was refused or not answered (`reason`); `touched`: whether the worker may have taken some steps,
        /// so that it no longer runs the previous text either (a reload must follow).
        case failed(String, touched: Bool)
    }

    /// Runs `changes` on the current worker (`@!<pid>` through the master CLI), one command per connection, in
    /// order, stopping at the first one refused. A removed server's `del server` is asked again every few
    /// milliseconds while HAProxy answers that the server still has connections (requests in flight finish on it;
    /// it takes no new ones once in maintenance), up to `drainTimeout` for all deletions together.
    ///
    /// Idle connections count as connections, and a request that ends on a server in maintenance leaves its
    /// connection idle in the pool, where HAProxy 2.6 purges it only every `pool-purge-delay` (5 s), and not at all
    /// while its estimate of needed connections stays above it: measured under load, `del server` was refused for
    /// more than 8 s in 4 of 6 tries. HAProxy closes a server's idle connections (all threads) when its address
    /// changes (`srv_update_addr_port` → `srv_cleanup_connections`), so between two tries the server in maintenance
    /// (which no request reaches and whose checks are off) is given another port: deleted within 25 ms in each of 12
    /// tries under the same load. Connections in use are not touched.
    func applyRuntime(_ changes: RuntimeChanges, drainTimeout: Duration) async -> RuntimeOutcome {
        guard let worker = await currentWorker() else { return .failed("the master CLI names no current worker", touched: false) }
        var drainDeadline: ContinuousClock.Instant?
        var flushes = 0
        for (index, step) in changes.steps.enumerated() {
            let touched = index > 0
            while true {
                let answer: String
                do {
                    answer = try await MasterCLI.send("@!\(worker) \(step.command)", to: masterSocket)
                } catch {
                    // Not answered: the worker may or may not have taken it.
                    return .failed("'\(step.command)' was not answered: \(error)", touched: true)
                }
                let outcome = Self.outcome(of: step, answer: answer)
                if outcome == .taken { break }
                if outcome == .busy {
                    let deadline = drainDeadline ?? ContinuousClock.now + drainTimeout
                    drainDeadline = deadline
                    if ContinuousClock.now < deadline, !Task.isCancelled {
                        flushes += 1
                        let server = step.command.dropFirst("del server ".count)
                        _ = try? await MasterCLI.send("@!\(worker) set server \(server) addr 127.0.0.1 port \(1 + flushes % 2)", to: masterSocket)
                        await Self.pause(.milliseconds(5))
                        continue
                    }
                    return .failed("'\(step.command)': the server still had connections after \(drainTimeout)", touched: true)
                }
                return .failed("'\(step.command)' was refused: \(Self.oneLine(answer))", touched: touched)
            }
        }
        return .applied
    }

    /// What an answer to a step says.
    enum StepOutcome: Sendable, Equatable {
        /// The worker took the step.
        case taken
        /// `del server` of a server that still has connections: ask again later.
        case busy
        /// Refused.
        case refused
    }

    /// Reads HAProxy 2.6's answer to `step`.
    static func outcome(of step: RuntimeChanges.Step, answer: String) -> StepOutcome {
        let text = oneLine(answer)
        switch step {
        case .plain:
            return text.isEmpty ? .taken : .refused
        case .add:
            return text == "New server registered." ? .taken : .refused
        case .address:
            // "IP changed from '…' to '…', port changed from '…' to '…' by 'stats socket command'", or "no need to
            // change the addr, …".
            return (text.contains(" changed from ") || text.hasPrefix("no need to change")) && !text.contains("nvalid") ? .taken : .refused
        case .delete:
            if text == "Server deleted." { return .taken }
            return text.contains("still has connections") ? .busy : .refused
        }
    }

    /// `text` without its surrounding blank space and with its lines joined by a space.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingPrefix(while: \.isWhitespace) }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}
