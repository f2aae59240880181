public import VampModel

/// What a document's `import:` names: a stored template (`name`) or another stored artifact
/// (`kind/name`, e.g. `breeds/catalog:2.1`), whose definition is merged under the document.
public struct ImportReference: Sendable, Hashable, CustomStringConvertible {
    /// The kind in its plural form, as in the API path: `templates` unless the import says another.
    public var kind: String
    /// The name of the template or artifact.
    public var name: String

    /// Creates a reference.
    public init(kind: String = "templates", name: String) {
        self.kind = kind
        self.name = name
    }

    /// `templates/name`.
    public var description: String { "\(kind)/\(name)" }
}

extension ReadContext {
    /// `import: name`, `import: kind/name` or a list of them.
    func importList(_ node: DSLNode) throws -> [ImportReference] {
        let items: [DSLNode]
        switch node {
        case .scalar: items = [node]
        case .sequence(let list, _): items = list
        case .mapping: throw error(.invalidValue, "import takes a template name, kind/name, or a list of them", path: "import", at: node)
        }
        return try items.enumerated().map { index, item in
            let p = items.count == 1 && !(node.isSequence) ? "import" : "import[\(index)]"
            guard case .scalar(let text, _, _) = item, !item.isNull, !text.isEmpty else {
                throw error(.invalidValue, "an import names a template (name) or an artifact (kind/name); this one is empty or not text", path: p, at: item)
            }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1 where Names.artifactNameProblem(parts[0]) == nil:
                return ImportReference(name: parts[0])
            case 2 where ArtifactKind(name: parts[0]) != nil && Names.artifactNameProblem(parts[1]) == nil:
                return ImportReference(kind: ArtifactKind(name: parts[0])!.plural, name: parts[1])
            default:
                throw error(.invalidValue, "'\(Self.short(text))' is not an import: use a template name or kind/name such as breeds/catalog:2.1", path: p, at: item)
            }
        }
    }

    /// The document with every import's definition merged under it (the document's own keys
    /// win; maps merge key by key), and without its `import` key.
    func resolveImports(_ node: DSLNode, _ imports: [ImportReference: [String: JSONValue]]) throws -> DSLNode {
        guard case .mapping(let entries, let mark) = node, let index = entries.firstIndex(where: { $0.key == "import" }) else { return node }
        let importEntry = entries[index]
        let references = try importList(importEntry.value)
        var body = entries
        body.remove(at: index)
        var merged = DSLNode.mapping(body, mark)
        var missing: [String] = []
        for reference in references {
            guard let definition = imports[reference] else {
                missing.append(reference.kind == "templates" ? "template '\(reference.name)'" : "\(reference)")
                continue
            }
            merged = Self.merge(merged, under: Self.node(.object(definition), at: importEntry.keyMark))
        }
        if !missing.isEmpty {
            throw error(.unresolvedImport, "the import of \(missing.joined(separator: ", ")) is not found; store it first (or give its file too)", path: "import", mark: importEntry.keyMark)
        }
        return merged
    }

    /// `top` merged over `base`: keys of `top` win; two maps under one key merge.
    static func merge(_ top: DSLNode, under base: DSLNode) -> DSLNode {
        guard case .mapping(var entries, let mark) = top, case .mapping(let baseEntries, _) = base else { return top }
        for baseEntry in baseEntries {
            if let index = entries.firstIndex(where: { $0.key == baseEntry.key }) {
                entries[index].value = merge(entries[index].value, under: baseEntry.value)
            } else {
                entries.append(baseEntry)
            }
        }
        return .mapping(entries, mark)
    }

    /// A stored definition as a tree; its errors point at the `import` key.
    static func node(_ value: JSONValue, at mark: SourceMark) -> DSLNode {
        switch value {
        case .null: .scalar("~", plain: true, mark)
        case .bool(let flag): .scalar(flag ? "true" : "false", plain: true, mark)
        case .number(let text): .scalar(text, plain: true, mark)
        case .string(let text): .scalar(text, plain: false, mark)
        case .array(let items): .sequence(items.map { node($0, at: mark) }, mark)
        case .object(let object): .mapping(object.keys.sorted().map { (key: $0, keyMark: mark, value: node(object[$0]!, at: mark)) }, mark)
        }
    }
}

extension DSLNode {
    var isSequence: Bool {
        if case .sequence = self { return true }
        return false
    }
}

extension DSLReader {
    /// The templates defined in `texts` (documents of kind `template` that read cleanly), for
    /// checking offline the documents that import them (`vamp validate templates.yaml bp.yaml`).
    public static func templates(in texts: [String], limits: DSLLimits = DSLLimits()) -> [ImportReference: [String: JSONValue]] {
        var templates: [ImportReference: [String: JSONValue]] = [:]
        for text in texts {
            guard let results = try? readEach(text, limits: limits) else { continue }
            for case .success(let document) in results {
                if case .template(let template) = document.artifact { templates[ImportReference(name: template.name)] = template.definition }
            }
        }
        return templates
    }
}
