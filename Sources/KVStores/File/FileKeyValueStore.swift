#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A key-value store in a local folder: one file per key, for a server and an agent on one
/// machine.
///
/// The file name is the key, percent-encoded (`/vamp/a` → `%2Fvamp%2Fa`), so a key can hold a
/// value and have children at the same time. Writes go to a temporary file in the same folder
/// that is then renamed over the old one, so a reader never sees half a value. Writers take an
/// exclusive `flock` on `.lock` in the folder, which makes ``setIfChanged(_:value:)`` atomic
/// between threads and processes. A `set`, `setIfChanged` that writes or `delete` through this
/// store (or a copy of it) wakes its watches at once; writes by other processes, or by another
/// store on the same folder, are seen by polling (every 100 ms by default).
///
/// The file I/O, and the wait for the lock another process may hold, run on NIO's blocking-I/O
/// thread pool (`NIOThreadPool.singleton`), never on a thread of Swift's cooperative pool: a
/// writer in another process that holds the lock stalls only the callers that wait for it.
///
/// The folder is created owner-only (0700) and every file in it 0600.
///
/// An entry's `version` is the file's modification time in nanoseconds: it changes with each
/// write in practice but is neither monotonic (the clock may step back) nor unique (two writes
/// within the file system's timestamp granularity). Do not order file-store writes by it.
public struct FileKeyValueStore: KeyValueStore {
    /// The folder holding one file per key.
    public let root: URL
    /// How often a watch reads its file, for writes by other processes.
    public let pollInterval: Duration
    private let changes = FileStoreChanges()

    /// Creates a store in `root`, creating the folder if needed.
    public init(root: URL, pollInterval: Duration = .milliseconds(100)) throws(KeyValueStoreError) {
        self.root = root
        self.pollInterval = pollInterval
        do {
            // Owner-only: the folder 0700, every file in it 0600 (the gateways' configuration is nobody else's).
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KeyValueStoreError(
                .io, "cannot create the store folder: \(error)", server: root.path)
        }
    }

    private var server: String { root.path }

    static func fileName(for key: String) -> String {
        var name = ""
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                name.append(Character(UnicodeScalar(byte)))
            default:
                name += PercentEncoding.escape(byte)
            }
        }
        return name
    }

    static func key(forFileName name: String) -> String? {
        guard name.hasPrefix("%2F") else { return nil }
        return PercentEncoding.decode(name)
    }

    private func url(for key: String) -> URL { root.appendingPathComponent(Self.fileName(for: key)) }

    public func get(_ key: String) async throws(KeyValueStoreError) -> KeyValueEntry? {
        try KeyPath.validate(key, server: server)
        return try await offloaded { () throws(KeyValueStoreError) in try read(key) }
    }

    /// Runs `body` (file I/O, a wait for the lock) on NIO's blocking-I/O thread pool.
    private func offloaded<T: Sendable>(
        _ body: @escaping @Sendable () throws(KeyValueStoreError) -> T
    ) async throws(KeyValueStoreError) -> T {
        let result: Result<T, KeyValueStoreError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive { () -> Result<T, KeyValueStoreError> in
                do throws(KeyValueStoreError) { return .success(try body()) } catch { return .failure(error) }
            }
        } catch {
            throw KeyValueStoreError(.io, "the blocking-I/O thread pool does not run: \(error)", server: server)
        }
        return try result.get()
    }

    private func read(_ key: String) throws(KeyValueStoreError) -> KeyValueEntry? {
        let path = url(for: key).path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw KeyValueStoreError(.io, "cannot open \(path) for reading: errno \(errno)", server: server, key: key)
        }
        defer { close(descriptor) }
        var info = stat()
        fstat(descriptor, &info)
        let version = UInt64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ UInt64(info.st_mtim.tv_nsec)
        var value: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                value += buffer[..<count]
            } else if count == 0 {
                return KeyValueEntry(key: key, value: value, version: version)
            } else if errno != EINTR {
                throw KeyValueStoreError(.io, "cannot read \(path): errno \(errno)", server: server, key: key)
            }
        }
    }

    /// Runs `body` holding the folder's exclusive write lock (`flock` on `.lock`).
    private func locked<T>(_ key: String, _ body: () throws(KeyValueStoreError) -> T) throws(KeyValueStoreError) -> T {
        let path = root.appendingPathComponent(".lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw KeyValueStoreError(.io, "cannot open the lock file \(path): errno \(errno)", server: server, key: key)
        }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw KeyValueStoreError(.io, "cannot lock \(path): errno \(errno)", server: server, key: key)
            }
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    public func set(_ key: String, value: [UInt8]) async throws(KeyValueStoreError) {
        try KeyPath.validate(key, server: server)
        try await offloaded { () throws(KeyValueStoreError) in
            try locked(key) { () throws(KeyValueStoreError) in try write(key, value) }
        }
        changes.changed()
    }

    /// Compares and writes under the folder's exclusive lock.
    @discardableResult
    public func setIfChanged(_ key: String, value: [UInt8]) async throws(KeyValueStoreError) -> Bool {
        try KeyPath.validate(key, server: server)
        let wrote = try await offloaded { () throws(KeyValueStoreError) -> Bool in
            try locked(key) { () throws(KeyValueStoreError) -> Bool in
                if try read(key)?.value == value { return false }
                try write(key, value)
                return true
            }
        }
        if wrote { changes.changed() }
        return wrote
    }

    private func write(_ key: String, _ value: [UInt8]) throws(KeyValueStoreError) {
        let target = url(for: key)
        let temporary = root.appendingPathComponent(".tmp-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: Data(value), attributes: [.posixPermissions: 0o600]) else {
            throw KeyValueStoreError(
                .io, "cannot write \(temporary.path); check that the folder is writable", server: server, key: key)
        }
        guard rename(temporary.path, target.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw KeyValueStoreError(
                .io, "cannot rename \(temporary.path) to \(target.path): errno \(code)", server: server, key: key)
        }
    }

    public func delete(_ key: String) async throws(KeyValueStoreError) {
        try KeyPath.validate(key, server: server)
        let path = url(for: key).path
        try await offloaded { () throws(KeyValueStoreError) in
            if unlink(path) != 0 && errno != ENOENT {
                throw KeyValueStoreError(.io, "cannot delete \(path): errno \(errno)", server: server, key: key)
            }
        }
        changes.changed()
    }

    public func children(of key: String) async throws(KeyValueStoreError) -> [String] {
        try KeyPath.validate(key, server: server, allowRoot: true)
        let root = root
        let server = server
        let names = try await offloaded { () throws(KeyValueStoreError) -> [String] in
            do {
                return try FileManager.default.contentsOfDirectory(atPath: root.path)
            } catch {
                throw KeyValueStoreError(.io, "cannot list \(root.path): \(error)", server: server, key: key)
            }
        }
        return KeyPath.childNames(of: key, in: names.compactMap(Self.key(forFileName:)))
    }

    public func watch(prefix: String) -> KeyValuePrefixWatch {
        let store = self
        return KeyValuePrefixWatch.running(prefix: prefix) { emitter in
            while !Task.isCancelled {
                // Noted before the read: a write during the read ends the wait below at once.
                let seen = store.changes.changeNumber
                do {
                    let keys = try await store.offloaded { () throws(KeyValueStoreError) -> [String] in
                        do {
                            return try FileManager.default.contentsOfDirectory(atPath: store.root.path).compactMap(Self.key(forFileName:))
                        } catch {
                            throw KeyValueStoreError(.io, "cannot list \(store.root.path): \(error)", server: store.server)
                        }
                    }
                    let covered = keys.filter { emitter.covers($0) }
                    let entries = try await store.offloaded { () throws(KeyValueStoreError) -> [KeyValueEntry] in
                        var entries: [KeyValueEntry] = []
                        for key in covered { if let entry = try store.read(key) { entries.append(entry) } }
                        return entries
                    }
                    emitter.emit(entries)
                } catch {
                    // A listing or read error is retried at the next poll.
                }
                await store.changes.wait(after: seen, timeout: store.pollInterval)
            }
        }
    }

    public func watch(_ key: String) -> KeyValueWatch {
        let store = self
        return KeyValueWatch.running(key: key) { emitter in
            guard (try? KeyPath.validate(key, server: store.server)) != nil else { return }
            while !Task.isCancelled {
                // Noted before the read: a write during the read ends the wait below at once.
                let seen = store.changes.changeNumber
                do {
                    emitter.emit(try await store.offloaded { () throws(KeyValueStoreError) in try store.read(key) })
                } catch {
                    // A read error (say, a folder made unreadable) is retried at the next poll.
                }
                await store.changes.wait(after: seen, timeout: store.pollInterval)
            }
        }
    }
}
