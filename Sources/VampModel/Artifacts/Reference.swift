/// Where an artifact can be nested, it is either a reference to a stored artifact by name or an
/// inline definition (reference §1.0).
public enum ArtifactReference<Artifact: Sendable & Hashable>: Sendable, Hashable {
    /// A reference by name (`scale: large` or `{reference: large}`).
    case reference(String)
    /// An inline definition.
    case inline(Artifact)

    /// The referenced name, when this is a reference.
    public var referenceName: String? {
        if case .reference(let name) = self { return name }
        return nil
    }

    /// The inline artifact, when this is one.
    public var inlineValue: Artifact? {
        if case .inline(let value) = self { return value }
        return nil
    }
}

/// The kinds of artifact Vamp stores and serves.
public enum ArtifactKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case breed, blueprint, scale, gateway, route, condition, rewrite, sla, escalation, deployment, workflow, template, event, release, secret

    /// The plural used in URLs and archive tags (`breeds`, `slas`, …).
    public var plural: String { rawValue + "s" }

    /// Accepts the singular or plural form, case-insensitively (`Breeds` → `.breed`).
    public init?(name: String) {
        let lower = name.lowercased()
        if let kind = ArtifactKind(rawValue: lower) {
            self = kind
        } else if lower.hasSuffix("s"), let kind = ArtifactKind(rawValue: String(lower.dropLast())) {
            self = kind
        } else {
            return nil
        }
    }

    public var description: String { rawValue }
}

/// Any artifact, tagged with its kind.
public enum Artifact: Sendable, Hashable {
    case breed(Breed)
    case blueprint(Blueprint)
    case scale(Scale)
    case gateway(Gateway)
    case route(Route)
    case condition(Condition)
    case rewrite(Rewrite)
    case sla(SLA)
    case escalation(Escalation)
    case deployment(Deployment)
    case workflow(Workflow)
    case template(Template)
    case event(Event)
    case release(Release)
    case secret(Secret)

    /// The artifact's kind.
    public var kind: ArtifactKind {
        switch self {
        case .breed: .breed
        case .blueprint: .blueprint
        case .scale: .scale
        case .gateway: .gateway
        case .route: .route
        case .condition: .condition
        case .rewrite: .rewrite
        case .sla: .sla
        case .escalation: .escalation
        case .deployment: .deployment
        case .workflow: .workflow
        case .template: .template
        case .event: .event
        case .release: .release
        case .secret: .secret
        }
    }

    /// The artifact's name (`nil` for anonymous artifacts and events without id).
    public var name: String? {
        switch self {
        case .breed(let a): a.name
        case .blueprint(let a): a.name
        case .scale(let a): a.name
        case .gateway(let a): a.name
        case .route(let a): a.name
        case .condition(let a): a.name
        case .rewrite(let a): a.name
        case .sla(let a): a.name
        case .escalation(let a): a.name
        case .deployment(let a): a.name
        case .workflow(let a): a.name
        case .template(let a): a.name
        case .event(let a): a.id
        case .release(let a): a.name
        case .secret(let a): a.name
        }
    }
}
