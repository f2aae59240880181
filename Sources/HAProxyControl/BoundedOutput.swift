import Subprocess
import SystemPackage

/// What a HAProxy run said, kept within a fixed size however much it writes: its first and last bytes and its
/// `[ALERT]` lines (a configuration of 10,000 routes makes `haproxy -c` write megabytes of warnings; a collector
/// with a limit would fail, and the check with it). Outcomes are decided by the exit status, never by this text.
public struct BoundedOutput: Sendable, Equatable {
    /// Bytes kept at the start and at the end.
    public static let edgeLimit = 16 * 1024
    /// Bytes of `[ALERT]` lines kept.
    public static let alertLimit = 64 * 1024
    /// `[ALERT]` lines kept, at most.
    public static let alertLineLimit = 200

    /// The first bytes.
    public private(set) var head: [UInt8] = []
    /// Bytes after the head, of which the last ``edgeLimit`` are kept.
    private var tail: [UInt8] = []
    /// Every byte written, counted.
    public private(set) var totalBytes = 0
    /// `[ALERT]` lines, the first ``alertLineLimit`` of them.
    public private(set) var alertLines: [String] = []
    /// Alert lines not kept.
    public private(set) var droppedAlerts = 0
    private var alertBytes = 0
    /// The line being read (bounded: a longer line is cut).
    private var line: [UInt8] = []
    private static let lineLimit = 4096

    /// Nothing yet.
    public init() {}

    /// Adds a chunk of output.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        totalBytes += bytes.count
        var rest = 0
        if head.count < Self.edgeLimit {
            rest = min(Self.edgeLimit - head.count, bytes.count)
            head.append(contentsOf: bytes[0..<rest])
        }
        if rest < bytes.count {
            tail.append(contentsOf: bytes[rest...].suffix(Self.edgeLimit))
            if tail.count > 2 * Self.edgeLimit { tail.removeFirst(tail.count - Self.edgeLimit) }
        }
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                line.append(contentsOf: bytes[start...].prefix(max(0, Self.lineLimit - line.count)))
                break
            }
            line.append(contentsOf: bytes[start..<newline].prefix(max(0, Self.lineLimit - line.count)))
            endLine()
            start = newline + 1
        }
    }

    /// Adds text (for tests).
    public mutating func append(_ text: String) {
        Array(text.utf8).withUnsafeBytes { append($0) }
    }

    /// Ends the output (a last line without a newline).
    public mutating func finish() { if !line.isEmpty { endLine() } }

    private mutating func endLine() {
        defer { line.removeAll(keepingCapacity: true) }
        guard line.count >= 7, Self.contains(line, "[ALERT]") else { return }
        if alertLines.count < Self.alertLineLimit && alertBytes + line.count <= Self.alertLimit {
            alertLines.append(String(decoding: line, as: UTF8.self))
            alertBytes += line.count
        } else {
            droppedAlerts += 1
        }
    }

    private static func contains(_ bytes: [UInt8], _ word: String) -> Bool {
        let needle = Array(word.utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// The output, whole when it fit, else its head and tail with the number of bytes left out between them.
    public var text: String {
        let tail = self.tail.suffix(Self.edgeLimit)
        let skipped = totalBytes - head.count - tail.count
        if skipped == 0 { return String(decoding: head + Array(tail), as: UTF8.self) }
        return String(decoding: head, as: UTF8.self) + "\n[… \(skipped) bytes of output left out …]\n" + String(decoding: tail, as: UTF8.self)
    }

    /// The `[ALERT]` lines (with a count of the ones left out), or ``text`` when there is none.
    public var alerts: String {
        guard !alertLines.isEmpty else { return text }
        return alertLines.joined(separator: "\n") + (droppedAlerts > 0 ? "\n[… \(droppedAlerts) more alert lines left out …]" : "")
    }
}

extension HAProxyControl {
    /// Runs `executable` with `arguments`, its standard output and error read as they come into a
    /// ``BoundedOutput`` (so no amount of output makes the run fail), and returns how it ended with what it said.
    public static func runCollectingOutput(
        _ executable: String, arguments: [String], workingDirectory: String? = nil
    ) async throws -> (status: ProcessExit, output: BoundedOutput) {
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), environment: ChildEnvironment.subprocess,
            workingDirectory: workingDirectory.map { FilePath($0) }, input: .none, output: .sequence, error: .combinedWithOutput
        ) { execution in
            var collected = BoundedOutput()
            for try await buffer in execution.standardOutput {
                buffer.withUnsafeBytes { collected.append($0) }
            }
            collected.finish()
            return collected
        }
        let exit: ProcessExit = switch result.terminationStatus {
        case .exited(let code): .exited(Int32(code))
        case .signaled(let signal): .signaled(Int32(signal))
        }
        return (exit, result.closureResult)
    }
}

/// How a process ended.
public enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    /// `exited(N)` or `signaled(N)`.
    public var description: String {
        switch self {
        case .exited(let code): "exited(\(code))"
        case .signaled(let signal): "signaled(\(signal))"
        }
    }
}
