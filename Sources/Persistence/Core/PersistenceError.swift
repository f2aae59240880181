/// Why a store refused or failed an operation. The message names the kind, name and versions
/// involved so it can be shown to an operator as is; ``cause`` keeps the driver's error it wraps.
public struct PersistenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, machine-readable category of ``PersistenceError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code as text, e.g. `version-conflict`.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// No artifact with that kind and name.
        public static let notFound = Code("not-found")
        /// `create` found an artifact with that kind and name already.
        public static let alreadyExists = Code("already-exists")
        /// The expected version given to `update` or `delete` is not the stored one.
        public static let versionConflict = Code("version-conflict")
        /// An event was rejected (no tags, a bad type, an empty tag).
        public static let invalidEvent = Code("invalid-event")
        /// A query was rejected (`lt` with `lte`, unparsable date math, bad paging).
        public static let invalidQuery = Code("invalid-query")
        /// A stored record could not be read back (corrupt JSON, unknown operation).
        public static let corruptRecord = Code("corrupt-record")
        /// A store configuration value is missing or malformed (type, URL, path, retention).
        public static let invalidConfiguration = Code("invalid-configuration")
        /// The database failed; the message carries its error.
        public static let storage = Code("storage")

        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human message naming kind, name and versions where they apply.
    public var message: String
    /// The artifact kind involved, if any.
    public var kind: String?
    /// The artifact name involved, if any.
    public var name: String?
    /// The version the caller expected, for ``Code-swift.struct/versionConflict``.
    public var expectedVersion: Int64?
    /// The version actually stored, for ``Code-swift.struct/versionConflict``.
    public var actualVersion: Int64?
    /// The underlying error (a database driver's, an HTTP client's) for ``Code-swift.struct/storage``
    /// failures; not part of equality.
    public var cause: (any Error)?

    /// Creates an error.
    public init(
        code: Code, message: String, kind: String? = nil, name: String? = nil,
        expectedVersion: Int64? = nil, actualVersion: Int64? = nil, cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.kind = kind
        self.name = name
        self.expectedVersion = expectedVersion
        self.actualVersion = actualVersion
        self.cause = cause
    }

    public var description: String { "\(code): \(message)" }

    /// Equal when everything but ``cause`` is equal (errors are not `Equatable`).
    public static func == (lhs: PersistenceError, rhs: PersistenceError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.kind == rhs.kind && lhs.name == rhs.name
            && lhs.expectedVersion == rhs.expectedVersion && lhs.actualVersion == rhs.actualVersion
    }

    static func notFound(kind: String, name: String) -> PersistenceError {
        PersistenceError(code: .notFound, message: "\(kind) '\(name)' does not exist", kind: kind, name: name)
    }

    static func alreadyExists(kind: String, name: String, version: Int64) -> PersistenceError {
        PersistenceError(
            code: .alreadyExists,
            message: "\(kind) '\(name)' already exists (version \(version)); update it with that expected version",
            kind: kind, name: name, actualVersion: version)
    }

    static func conflict(kind: String, name: String, expected: Int64, actual: Int64) -> PersistenceError {
        PersistenceError(
            code: .versionConflict,
            message: "\(kind) '\(name)' is at version \(actual), not the expected version \(expected); "
                + "read it again and retry",
            kind: kind, name: name, expectedVersion: expected, actualVersion: actual)
    }

    static func duplicateEvent(_ id: String) -> PersistenceError {
        // A conflict with what is stored (the API's 409), not an invalid event.
        PersistenceError(code: .alreadyExists, message: "an event with id '\(id)' exists already; leave the id out or choose another")
    }

    /// `error` as a ``Code-swift.struct/storage`` failure of `what` ("creating breeds 'sava'"), keeping it as
    /// the ``cause``; a `PersistenceError` is returned as it is.
    static func storage(_ what: String, _ error: any Error, kind: String? = nil, name: String? = nil) -> PersistenceError {
        if let error = error as? PersistenceError { return error }
        return PersistenceError(
            code: .storage, message: "\(what) failed: \(String(reflecting: error))", kind: kind, name: name, cause: error)
    }
}
