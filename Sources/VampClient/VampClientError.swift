/// What went wrong talking to vamp-server: the server's own `{"message": ...}` when it answered, and whether the
/// request was refused (the caller's error: fix the document or the name) or the server could not serve it.
public struct VampClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure; new codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case refused, notFound, server, connection, invalidAnswer
        }

        let base: Base

        /// The server refused the request (400, 409, 412, 413, …): the document, a name or a flag is wrong.
        public static let refused = Code(base: .refused)
        /// Nothing by that name (404).
        public static let notFound = Code(base: .notFound)
        /// The server failed (5xx).
        public static let server = Code(base: .server)
        /// No answer: the connection was refused, reset or timed out.
        public static let connection = Code(base: .connection)
        /// The server answered something the client cannot read.
        public static let invalidAnswer = Code(base: .invalidAnswer)

        /// The code's name (`refused`, `notFound`, …), safe for logs and metric labels.
        public var description: String { base.rawValue }
    }

    /// The class of failure.
    public var code: Code
    /// The HTTP status, when the server answered.
    public var status: Int?
    /// The server's message (`{"message": ...}`), or what the client saw.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, status: Int? = nil, message: String) {
        self.code = code
        self.status = status
        self.message = message
    }

    /// True when the request itself was wrong (4xx): a script should fix its input rather than retry.
    public var isUserError: Bool { code == .refused || code == .notFound }

    /// The message, as the CLI prints it.
    public var description: String { message }
}
