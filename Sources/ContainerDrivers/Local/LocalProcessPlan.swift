/// The pure decisions of ``LocalProcessDriver``: which instances to start or stop, how long to wait before a restart,
/// the environment of a process and the names the driver reports. No I/O, so they are tested with plain values.
package enum LocalProcessPlan {
    /// One instance of a service as the planner sees it.
    package struct Slot: Sendable, Hashable {
        /// The instance number (its name ends in it, its records and ports belong to it).
        package var index: Int
        /// The digest of the specification it runs.
        package var digest: String
        /// Up, or waited for long enough: the bounded wait of a replacement is over.
        package var ready: Bool

        /// Creates a slot.
        package init(index: Int, digest: String, ready: Bool) {
            self.index = index
            self.digest = digest
            self.ready = ready
        }
    }

    /// What to do to one instance.
    package enum Action: Sendable, Hashable {
        /// Start a new instance with this number, running the wanted digest.
        case start(index: Int)
        /// Stop the instance with this number and forget it.
        case stop(index: Int)
    }

    /// The next step towards `desired` instances that run `digest`.
    package struct Step: Sendable, Hashable {
        /// What to do now.
        package var actions: [Action]
        /// True when nothing is left to do: exactly `desired` instances, all of them running `digest`. While false,
        /// the caller asks again later (a replacement is waited for).
        package var done: Bool
    }

    /// Plans one step: instances of another digest are replaced one at a time (a surge of one instance: the
    /// replacement starts first, the old instance stops once the replacement is ready), so the number of ready
    /// instances never drops during an update; scaling down stops the highest-numbered instances; new instances take
    /// the lowest free numbers.
    package static func step(desired: Int, digest: String, instances: [Slot]) -> Step {
        let desired = max(0, desired)
        let current = instances.filter { $0.digest == digest }.sorted { $0.index < $1.index }
        var old = instances.filter { $0.digest != digest }.sorted { $0.index < $1.index }
        var actions: [Action] = []

        let kept = Array(current.prefix(desired))
        for slot in current.dropFirst(desired).reversed() { actions.append(.stop(index: slot.index)) }

        let ready = kept.filter(\.ready).count
        while let last = old.last, ready + old.count > desired {
            actions.append(.stop(index: last.index))
            old.removeLast()
        }

        let missing = desired - kept.count
        let room = old.isEmpty ? missing : min(missing, desired + 1 - kept.count - old.count)
        if room > 0 {
            var used = Set(instances.map(\.index))
            var candidate = 0
            for _ in 0..<room {
                while used.contains(candidate) { candidate += 1 }
                actions.append(.start(index: candidate))
                used.insert(candidate)
            }
        }
        let done = actions.isEmpty && old.isEmpty && kept.count == desired
        return Step(actions: actions, done: done)
    }

    /// The wait before the `failures`-th restart in a row: `initial`, doubling each time, at most `maximum`.
    package static func restartDelay(failures: Int, initial: Duration, maximum: Duration) -> Duration {
        guard failures > 1 else { return min(initial, maximum) }
        var delay = initial
        for _ in 1..<min(failures, 64) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    /// The environment name of a breed port's number, as Marathon writes it: `PORT_` and the name upper-cased, every
    /// character other than an ASCII letter or digit replaced by `_` (`web-ui` → `PORT_WEB_UI`).
    package static func portVariable(_ name: String) -> String {
        "PORT_" + String(name.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    /// The variable that marks an instance's process as the local driver's: `<owner>/<run>`, the owner naming the
    /// driver's state directory, the run the one written in the instance's record before the process started. Every
    /// process of the instance inherits it, so a driver that starts after a crash finds them in `/proc/<pid>/environ`:
    /// it adopts a process whose run its records name, and kills one they do not. Not a `VAMP_*` name: those are Vamp's
    /// settings, which a child never gets (and which a child that is itself a Vamp program would read as one).
    package static let markerVariable = "IO_VAMP_INSTANCE"

    /// The value of ``markerVariable`` for a run of an instance of the driver `owner`.
    package static func marker(owner: String, run: String) -> String { "\(owner)/\(run)" }

    /// The run in a value of ``markerVariable``, when the marker is `owner`'s.
    package static func run(inMarker marker: Substring, owner: String) -> String? {
        guard marker.hasPrefix(owner + "/") else { return nil }
        let run = marker.dropFirst(owner.count + 1)
        return run.isEmpty ? nil : String(run)
    }

    /// The environment of an instance's process, built for it (never the server's whole environment, which holds
    /// the `VAMP_*` settings and their secrets): the server's `PATH`, `HOME`, `LANG`, `LANGUAGE`, `LC_*` and `TZ`
    /// (with a `user`: its `HOME`, and `USER` and `LOGNAME`), then the specification's environment (the breed's and
    /// the service's variables, what Vamp sets), then `PORT` (the first breed port's number) and `PORT_<NAME>` for
    /// every breed port, then the `marker` as ``markerVariable``; later entries win.
    package static func environment(
        specification: [String: String], ports: [(name: String, number: Int)], server: [String: String], user: LocalUser? = nil,
        marker: String? = nil
    ) -> [String: String] {
        var environment = server.filter { key, _ in inherited(key) }
        if let user {
            environment["HOME"] = user.home
            environment["USER"] = user.name
            environment["LOGNAME"] = user.name
        }
        environment.merge(specification) { _, new in new }
        if let first = ports.first { environment["PORT"] = String(first.number) }
        for port in ports { environment[portVariable(port.name)] = String(port.number) }
        if let marker { environment[markerVariable] = marker }
        return environment
    }

    /// Whether an instance's process gets the server's variable `name`: where programs are, the home folder, the
    /// language and time zone (as HAProxyControl's `ChildEnvironment` keeps for HAProxy).
    package static func inherited(_ name: String) -> Bool {
        ["PATH", "HOME", "LANG", "LANGUAGE", "TZ"].contains(name) || name.hasPrefix("LC_")
    }

    /// `text` with every character outside `[A-Za-z0-9._-]` replaced by `_`.
    package static func sanitised(_ text: String) -> String {
        String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
    }

    /// The reported name of an instance: `<cluster>-<service>-<index>`, sanitised (`frontend-sava_1.0-0`). Unique per
    /// service because the index is.
    package static func instanceName(cluster: String, service: String, index: Int) -> String {
        sanitised("\(cluster)-\(service)-\(index)")
    }

    /// The reported name of an instance of `id`: ``instanceName(cluster:service:index:)`` for a service,
    /// `workflow-<name>-<index>` for a workflow.
    package static func instanceName(_ id: ServiceIdentity, index: Int) -> String {
        switch id.kind {
        case .service: instanceName(cluster: id.cluster, service: id.service, index: index)
        case .workflow: sanitised("workflow-\(id.deployment)-\(index)")
        }
    }
}
