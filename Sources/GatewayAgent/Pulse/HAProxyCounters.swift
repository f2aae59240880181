/// HAProxy's own request counters, the reference Pulse's line counts are checked against: a datagram lost between
/// HAProxy and the agent shows up as a difference. Pure readers of the master CLI's answers and a value that turns
/// the totals of every worker (current and old, across reloads) into the growth of each second.
enum HAProxyCounters {
    /// A worker of a `show proc` answer.
    struct Worker: Sendable, Hashable {
        /// Its pid.
        var pid: Int32
        /// How long it has run, in seconds (`0d00h00m05s`); nil when the field does not read.
        var uptime: Int?
    }

    /// The workers of a `show proc` answer, current (`# workers`) and old (`# old workers`, still finishing their
    /// connections after a reload).
    static func workers(inShowProc text: some StringProtocol) -> [Worker] {
        var inWorkers = false
        var workers: [Worker] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("#") {
                inWorkers = line.hasPrefix("# workers") || line.hasPrefix("# old workers")
                continue
            }
            guard inWorkers else { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[1] == "worker", let pid = Int32(words[0]) else { continue }
            workers.append(Worker(pid: pid, uptime: words.count >= 4 ? uptime(words[3]) : nil))
        }
        return workers
    }

    /// `0d00h00m05s` → 5; nil for anything else.
    static func uptime(_ text: some StringProtocol) -> Int? {
        var total = 0
        var number = 0
        var digits = 0
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                number = number * 10 + digit
                digits += 1
                guard digits <= 9 else { return nil }
                continue
            }
            guard digits > 0 else { return nil }
            switch character {
            case "d": total += number * 86_400
            case "h": total += number * 3_600
            case "m": total += number * 60
            case "s": total += number
            default: return nil
            }
            number = 0
            digits = 0
        }
        return digits == 0 && !text.isEmpty ? total : nil
    }

    /// The request totals per frontend of a `show stat` answer (CSV, `show stat -1 1 -1` lists only frontends):
    /// `req_tot` for an HTTP frontend (one log line per request), `stot` (sessions) for a TCP one (one line per
    /// session). Rows that do not read are skipped; an answer without the header is empty.
    static func frontendTotals(inShowStat text: String) -> [String: UInt64] {
        var columns: [Substring: Int] = [:]
        var totals: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# ") {
                for (index, name) in line.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                    columns[name] = index
                }
                continue
            }
            guard let proxy = columns["pxname"], let service = columns["svname"], let sessions = columns["stot"] else { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > max(proxy, service, sessions), fields[service] == "FRONTEND" else { continue }
            let mode = columns["mode"].flatMap { $0 < fields.count ? fields[$0] : nil }
            let requests = columns["req_tot"].flatMap { $0 < fields.count ? UInt64(fields[$0]) : nil }
            let value: UInt64? = mode == "tcp" ? UInt64(fields[sessions]) : requests ?? UInt64(fields[sessions])
            if let value { totals[String(fields[proxy])] = value }
        }
        return totals
    }

    /// `DroppedLogs` of a `show info` answer: the log lines the worker could not send since it started.
    static func droppedLogs(inShowInfo text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("DroppedLogs:") {
            return UInt64(line.dropFirst("DroppedLogs:".count).trimmingPrefix(" "))
        }
        return nil
    }

    /// The proxies (`frontend NAME`, `listen NAME`) defined in a configuration text: those of the base sections and
    /// the fragments are not Vamp's gateways (the stats listener logs nothing), so their counters are left out.
    static func proxies(definedIn text: some StringProtocol) -> Set<String> {
        var names = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("frontend ") || line.hasPrefix("listen ") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2 { names.insert(String(words[1])) }
        }
        return names
    }
}

/// The growth of HAProxy's request counters per frontend from one read to the next, across reloads: each worker's
/// totals are kept by pid, a new worker (its counters start at 0 after a reload) counts from 0, an old worker that
/// finishes its connections is read until it exits. A worker that already ran when the agent started (a master taken
/// over) counts from its first read, so the history before the agent is not reported as one second's traffic.
struct HAProxyCounterTracker: Sendable {
    /// The last totals read of each worker.
    private(set) var lastTotals: [Int32: [String: UInt64]] = [:]

    /// Takes one read: the workers listed now, the totals of those that answered, and how long the agent has run (in
    /// seconds); returns the growth per frontend since the previous read (frontends that did not grow left out).
    /// A worker that did not answer keeps its last totals; a worker no longer listed is forgotten.
    mutating func observe(workers: [HAProxyCounters.Worker], totals: [Int32: [String: UInt64]], agentUptime: Int) -> [String: UInt64] {
        var growth: [String: UInt64] = [:]
        var next: [Int32: [String: UInt64]] = [:]
        for worker in workers {
            guard let now = totals[worker.pid] else {
                if let last = lastTotals[worker.pid] { next[worker.pid] = last }
                continue
            }
            let previous: [String: UInt64]
            if let last = lastTotals[worker.pid] {
                previous = last
            } else if let uptime = worker.uptime, uptime > agentUptime + 1 {
                // Serving before this agent started: its counters so far are not this run's.
                previous = now
            } else {
                previous = [:]
            }
            for (frontend, total) in now {
                // A counter that went back was cleared (`clear counters`): it counts from 0 again.
                let base = previous[frontend] ?? 0
                let grown = total >= base ? total - base : total
                if grown > 0 { growth[frontend, default: 0] += grown }
            }
            next[worker.pid] = now
        }
        lastTotals = next
        return growth
    }
}
