import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Synchronous clean-up for a `defer` or a `deinit`, which cannot await: a test that fails half-way
/// (a `try` that throws, a `#require`) must not leave a HAProxy serving (it is detached with `-D`,
/// so it outlives the test process).
enum Teardown {
    /// HAProxy processes (masters and workers, not zombies) whose command line names `directory`.
    static func haproxies(in directory: String) -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let command = String(decoding: data, as: UTF8.self)
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return command.hasPrefix("/usr/sbin/haproxy") && command.contains(directory)
                && stat.split(separator: ")").last?.split(separator: " ").first != "Z"
        }
    }

    /// Stops every HAProxy of `directory`: SIGTERM, then SIGKILL to what is left after 5 s. Looks again for
    /// half a second after the last one is gone, three rounds at most: an agent cancelled a moment ago may still
    /// be launching a master (detached, so nothing else would stop it).
    static func stopHAProxy(in directory: String) {
        for _ in 0..<3 {
            var running = haproxies(in: directory)
            if running.isEmpty {
                usleep(500_000)
                running = haproxies(in: directory)
                if running.isEmpty { return }
            }
            for pid in running { kill(pid, SIGTERM) }
            let deadline = ContinuousClock.now + .seconds(5)
            while !haproxies(in: directory).isEmpty, ContinuousClock.now < deadline { usleep(20_000) }
            for pid in haproxies(in: directory) { kill(pid, SIGKILL) }
        }
    }
}
