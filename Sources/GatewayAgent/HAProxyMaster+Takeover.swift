#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HAProxyControl
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What a (re)start does with the HAProxy masters it finds on the work folder. Pure: the survey is the caller's.
struct TakeoverPlan: Sendable, Equatable {
    /// How HAProxy comes up.
    enum Start: Sendable, Equatable {
        /// Take over this master, which answers on the master CLI; `reload`: reload it onto the file on disk (it
        /// is not known to run it).
        case adopt(Int32, reload: Bool)
        /// Start a new master (no master answers).
        case launch
    }

    var start: Start
    /// The other masters of the folder, stopped once HAProxy serves.
    var retire: [Int32]

    /// Never two masters on one folder: the one answering on the folder's master socket is kept (without a reload
    /// when `runsFileOnDisk`), every other one is retired; when none answers, a new one starts and all are retired.
    /// A restart killed at any moment leaves masters that the next survey finds again (it reads `/proc`, not the pid
    /// file), so the next start still ends with one.
    static func decide(masters: [Int32], answering: Int32?, runsFileOnDisk: Bool) -> TakeoverPlan {
        guard let answering else { return TakeoverPlan(start: .launch, retire: masters.sorted()) }
        return TakeoverPlan(start: .adopt(answering, reload: !runsFileOnDisk), retire: masters.filter { $0 != answering }.sorted())
    }
}

/// What a survey of the work folder found.
struct MasterSurvey: Sendable, Equatable {
    /// Every HAProxy master running this folder's configuration file.
    var masters: [Int32]
    /// The master answering on this folder's master socket (the last one started on it), and its current worker.
    var answering: Int32?
    var worker: Int32?
}

/// Which file a master last loaded: `haproxy.loaded` in the work folder holds the master, its worker and the identity
/// (inode, size, modification time) of `haproxy.cfg` when that worker came up on it. Written after each start and
/// each reload or weight change that HAProxy confirmed, so a restarted agent whose master and worker are the same
/// and whose file is unchanged knows the master runs it, and takes it over without a reload.
struct LoadedRecord: Sendable, Equatable {
    var master: Int32
    var worker: Int32
    var file: FileIdentity

    /// A file's identity: any write of the agent replaces the file (rename), a new inode.
    struct FileIdentity: Sendable, Equatable {
        var inode: UInt64
        var size: Int64
        var modified: Int64

        /// The identity of the file at `path`, nil when it does not exist.
        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        }

        init(inode: UInt64, size: Int64, modified: Int64) {
            self.inode = inode
            self.size = size
            self.modified = modified
        }
    }

    /// The record's line.
    var line: String { "\(master) \(worker) \(file.inode) \(file.size) \(file.modified)\n" }

    /// Reads a record's line.
    init?(line: String) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count == 5, let master = Int32(words[0]), let worker = Int32(words[1]), let inode = UInt64(words[2]),
              let size = Int64(words[3]), let modified = Int64(words[4])
        else { return nil }
        self.init(master: master, worker: worker, file: FileIdentity(inode: inode, size: size, modified: modified))
    }

    init(master: Int32, worker: Int32, file: FileIdentity) {
        self.master = master
        self.worker = worker
        self.file = file
    }
}

extension HAProxyMaster {
    /// The record of what the master last loaded.
    var recordFile: URL { workDirectory.appendingPathComponent("haproxy.loaded") }

    /// Notes that `master`'s `worker` runs the configuration file as it is now.
    func recordLoaded(master: Int32, worker: Int32) {
        guard let identity = LoadedRecord.FileIdentity(path: configurationFile.path) else { return }
        try? Data(LoadedRecord(master: master, worker: worker, file: identity).line.utf8).write(to: recordFile, options: .atomic)
    }

    /// Forgets the record (the file on disk is about to change without HAProxy knowing).
    func forgetLoaded() { try? FileManager.default.removeItem(at: recordFile) }

    /// Whether `master`'s current `worker` is known to run the configuration file on disk.
    func runsFileOnDisk(master: Int32, worker: Int32?) -> Bool {
        guard let worker, let text = try? String(contentsOf: recordFile, encoding: .utf8), let record = LoadedRecord(line: text),
              let identity = LoadedRecord.FileIdentity(path: configurationFile.path)
        else { return false }
        return record == LoadedRecord(master: master, worker: worker, file: identity)
    }

    /// Every HAProxy master of this folder's configuration file, from `/proc`.
    func allMasters() -> [Int32] {
        HAProxyProcesses.masters(configurationFile: configurationFile.path, executable: executable)
    }

    /// The masters of the folder and which one answers on its master socket. A master that is re-executing itself
    /// (a reload) does not answer for a moment: asked again for up to `patience` while a master of the folder lives,
    /// so a restart during a reload takes the master over instead of starting a second one.
    func survey(patience: Duration = .seconds(3)) async -> MasterSurvey {
        let deadline = ContinuousClock.now + patience
        var masters = allMasters()
        while !masters.isEmpty {
            if let answer = await HAProxyControl.showProc(masterSocket: masterSocket, timeout: .seconds(1)), let master = answer.master {
                return MasterSurvey(masters: allMasters(), answering: master, worker: answer.workers.first)
            }
            guard ContinuousClock.now < deadline else { break }
            await Self.pause(.milliseconds(100))
            masters = allMasters()
        }
        return MasterSurvey(masters: masters, answering: nil, worker: nil)
    }

    /// The pid in a pid file, if it holds one.
    static func pid(in file: URL) -> Int32? {
        (try? String(contentsOf: file, encoding: .utf8)).flatMap { Int32($0.trimmingWhitespace) }
    }

    /// Whether `pid` runs (exists and is not a zombie).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
    }

    /// The master named in the pid file, when it is a live HAProxy on this folder's configuration file (so a reused
    /// pid is never taken for it).
    func pidFileMaster() -> Int32? {
        guard let pid = Self.pid(in: pidFile), pid > 0, pid != getpid(), let process = HAProxyProcesses.read(pid),
              process.runs(configurationFile.path, executable: executable)
        else { return nil }
        return pid
    }

    /// Retires a master of this folder once ours serves: `SIGUSR1` (soft stop: its workers stop listening and
    /// finish their connections; the master exits with its last worker), then SIGTERM after `grace`, SIGKILL 5 s
    /// later.
    func retire(_ pid: Int32, grace: Duration) async {
        logger.warning("stopping a second HAProxy master of this work folder", metadata: ["vamp.haproxy.pid": "\(pid)"])
        kill(pid, SIGUSR1)
        for (signal, wait) in [(SIGTERM, grace), (SIGKILL, Duration.seconds(5))] {
            let deadline = ContinuousClock.now + wait
            while Self.isAlive(pid) && ContinuousClock.now < deadline {
                do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
            }
            guard Self.isAlive(pid) else { return }
            kill(pid, signal)
        }
    }

    /// Stops every HAProxy of this folder: each master (SIGTERM, SIGKILL after 5 s, all at once), then any worker
    /// left without its master. Returns the masters' pids.
    func stopAll() async -> [Int32] {
        let masters = allMasters()
        await withTaskGroup(of: Void.self) { group in
            for pid in masters { group.addTask { [self] in await stop(pid) } }
        }
        let processes = HAProxyProcesses.all(configurationFile: configurationFile.path, executable: executable)
        for process in processes { kill(process.pid, SIGKILL) }
        if let pid = Self.pid(in: pidFile), !Self.isAlive(pid) { try? FileManager.default.removeItem(at: pidFile) }
        return masters
    }
}
