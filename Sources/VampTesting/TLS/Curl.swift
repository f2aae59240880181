public import Foundation

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

    /// Runs `curl arguments` (at most `timeoutSeconds`, curl's own `--max-time`) on a thread of its own
    /// (``ExternalProcess/run(_:_:installHint:)``).
    public static func run(_ arguments: [String], timeoutSeconds: Int = 10) async throws -> Result {
        let finished = try await ExternalProcess.run(
            executable, ["--silent", "--show-error", "--max-time", String(timeoutSeconds)] + arguments,
            installHint: "curl is not installed; install it: apt-get install -y curl (Scripts/test does)")
        return Result(status: finished.status, output: finished.output, errors: finished.errors)
    }
}
