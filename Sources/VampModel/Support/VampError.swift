/// An error in an artifact: what is wrong, where (artifact, field path, source line) and what
/// to do about it. Parsers and validators return these; the API turns them into
/// `{"message": ...}` with status 400 and the CLI prints ``description``.
public struct VampError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, machine-readable error code (safe for metric labels).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's text, e.g. `unexpected-key`.
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The document is not well-formed YAML or JSON.
        public static let syntax = Code("syntax")
        /// A key that the DSL does not know (Vamp's strict DSL).
        public static let unexpectedKey = Code("unexpected-key")
        /// A required field is missing.
        public static let missingField = Code("missing-field")
        /// A field has the wrong type or an unparsable value.
        public static let invalidValue = Code("invalid-value")
        /// A name or reference breaks the naming rules.
        public static let illegalName = Code("illegal-name")
        /// `kind` is missing, unknown, or inconsistent with where the document was sent.
        public static let kind = Code("kind")
        /// A nested map is neither a reference nor an anonymous definition.
        public static let referenceOrAnonymous = Code("reference-or-anonymous")
        /// Route weights do not add up.
        public static let routeWeight = Code("route-weight")
        /// Two gateways use one port.
        public static let duplicatePort = Code("duplicate-port")
        /// A dependency is not satisfied by any breed of the blueprint.
        public static let unresolvedDependency = Code("unresolved-dependency")
        /// A condition does not parse.
        public static let condition = Code("condition")
        /// A semantic rule of Vamp's model is broken.
        public static let invalidArtifact = Code("invalid-artifact")
        /// The input is too large or too deeply nested to be handled safely.
        public static let limit = Code("limit")
        /// An `import:` names a template or artifact that is not there.
        public static let unresolvedImport = Code("unresolved-import")
    }

    /// What kind of error this is.
    public var code: Code
    /// What is wrong and what to do, in words.
    public var message: String
    /// The artifact kind (`breed`, `blueprint`, …) when known.
    public var kind: String?
    /// The artifact name when known.
    public var name: String?
    /// The field path inside the artifact, e.g. `clusters.web.services[0].scale.memory`.
    public var path: String?
    /// The 1-based line in the source document, when the artifact came from one.
    public var line: Int?
    /// The 1-based column in the source document.
    public var column: Int?
    /// The 1-based index of the document in a multi-document input.
    public var document: Int?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, kind: String? = nil, name: String? = nil, path: String? = nil,
        line: Int? = nil, column: Int? = nil, document: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.kind = kind
        self.name = name
        self.path = path
        self.line = line
        self.column = column
        self.document = document
    }

    /// One line: `blueprint 'shop', field clusters.web.scale.memory, line 12: message`.
    public var description: String {
        var place: [String] = []
        if let document { place.append("document \(document)") }
        if let kind {
            place.append(name.map { "\(kind) '\($0)'" } ?? kind)
        } else if let name {
            place.append("'\(name)'")
        }
        if let path, !path.isEmpty { place.append("field \(path)") }
        if let line { place.append(column.map { "line \(line):\($0)" } ?? "line \(line)") }
        return place.isEmpty ? message : place.joined(separator: ", ") + ": " + message
    }
}

/// Several errors found in one pass (validation reports them all at once).
public struct VampErrors: Error, Sendable, CustomStringConvertible {
    /// The errors, in document order.
    public var errors: [VampError]

    /// Wraps errors; callers only throw this when `errors` is not empty.
    public init(_ errors: [VampError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
