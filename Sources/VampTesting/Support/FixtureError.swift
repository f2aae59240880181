/// Why a test fixture could not start or stop a real server. The message says how to fix it
/// (usually which Debian package to install), so a missing server fails a test loudly instead
/// of skipping it.
public struct FixtureError: Error, CustomStringConvertible, Sendable {
    /// What went wrong and what to do about it.
    public let message: String

    /// Creates an error with a message that says what to do.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
