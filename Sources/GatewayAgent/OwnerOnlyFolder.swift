#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Folders only their owner may enter: 0700, their files 0600 (an executable file keeps its owner's `x`). What the
/// agent and `vamp-server` keep (the database, logs, records, KV files, HAProxy's configuration, pid file and sockets)
/// is readable by no other user of the machine.
public enum OwnerOnlyFolder {
    /// Creates `folder` and its missing parents with mode 0700, and takes group and others' rights off `folder` itself
    /// when it exists already (a folder an older version left world-readable).
    public static func prepare(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = restrict(folder.path)
    }

    /// Takes group and others' rights off `folder` and, with `recursive`, off everything in it (symbolic links are not
    /// followed, other owners' files are left alone); returns how many entries were changed. Nothing happens when
    /// `folder` does not exist.
    @discardableResult
    public static func tighten(_ folder: URL, recursive: Bool = true) -> Int {
        var changed = restrict(folder.path) ? 1 : 0
        guard recursive, let relatives = try? FileManager.default.subpathsOfDirectory(atPath: folder.path) else { return changed }
        for relative in relatives where restrict(folder.appendingPathComponent(relative).path) { changed += 1 }
        return changed
    }

    /// `chmod go-rwx` of one entry owned by this process's user; true when its mode changed. Symbolic links are left
    /// alone (their target may be anywhere).
    static func restrict(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFLNK, info.st_uid == geteuid(), info.st_mode & 0o077 != 0 else {
            return false
        }
        return chmod(path, info.st_mode & 0o7700) == 0
    }
}

/// The gateways' unix sockets a previous HAProxy left in the socket directory.
enum StaleSockets {
    /// Removes every unix socket directly in `folder` (nothing else, nothing in sub-folders) but `keeping` (the agent's
    /// own log socket); returns how many. Called only before a new master starts on the work folder, when no HAProxy
    /// of this agent listens on them.
    static func remove(in folder: URL, keeping: Set<String> = []) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var removed = 0
        for name in names {
            let path = folder.appendingPathComponent(name).path
            guard !keeping.contains(path) else { continue }
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }
}
