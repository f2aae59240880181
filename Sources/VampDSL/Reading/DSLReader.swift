import VampModel

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

    /// Runs ``Validation`` on the artifact and adds the source line to each error.
    public func validate() -> [VampError] {
        Validation.validate(artifact).map { error in
            var located = error
            if let path = error.path, let position = sourceMap.position(of: path) {
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
/// Accepts every short form of reference §2.2, the reference/inline/anonymous rules of §1.0, and
/// rejects unknown keys with their line (Vamp's strict DSL). Multi-document YAML (`---`) and
/// top-level lists yield several artifacts.
public enum DSLReader {
    /// Reads every document of `text`. When `kind` is given, a document without `kind` is taken
    /// as that kind and one with another kind is an error; without it, each document must say
    /// its `kind`. Throws the first error (no partial result: a request is applied whole or not at all).
    public static func read(_ text: String, kind: ArtifactKind? = nil, limits: DSLLimits = DSLLimits()) throws(VampError) -> [DSLDocument] {
        var documents: [DSLDocument] = []
        for result in try readEach(text, kind: kind, limits: limits) {
            switch result {
            case .success(let document): documents.append(document)
            case .failure(let error): throw error
            }
        }
        return documents
    }

    /// Reads every document, returning each one's artifact or error. Throws only when the text
    /// is not well-formed YAML/JSON as a whole.
    public static func readEach(_ text: String, kind: ArtifactKind? = nil, limits: DSLLimits = DSLLimits()) throws(VampError) -> [Result<DSLDocument, VampError>] {
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
        let numbered = items.count > 1
        return items.enumerated().map { offset, node in
            do {
                return .success(try readDocument(node, kind: kind, index: offset + 1, numbered: numbered))
            } catch let error as VampError {
                return .failure(error)
            } catch {
                return .failure(VampError(.syntax, "\(error)", document: numbered ? offset + 1 : nil))
            }
        }
    }

    static func readDocument(_ node: DSLNode, kind expected: ArtifactKind?, index: Int, numbered: Bool) throws -> DSLDocument {
        let documentNumber = numbered ? index : nil
        guard case .mapping(let entries, _) = node else {
            throw VampError(.invalidValue, "expected an artifact (a map) but found \(node.typeName)", line: node.mark.line, document: documentNumber)
        }
        var kind = expected
        if let entry = entries.first(where: { $0.key == "kind" }) {
            guard case .scalar(let text, _, _) = entry.value, let declared = ArtifactKind(name: text) else {
                throw VampError(
                    .kind, "unknown kind; use one of \(ArtifactKind.allCases.map(\.rawValue).joined(separator: ", "))",
                    path: "kind", line: entry.keyMark.line, column: entry.keyMark.column, document: documentNumber)
            }
            if let expected, expected != declared {
                throw VampError(.kind, "inconsistent kind: the document says '\(declared)' but it was given as '\(expected)'",
                                kind: expected.rawValue, path: "kind", line: entry.keyMark.line, column: entry.keyMark.column, document: documentNumber)
            }
            kind = declared
        }
        guard let kind else {
            throw VampError(.kind, "the document has no 'kind'; add kind: breed (or blueprint, gateway, …), or give the kind (vamp validate --kind KIND)",
                            line: node.mark.line, column: node.mark.column, document: documentNumber)
        }
        let context = ReadContext(kind: kind.rawValue, document: documentNumber)
        if case .mapping(let entries, _) = node, let nameEntry = entries.first(where: { $0.key == "name" }),
           case .scalar(let text, _, _) = nameEntry.value {
            context.name = text
        }
        let artifact: Artifact
        switch kind {
        case .breed: artifact = .breed(try context.breed(node, "", topLevel: true))
        case .blueprint: artifact = .blueprint(try context.blueprint(node, ""))
        case .scale: artifact = .scale(try context.scale(node, "", named: true))
        case .gateway: artifact = .gateway(try context.gateway(node, ""))
        case .route: artifact = .route(try context.route(path: "", node, "", named: true))
        case .condition: artifact = .condition(try context.condition(node, "", named: true))
        case .rewrite: artifact = .rewrite(try context.rewrite(node, "", named: true))
        case .sla: artifact = .sla(try context.sla(node, "", named: true))
        case .escalation: artifact = .escalation(try context.escalation(node, "", named: true))
        case .deployment: artifact = .deployment(try context.deployment(node, ""))
        case .workflow: artifact = .workflow(try context.workflow(node, ""))
        case .template: artifact = .template(try context.template(node, ""))
        case .event: artifact = .event(try context.event(node, ""))
        }
        var document = DSLDocument(artifact: artifact, index: index, sourceMap: SourceMap(root: node))
        document.numbered = numbered
        return document
    }
}
