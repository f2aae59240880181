import Foundation
import VampTesting

/// The processes of a server's folder, from `/proc`.
enum FolderProcesses {
    /// HAProxy masters on the folder's embedded agent configuration (a worker has the same command line, but a
    /// HAProxy for its parent).
    static func masters(of folder: TemporaryDirectory) -> [Int32] {
        let file = folder.url.appendingPathComponent(".vamp/gateway-agent/haproxy.cfg").path
        return processes().filter { process in
            process.arguments.first?.hasSuffix("haproxy") == true && process.arguments.contains(file)
                && !(commandLine(process.parent).first?.hasSuffix("haproxy") ?? false)
        }.map(\.pid)
    }

    /// `sava --text T` processes working in the folder, counted by `T`.
    static func sava(of folder: TemporaryDirectory) -> [String: Int] {
        let roots = [folder.url.path, folder.url.resolvingSymlinksInPath().path]
        var counts: [String: Int] = [:]
        for process in processes() where process.arguments.first?.hasSuffix("sava") == true {
            guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/cwd"),
                  roots.contains(where: { cwd.hasPrefix($0) }),
                  let index = process.arguments.firstIndex(of: "--text"), index + 1 < process.arguments.count
            else { continue }
            counts[process.arguments[index + 1], default: 0] += 1
        }
        return counts
    }

    static func processes() -> [(pid: Int32, parent: Int32, arguments: [String])] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", let parent = Int32(fields[1]) else { return nil }
            return (pid, parent, commandLine(pid))
        }
    }

    static func commandLine(_ pid: Int32) -> [String] {
        (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}
