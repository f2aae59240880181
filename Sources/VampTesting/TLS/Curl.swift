public import Foundation
import Dispatch

/// The real `curl` command, for tests that need a TLS and HTTP/2 client other than the one under test. A missing
/// curl fails with the install command.
public enum Curl {
    /// curl's path on Debian.
    public static let executable = "/usr/bin/curl"

    /// What one run printed.
    public struct Result: Sendable {
        /// The exit status (0: the transfer worked; 60: the certificate was not verified; 7: refused, ...).
        public var status: Int32
        /// Standard output (the body, then what `-w` asked for).
        public var output: String
        /// Standard error (with `-v`, the TLS handshake: `subject:`, `ALPN:`, ...).
        public var errors: String
    }

    /// Runs `curl arguments` (at most `timeoutSeconds`, curl's own `--max-time`) on a thread of its own.
    public static func run(_ arguments: [String], timeoutSeconds: Int = 10) async throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw FixtureError("curl is not installed; install it: apt-get install -y curl (Scripts/test does)")
        }
        return try await withCheckedThrowingContinuation { (done: CheckedContinuation<Result, any Error>) in
            Thread.detachNewThread {
                do {
                    let output = Pipe(), errors = Pipe()
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable)
                    process.arguments = ["--silent", "--show-error", "--max-time", String(timeoutSeconds)] + arguments
                    process.standardOutput = output
                    process.standardError = errors
                    process.standardInput = FileHandle.nullDevice
                    try process.run()
                    // stderr is read on another thread so that neither pipe fills while the other is read.
                    let errorText = LockedText(), errorRead = DispatchSemaphore(value: 0)
                    let reader = Thread {
                        errorText.set(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
                        errorRead.signal()
                    }
                    reader.start()
                    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    process.waitUntilExit()
                    errorRead.wait()
                    done.resume(returning: Result(status: process.terminationStatus, output: text, errors: errorText.value))
                } catch {
                    done.resume(throwing: error)
                }
            }
        }
    }
}

final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    func set(_ value: String) { lock.withLock { text = value } }
    var value: String { lock.withLock { text ?? "" } }
}
