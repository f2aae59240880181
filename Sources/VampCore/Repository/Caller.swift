import VampModel

/// Who makes a change, as the API learned it from the request's token. The API sets ``current`` around a request's
/// handler; every commit of the facade reads it to name the token in the archive events and to refuse a change that
/// would run a new command line when the caller may not.
///
/// No caller (`nil`, a program using the facade directly) is trusted: the facade is a library, and who may call it is
/// the host's decision.
public struct Caller: Sendable, Hashable {
    /// The token's name (never its secret); `nil` when the API runs without authentication.
    public var name: String?
    /// True when the caller may introduce `command` breeds (the `command` and `admin` roles, or no authentication).
    public var mayRunCommands: Bool

    /// A caller.
    public init(name: String?, mayRunCommands: Bool) {
        self.name = name
        self.mayRunCommands = mayRunCommands
    }

    /// The caller of the operation running in this task.
    @TaskLocal public static var current: Caller?
}
