public import VampModel

/// One artifact read from a document, with the positions of its fields so that validation
/// errors can name lines.
public struct DSLDocument: Sendable {
    /// The artifact.
    public var artifact: Artifact
    /// 1-based index of the document in its input.
    public var index: Int
    /// Field paths → source positions.
    public var sourceMap: SourceMap
    /// True when the input held several documents (errors then name the document).
    var numbered = false
    /// True for a `kind: deployment` document written as a blueprint (what to deploy, as the multi-document
    /// endpoint takes it) rather than as the deployment read model: its artifact is that blueprint.
    public var isDeploymentRequest = false

    /// Runs `Validation` (VampModel) on the artifact and adds the source line to each error. The name of a
    /// deployment request is the deployment's, which must be a DNS label (`Names.labelProblem(_:)`).
    public func validate() -> [VampError] {
        var errors = Validation.validate(artifact)
        if isDeploymentRequest, let name = artifact.name, Names.artifactNameProblem(name) == nil, let problem = Names.labelProblem(name) {
            errors.append(VampError(.illegalName, "illegal deployment name: \(problem)", kind: "deployment", name: name, path: "name"))
        }
        return locate(errors)
    }

    /// Adds this document's line (and its number in a multi-document input) to errors found
    /// about its artifact after reading, such as those of
    /// `Validation.undeclaredEnvironment(workflow:breed:)` once a referenced breed is looked up.
    public func locate(_ errors: [VampError]) -> [VampError] {
        errors.map { error in
            var located = error
            if located.line == nil, let path = error.path, let position = sourceMap.position(of: path) {
                located.line = position.line
                located.column = position.column
            }
            located.document = numbered ? index : nil
            return located
        }
    }
}

/// Reads Vamp's DSL (YAML or JSON, which is read as YAML) into the model.
///
/// Accepts every form Vamp 0.9.5 accepted (reference §2.2, the reference/inline/anonymous rules
/// of §1.0), and rejects unknown keys with their line (Vamp's strict DSL). Multi-document YAML
/// (`---`) and top-level lists yield several artifacts. Every error of a document is reported,
/// not only the first.
public enum DSLReader {
    /// Reads, resolves `import:` and validates every document of `text`: what the API does with
    /// a request body. Throws every reading and validation error of every document, sorted by
    /// document and line; a request is applied whole or not at all.
    ///
    /// - Parameters:
    ///   - text: the request body or file: YAML or JSON, one or more documents.
    ///   - kind: the kind of documents without `kind` (a per-kind endpoint); without it each
    ///     document must say its kind.
    ///   - imports: the definitions of the templates and artifacts the documents import
    ///     (see ``importReferences(in:limits:)``).
    ///   - limits: the size, depth and node limits of the input.
    public static func load(
        _ text: String, kind: ArtifactKind? = nil, imports: [ImportReference: [String: JSONValue]] = [:],
        limits: DSLLimits = DSLLimits()
    ) throws(VampErrors) -> [DSLDocument] {
        let results: [Result<DSLDocument, VampErrors>]
        do {
            results = try readEach(text, kind: kind, imports: imports, limits: limits)
        } catch {
            throw VampErrors([error])
        }
        var documents: [DSLDocument] = []
        var errors: [VampError] = []
        for result in results {
            switch result {
            case .success(let document):
                let found = document.validate()
                if found.isEmpty { documents.append(document) } else { errors += found }
            case .failure(let failure):
                errors += failure.errors
            }
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return documents
    }

    /// Reads every document without validating it. Throws every reading error of every
    /// document.
    public static func read(
        _ text: String, kind: ArtifactKind? = nil, imports: [ImportReference: [String: JSONValue]] = [:],
        limits: DSLLimits = DSLLimits()
    ) throws(VampErrors) -> [DSLDocument] {
        let results: [Result<DSLDocument, VampErrors>]
        do {
            results = try readEach(text, kind: kind, imports: imports, limits: limits)
        } catch {
            throw VampErrors([error])
        }
        var documents: [DSLDocument] = []
        var errors: [VampError] = []
        for result in results {
            switch result {
            case .success(let document): documents.append(document)
            case .failure(let failure): errors += failure.errors
            }
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return documents
    }

    /// Reads every document, returning each one's artifact or all of its errors. A document
    /// with reading errors is also validated as far as it was read, so its failure lists the
    /// validation errors of the parts that did read. Throws only when the text is not
    /// well-formed YAML/JSON as a whole.
    public static func readEach(
        _ text: String, kind: ArtifactKind? = nil, imports: [ImportReference: [String: JSONValue]] = [:],
        limits: DSLLimits = DSLLimits()
    ) throws(VampError) -> [Result<DSLDocument, VampErrors>] {
        let items = try roots(text, limits: limits)
        let numbered = items.count > 1
        return items.enumerated().map { offset, node in
            readDocument(node, kind: kind, index: offset + 1, numbered: numbered, imports: imports)
        }
    }

    /// The templates and artifacts that the documents of `text` import (`import: [name,
    /// kind/name]`), so a server can fetch them before ``load(_:kind:imports:limits:)``.
    public static func importReferences(in text: String, limits: DSLLimits = DSLLimits()) throws(VampErrors) -> [ImportReference] {
        let items: [DSLNode]
        do { items = try roots(text, limits: limits) } catch { throw VampErrors([error]) }
        var references: [ImportReference] = []
        var errors: [VampError] = []
        for (offset, node) in items.enumerated() {
            let context = ReadContext(kind: "import", document: items.count > 1 ? offset + 1 : nil)
            guard case .mapping(let entries, _) = node, let entry = entries.first(where: { $0.key == "import" }) else { continue }
            if let found = context.recover({ try context.importList(entry.value) }) {
                for reference in found where !references.contains(reference) { references.append(reference) }
            }
            errors += context.errors
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return references
    }

    static func roots(_ text: String, limits: DSLLimits) throws(VampError) -> [DSLNode] {
        let roots: [DSLNode]
        do {
            roots = try SourceParser.documents(text, limits: limits)
        } catch let error as VampError {
            throw error
        } catch {
            throw VampError(.syntax, "\(error)")
        }
        var items: [DSLNode] = []
        for root in roots {
            if case .sequence(let children, _) = root { items += children } else { items.append(root) }
        }
        return items
    }

    /// The kind of a document: its `kind`, or `expected` (a per-kind endpoint) when it has none.
    static func documentKind(
        _ original: DSLNode, expected: ArtifactKind?, documentNumber: Int?
    ) throws(VampError) -> (kind: ArtifactKind, entries: [(key: String, keyMark: SourceMark, value: DSLNode)]) {
        guard case .mapping(let entries, _) = original else {
            throw VampError(.invalidValue, "expected an artifact (a map) but found \(original.typeName)", line: original.mark.line, document: documentNumber)
        }
        var kind = expected
        if let entry = entries.first(where: { $0.key == "kind" }) {
            guard case .scalar(let text, _, _) = entry.value, let declared = ArtifactKind(name: text) else {
                throw VampError(
                    .kind, "unknown kind; use one of \(ArtifactKind.allCases.map(\.rawValue).joined(separator: ", "))",
                    path: "kind", line: entry.keyMark.line, column: entry.keyMark.column, document: documentNumber)
            }
            if let expected, expected != declared {
                throw VampError(
                    .kind, "inconsistent kind: the document says '\(declared)' but it was given as '\(expected)'",
                    kind: expected.rawValue, path: "kind", line: entry.keyMark.line, column: entry.keyMark.column, document: documentNumber)
            }
            kind = declared
        }
        guard let kind else {
            throw VampError(
                .kind, "the document has no 'kind'; add kind: breed (or blueprint, gateway, …), or give the kind (vamp validate --kind KIND)",
                line: original.mark.line, column: original.mark.column, document: documentNumber)
        }
        return (kind, entries)
    }

    static func readDocument(
        _ original: DSLNode, kind expected: ArtifactKind?, index: Int, numbered: Bool, imports: [ImportReference: [String: JSONValue]]
    ) -> Result<DSLDocument, VampErrors> {
        let documentNumber = numbered ? index : nil
        let kind: ArtifactKind, entries: [(key: String, keyMark: SourceMark, value: DSLNode)]
        do {
            (kind, entries) = try documentKind(original, expected: expected, documentNumber: documentNumber)
        } catch {
            return .failure(VampErrors([error]))
        }
        let context = ReadContext(kind: kind.rawValue, document: documentNumber)
        if let nameEntry = entries.first(where: { $0.key == "name" }), case .scalar(let text, _, _) = nameEntry.value {
            context.name = text
        }
        var node = original
        if entries.contains(where: { $0.key == "import" }) {
            guard let merged = context.recover({ try context.resolveImports(original, imports) }) else {
                return .failure(VampErrors(context.errors))
            }
            node = merged
        }
        // A `kind: deployment` document without service statuses asks for a deployment: it is a blueprint.
        let deploymentRequest = kind == .deployment && !Self.isDeploymentReadModel(node)
        let artifact = context.recover { () throws -> Artifact in
            if deploymentRequest { return .blueprint(try context.blueprint(node, "")) }
            return switch kind {
            case .breed: .breed(try context.breed(node, "", topLevel: true))
            case .blueprint: .blueprint(try context.blueprint(node, ""))
            case .scale: .scale(try context.scale(node, "", named: true))
            case .gateway: .gateway(try context.gateway(node, ""))
            case .route: .route(try context.route(path: "", node, "", named: true))
            case .condition: .condition(try context.condition(node, "", named: true))
            case .rewrite: .rewrite(try context.rewrite(node, "", named: true))
            case .sla: .sla(try context.sla(node, "", named: true))
            case .escalation: .escalation(try context.escalation(node, "", named: true))
            case .deployment: .deployment(try context.deployment(node, ""))
            case .workflow: .workflow(try context.workflow(node, ""))
            case .template: .template(try context.template(node, ""))
            case .event: .event(try context.event(node, ""))
            case .release: .release(try context.release(node, ""))
            case .secret: .secret(try context.secret(node, ""))
            }
        }
        var document = artifact.map { DSLDocument(artifact: $0, index: index, sourceMap: SourceMap(root: node)) }
        document?.numbered = numbered
        document?.isDeploymentRequest = deploymentRequest
        if context.errors.isEmpty, let document { return .success(document) }
        var errors = context.errors.map { error in
            var located = error
            located.document = documentNumber
            return located
        }
        // What did read is validated too, so one pass shows every error; errors about fields
        // that failed to read (or their parents and children) would only repeat them.
        if let document {
            let failed = errors.compactMap(\.path)
            errors += document.validate().filter { found in
                guard let path = found.path else { return true }
                return !failed.contains { related(path, $0) }
            }
        }
        errors.sort { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) }
        return .failure(VampErrors(errors))
    }

    /// True when the node is a deployment as the API returns it: some cluster's services carry a `status`.
    static func isDeploymentReadModel(_ node: DSLNode) -> Bool {
        guard case .mapping(let entries, _) = node, let clusters = entries.first(where: { $0.key == "clusters" })?.value,
              case .mapping(let clusterEntries, _) = clusters else { return false }
        return clusterEntries.contains { cluster in
            guard case .mapping(let fields, _) = cluster.value, let services = fields.first(where: { $0.key == "services" })?.value,
                  case .sequence(let items, _) = services else { return false }
            return items.contains { item in
                if case .mapping(let serviceFields, _) = item { return serviceFields.contains { $0.key == "status" } }
                return false
            }
        }
    }

    /// True when one path is the other or contains it (`a.b` and `a.b.c`, `a.b[0]`).
    static func related(_ a: String, _ b: String) -> Bool {
        func within(_ inner: String, _ outer: String) -> Bool {
            if outer.isEmpty || inner == outer { return true }
            guard inner.hasPrefix(outer) else { return false }
            let next = inner[inner.index(inner.startIndex, offsetBy: outer.count)]
            return next == "." || next == "["
        }
        return within(a, b) || within(b, a)
    }
}
