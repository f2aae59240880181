package import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The HAProxy calls shared by the agent and the test fixtures: `haproxy -c` and the master
/// CLI's `show proc`.
package enum HAProxyControl {
    /// Runs `haproxy -c -f file`: nil when valid, else HAProxy's alerts (or all its output).
    /// Throws when haproxy cannot run or is killed, so "not checked" is never "refused".
    package static func check(_ file: URL, executable: String = "/usr/sbin/haproxy") throws -> String? {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw HAProxyControlError("HAProxy not found at \(executable); install it with: apt-get install haproxy")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", "-f", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            throw HAProxyControlError("haproxy -c was killed by signal \(process.terminationStatus); the configuration was not checked")
        }
        if process.terminationStatus == 0 { return nil }
        let alerts = output.split(separator: "\n").filter { $0.contains("[ALERT]") }.joined(separator: "\n")
        return alerts.isEmpty ? output : alerts
    }

    /// The pid of the current worker, from the master CLI's `show proc`; nil when the master
    /// does not answer or lists no worker.
    package static func currentWorker(masterSocket: String) -> Int32? {
        guard let text = try? MasterCLI.send("show proc", to: masterSocket) else { return nil }
        var inWorkers = false
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# workers") { inWorkers = true; continue }
            if line.hasPrefix("#") { inWorkers = false; continue }
            if inWorkers, let pid = line.split(separator: " ").first.flatMap({ Int32($0) }) { return pid }
        }
        return nil
    }
}

/// The master CLI over its unix socket: one command, the answer until the master closes.
package enum MasterCLI {
    /// Sends one command and returns the answer.
    package static func send(_ command: String, to path: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HAProxyControlError("socket(AF_UNIX) failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8CString)
        guard bytes.count <= MemoryLayout.size(ofValue: address.sun_path) else { throw HAProxyControlError("master socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, byte) in bytes.enumerated() { raw[i] = UInt8(bitPattern: byte) } }
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard connected == 0 else { throw HAProxyControlError("cannot connect to the HAProxy master CLI at \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = command + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        shutdown(fd, Int32(SHUT_WR))
        var result = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            result += buffer[0..<n]
        }
        return String(decoding: result, as: UTF8.self)
    }
}

/// A failure to run HAProxy or to talk to its master CLI, with what to do.
package struct HAProxyControlError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    package var message: String
    init(_ message: String) { self.message = message }
    package var description: String { message }
}
