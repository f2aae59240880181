#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The HAProxy processes of one configuration file, found in `/proc` (Linux) rather than through a pid file, so that
/// a master whose pid file was overwritten (a second master started on the same folder) is found too.
public enum HAProxyProcesses {
    /// One process as `/proc` shows it.
    public struct Process: Sendable, Equatable {
        /// Its pid.
        public var pid: Int32
        /// Its parent's pid.
        public var parent: Int32
        /// Its session (a detached master leads its own).
        public var session: Int32
        /// Its command line.
        public var arguments: [String]

        /// Creates one (for tests; ``read(_:)`` reads a live one).
        public init(pid: Int32, parent: Int32, session: Int32, arguments: [String]) {
            self.pid = pid
            self.parent = parent
            self.session = session
            self.arguments = arguments
        }

        /// Whether it is HAProxy (`executable`, or any program named `haproxy`) running `configurationFile`, and not
        /// a `haproxy -c` check of it.
        public func runs(_ configurationFile: String, executable: String) -> Bool {
            guard let program = arguments.first, program == executable || program.hasSuffix("haproxy") else { return false }
            return arguments.contains(configurationFile) && !arguments.contains("-c")
        }
    }

    /// The masters among `processes` (HAProxy processes of one configuration): a process that leads its own session
    /// (`-D` detaches the master with `setsid`) or whose children are among them (a master started in the
    /// foreground). A worker's session is its master's, and an orphaned worker (its master killed) has no children.
    public static func masters(among processes: [Process]) -> [Int32] {
        let parents = Set(processes.map(\.parent))
        return processes.filter { $0.session == $0.pid || parents.contains($0.pid) }.map(\.pid).sorted()
    }

    /// Every live HAProxy process (masters and workers) of `configurationFile`.
    public static func all(configurationFile: String, executable: String = HAProxyControl.defaultExecutable) -> [Process] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.compactMap { pid -> Process? in
            guard pid != getpid(), let process = read(pid), process.runs(configurationFile, executable: executable) else { return nil }
            return process
        }
    }

    /// The masters of `configurationFile`, lowest pid first.
    public static func masters(configurationFile: String, executable: String = HAProxyControl.defaultExecutable) -> [Int32] {
        masters(among: all(configurationFile: configurationFile, executable: executable))
    }

    /// `pid` from `/proc/<pid>/stat` and `cmdline`; nil when it is gone or a zombie.
    public static func read(_ pid: Int32) -> Process? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return nil }
        // After the command name: state, parent, process group, session.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count >= 4, fields[0] != "Z", fields[0] != "X", let parent = Int32(fields[1]), let session = Int32(fields[3]) else { return nil }
        let arguments = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        return Process(pid: pid, parent: parent, session: session, arguments: arguments.last == "" ? Array(arguments.dropLast()) : arguments)
    }
}
