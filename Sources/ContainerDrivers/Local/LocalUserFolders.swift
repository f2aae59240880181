import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The working folders of commands that run as another user than the server's
/// (``LocalProcessDriver/Configuration/user``): outside the server's state directory, which is 0700 and the server's
/// alone, so that the user can reach its folder by path.
enum LocalUserFolders {
    /// `<root>/<key>`, a folder of its own per service, owned by `user` and 0700; `root` is created 0711 (others may pass
    /// through to their folder, not list it). A symbolic link in place of either folder is refused.
    static func prepare(root: URL, key: String, for user: LocalUser) throws -> URL {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        try check(root.path)
        guard chmod(root.path, 0o711) == 0 else { throw failure("chmod 0711", root.path) }
        let folder = root.appendingPathComponent(key, isDirectory: true)
        if mkdir(folder.path, 0o700) != 0, errno != EEXIST { throw failure("mkdir", folder.path) }
        try check(folder.path)
        guard chown(folder.path, user.uid, user.gid) == 0 else { throw failure("chown \(user.uid):\(user.gid)", folder.path) }
        guard chmod(folder.path, 0o700) == 0 else { throw failure("chmod 0700", folder.path) }
        return folder
    }

    /// Throws unless `path` is a real folder (not a symbolic link to one).
    private static func check(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw failure("lstat", path) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ContainerDriverError("\(path) is not a folder (a symbolic link or a file); remove it, the local driver creates it")
        }
    }

    private static func failure(_ call: String, _ path: String) -> ContainerDriverError {
        ContainerDriverError("\(call) \(path) failed: \(String(cString: strerror(errno)))")
    }
}
