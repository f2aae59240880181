/// Why an operation of ``Vamp`` was refused. The API maps the code to a status (400, 403, 404, 409, 413) and the
/// message to `{"message": ...}`; the message names the artifact, the field and, for a document, the line.
public struct OperationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable category.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The input is not valid: a syntax error, a validation error, a gateway HAProxy would refuse.
        public static let invalid = Code("invalid")
        /// There is no such artifact.
        public static let notFound = Code("not-found")
        /// Another writer changed the artifact first (the version did not match).
        public static let conflict = Code("conflict")
        /// The artifact is not at the version the request expected (`If-Match`).
        public static let preconditionFailed = Code("precondition-failed")
        /// The request body is larger than the configured limit.
        public static let tooLarge = Code("too-large")
        /// The store failed; the request can be retried.
        public static let unavailable = Code("unavailable")
        /// The caller may not make this change (it would run a command and the caller's token may not).
        public static let forbidden = Code("forbidden")
    }

    /// What kind of refusal.
    public var code: Code
    /// What is wrong and what to do.
    public var message: String
    /// The error underneath, when one caused this refusal (a store's or a driver's); not part of equality.
    public var cause: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func == (lhs: OperationError, rhs: OperationError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
