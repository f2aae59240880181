import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The user the local driver runs commands as (`vamp.container-driver.local.user`): its ids and home, read from the
/// user database once, when the settings are read.
public struct LocalUser: Sendable, Hashable {
    /// The login name.
    public var name: String
    /// The user id the processes get.
    public var uid: UInt32
    /// The primary group id the processes get (their only group).
    public var gid: UInt32
    /// `HOME` of the processes.
    public var home: String

    /// Creates a user from known ids (tests); ``lookup(_:)`` reads them from the system.
    public init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }

    /// The user named `name` (or a numeric uid) in the system's user database, `nil` when there is none.
    public static func lookup(_ name: String) -> LocalUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let found: Bool
        if let uid = UInt32(name) {
            found = getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0 && result != nil
        } else {
            found = getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0 && result != nil
        }
        guard found else { return nil }
        return LocalUser(
            name: String(cString: entry.pw_name), uid: entry.pw_uid, gid: entry.pw_gid, home: String(cString: entry.pw_dir))
    }

    /// Why the driver cannot run commands as `user` in a server whose effective user id is `serverUID`, or `nil` when
    /// it can: switching to another user needs root (it would fail at every start otherwise, far from the setting).
    /// The server's own user needs nothing.
    public static func refusal(for user: LocalUser, serverUID: UInt32) -> String? {
        guard serverUID != 0, user.uid != serverUID else { return nil }
        return "running commands as \(user.name) (uid \(user.uid)) needs vamp-server to run as root, and it runs as uid \(serverUID); "
            + "start it as root, or leave the setting empty to run commands as the server's own user"
    }

    /// This process's effective user id.
    public static var serverUID: UInt32 { geteuid() }
}
