public import VampModel

/// What one document of a `DELETE` body asks to remove.
public enum DSLDeletion: Sendable {
    /// An artifact other than a deployment, known by its kind and name.
    case artifact(ArtifactKind, name: String)
    /// A deployment, or the part of one to slice away: the document read in full.
    case deployment(DSLDocument)
}

extension DSLReader {
    /// Reads the documents of a `DELETE` body, which say what to remove rather than define it.
    ///
    /// Cleanup scripts written for Vamp 0.9.5 send what they once created, often cut short (a
    /// breed without its deployable, a gateway without its port, a scale without cpu): for every
    /// kind but deployment only `kind` and `name` are read, and the rest of the document is
    /// neither read nor validated. A `kind: deployment` document says which clusters and services
    /// to slice, so it is read in full as ``read(_:kind:imports:limits:)`` reads it.
    ///
    /// - Parameters:
    ///   - text: the request body: YAML or JSON, one or more documents.
    ///   - kind: the kind of documents without `kind`; without it each document must say its kind.
    ///   - limits: the size, depth and node limits of the input.
    /// - Throws: every error of every document, each with its line: a document that is not a
    ///   map, has an unknown or missing kind, or has no usable `name`, and the reading errors of
    ///   deployment documents.
    public static func deletions(_ text: String, kind: ArtifactKind? = nil, limits: DSLLimits = DSLLimits()) throws(VampErrors) -> [DSLDeletion] {
        let items: [DSLNode]
        do { items = try roots(text, limits: limits) } catch { throw VampErrors([error]) }
        let numbered = items.count > 1
        var deletions: [DSLDeletion] = []
        var errors: [VampError] = []
        for (offset, node) in items.enumerated() {
            let documentNumber = numbered ? offset + 1 : nil
            let documentKind: ArtifactKind, entries: [(key: String, keyMark: SourceMark, value: DSLNode)]
            do {
                (documentKind, entries) = try Self.documentKind(node, expected: kind, documentNumber: documentNumber)
            } catch {
                errors.append(error)
                continue
            }
            if documentKind == .deployment {
                switch readDocument(node, kind: documentKind, index: offset + 1, numbered: numbered, imports: [:]) {
                case .success(let document): deletions.append(.deployment(document))
                case .failure(let failure): errors += failure.errors
                }
                continue
            }
            let context = ReadContext(kind: documentKind.rawValue, document: documentNumber)
            guard let entry = entries.first(where: { $0.key == "name" }) else {
                errors.append(context.error(
                    .missingField, "the field 'name' is required: it names the \(documentKind) to delete",
                    path: "name", mark: node.mark))
                continue
            }
            let name = context.recover { () throws -> String in
                let text = try context.string(entry.value, "name")
                let problem = documentKind == .gateway ? Names.gatewayNameProblem(text) : Names.artifactNameProblem(text)
                if let problem {
                    throw context.error(.illegalName, "illegal name or reference: \(problem)", path: "name", at: entry.value)
                }
                return text
            }
            if let name { deletions.append(.artifact(documentKind, name: name)) }
            errors += context.errors
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return deletions
    }
}
