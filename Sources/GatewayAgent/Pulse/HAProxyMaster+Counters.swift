import HAProxyControl

extension HAProxyMaster {
    /// HAProxy's request totals per frontend of each worker, current and old, through the master CLI (`show proc`,
    /// then `@!<pid> show stat -1 1 -1`: frontends only); nil when the master does not answer. A worker that does not
    /// answer (it is exiting) is listed without totals.
    func frontendCounters(timeout: Duration = .seconds(1)) async -> (workers: [HAProxyCounters.Worker], totals: [Int32: [String: UInt64]])? {
        guard pid != nil, let text = try? await MasterCLI.send("show proc", to: masterSocket, timeout: timeout), text.contains("master") else {
            return nil
        }
        let workers = HAProxyCounters.workers(inShowProc: text)
        var totals: [Int32: [String: UInt64]] = [:]
        for worker in workers {
            guard let answer = try? await MasterCLI.send("@!\(worker.pid) show stat -1 1 -1", to: masterSocket, timeout: timeout),
                  answer.hasPrefix("# pxname")
            else { continue }
            totals[worker.pid] = HAProxyCounters.frontendTotals(inShowStat: answer)
        }
        return (workers, totals)
    }
}
