import HAProxyControl

extension HAProxyMaster {
    /// What one read of HAProxy's counters found.
    struct FrontendCounters: Sendable {
        /// The workers, current and old.
        var workers: [HAProxyCounters.Worker]
        /// The request totals per frontend of each worker that answered.
        var totals: [Int32: [String: UInt64]]
        /// The log lines each worker that answered could not send (`DroppedLogs` of `show info`: the log socket's
        /// queue was full).
        var droppedLogs: [Int32: UInt64]
    }

    /// HAProxy's request totals per frontend and dropped log lines of each worker, current and old, through the master
    /// CLI (`show proc`, then `@!<pid> show stat -1 1 -1`, frontends only, and `@!<pid> show info`); nil when the
    /// master does not answer. A worker that does not answer (it is exiting) is listed without totals.
    func frontendCounters(timeout: Duration = .seconds(1)) async -> FrontendCounters? {
        guard pid != nil, let text = try? await MasterCLI.send("show proc", to: masterSocket, timeout: timeout), text.contains("master") else {
            return nil
        }
        var read = FrontendCounters(workers: HAProxyCounters.workers(inShowProc: text), totals: [:], droppedLogs: [:])
        for worker in read.workers {
            guard let answer = try? await MasterCLI.send("@!\(worker.pid) show stat -1 1 -1", to: masterSocket, timeout: timeout),
                  answer.hasPrefix("# pxname")
            else { continue }
            read.totals[worker.pid] = HAProxyCounters.frontendTotals(inShowStat: answer)
            if let info = try? await MasterCLI.send("@!\(worker.pid) show info", to: masterSocket, timeout: timeout),
               let dropped = HAProxyCounters.droppedLogs(inShowInfo: info) {
                read.droppedLogs[worker.pid] = dropped
            }
        }
        return read
    }
}
