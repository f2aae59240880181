public import VampModel

/// `expand_references=true` and `only_references=true` of Vamp's API (§3.1): references to stored artifacts
/// replaced by the artifacts, or inline artifacts that have a name replaced by references to them. Pure functions
/// of values; the facade fetches what ``needed(by:)`` lists.
public enum References {
    /// A kind and a name.
    public struct Key: Sendable, Hashable {
        /// The kind of the referenced artifact.
        public var kind: ArtifactKind
        /// Its name.
        public var name: String
    }

    /// The references `artifact` holds, at every nesting level it has (not inside what they refer to).
    public static func needed(by artifact: Artifact) -> Set<Key> {
        var collector = Collector()
        _ = walk(artifact, &collector)
        return collector.keys
    }

    /// `artifact` with every reference found in `stored` replaced by that artifact; others stay references.
    public static func expanded(_ artifact: Artifact, with stored: [Key: Artifact]) -> Artifact {
        var expander = Expander(stored: stored)
        return walk(artifact, &expander)
    }

    /// `artifact` with every named inline artifact replaced by a reference to its name.
    public static func referencesOnly(_ artifact: Artifact) -> Artifact {
        var reducer = Reducer()
        return walk(artifact, &reducer)
    }

    // MARK: Walking

    static func walk(_ artifact: Artifact, _ mapping: inout some ReferenceMapping) -> Artifact {
        switch artifact {
        case .breed(let breed): .breed(walk(breed, &mapping))
        case .blueprint(var blueprint):
            {
                blueprint.gateways = blueprint.gateways.map { walk($0, &mapping) }
                blueprint.clusters = blueprint.clusters.map { cluster in
                    var cluster = cluster
                    cluster.services = cluster.services.map { service in
                        var service = service
                        service.breed = walkInline(mapping.map(service.breed), &mapping)
                        service.scale = service.scale.map { mapping.map($0) }
                        return service
                    }
                    cluster.gateways = cluster.gateways.map { walk($0, &mapping) }
                    cluster.sla = cluster.sla.map { mapping.map($0) }
                    cluster.slaEscalations = cluster.slaEscalations.map { mapping.map($0) }
                    return cluster
                }
                return .blueprint(blueprint)
            }()
        case .gateway(let gateway): .gateway(walk(gateway, &mapping))
        case .route(let route): .route(walk(route, &mapping))
        case .sla(var sla):
            {
                sla.escalations = sla.escalations.map { mapping.map($0) }
                return .sla(sla)
            }()
        case .workflow(var workflow):
            {
                workflow.breed = walkInline(mapping.map(workflow.breed), &mapping)
                workflow.scale = workflow.scale.map { mapping.map($0) }
                return .workflow(workflow)
            }()
        case .scale, .condition, .rewrite, .escalation, .deployment, .template, .event, .release, .secret: artifact
        }
    }

    static func walk(_ breed: Breed, _ mapping: inout some ReferenceMapping) -> Breed {
        var breed = breed
        breed.dependencies = breed.dependencies.map { Dependency(alias: $0.alias, breed: mapping.map($0.breed)) }
        return breed
    }

    /// An inline breed's own references (its dependencies) are walked too: that is what takes an expansion a level
    /// further on the next pass.
    static func walkInline(_ breed: ArtifactReference<Breed>, _ mapping: inout some ReferenceMapping) -> ArtifactReference<Breed> {
        guard case .inline(let value) = breed else { return breed }
        return .inline(walk(value, &mapping))
    }

    static func walk(_ gateway: Gateway, _ mapping: inout some ReferenceMapping) -> Gateway {
        var gateway = gateway
        gateway.routes = gateway.routes.map { walk($0, &mapping) }
        return gateway
    }

    static func walk(_ route: Route, _ mapping: inout some ReferenceMapping) -> Route {
        var route = route
        route.condition = route.condition.map { mapping.map($0) }
        route.rewrites = route.rewrites.map { mapping.map($0) }
        return route
    }
}

/// What a walk does at each reference point.
protocol ReferenceMapping {
    mutating func map<T: ReferencedArtifact>(_ reference: ArtifactReference<T>) -> ArtifactReference<T>
}

/// The artifact types that can stand where a reference stands.
protocol ReferencedArtifact: Sendable, Hashable {
    static var kind: ArtifactKind { get }
    var referenceableName: String? { get }
    static func from(_ artifact: Artifact) -> Self?
}

extension Breed: ReferencedArtifact {
    static var kind: ArtifactKind { .breed }
    var referenceableName: String? { name }
    static func from(_ artifact: Artifact) -> Breed? { if case .breed(let value) = artifact { value } else { nil } }
}

extension Scale: ReferencedArtifact {
    static var kind: ArtifactKind { .scale }
    var referenceableName: String? { name }
    static func from(_ artifact: Artifact) -> Scale? { if case .scale(let value) = artifact { value } else { nil } }
}

extension SLA: ReferencedArtifact {
    static var kind: ArtifactKind { .sla }
    var referenceableName: String? { name }
    static func from(_ artifact: Artifact) -> SLA? { if case .sla(let value) = artifact { value } else { nil } }
}

extension Escalation: ReferencedArtifact {
    static var kind: ArtifactKind { .escalation }
    var referenceableName: String? { name }
    static func from(_ artifact: Artifact) -> Escalation? { if case .escalation(let value) = artifact { value } else { nil } }
}

extension Condition: ReferencedArtifact {
    static var kind: ArtifactKind { .condition }
    var referenceableName: String? { name }
    static func from(_ artifact: Artifact) -> Condition? { if case .condition(let value) = artifact { value } else { nil } }
}

extension Rewrite: ReferencedArtifact {
    static var kind: ArtifactKind { .rewrite }
    var referenceableName: String? { name }
    static func from(_ artifact: Artifact) -> Rewrite? { if case .rewrite(let value) = artifact { value } else { nil } }
}

struct Collector: ReferenceMapping {
    var keys: Set<References.Key> = []
    mutating func map<T: ReferencedArtifact>(_ reference: ArtifactReference<T>) -> ArtifactReference<T> {
        if case .reference(let name) = reference { keys.insert(References.Key(kind: T.kind, name: name)) }
        return reference
    }
}

struct Expander: ReferenceMapping {
    let stored: [References.Key: Artifact]
    mutating func map<T: ReferencedArtifact>(_ reference: ArtifactReference<T>) -> ArtifactReference<T> {
        guard case .reference(let name) = reference, let artifact = stored[References.Key(kind: T.kind, name: name)],
              let value = T.from(artifact) else { return reference }
        return .inline(value)
    }
}

struct Reducer: ReferenceMapping {
    mutating func map<T: ReferencedArtifact>(_ reference: ArtifactReference<T>) -> ArtifactReference<T> {
        guard case .inline(let value) = reference, let name = value.referenceableName, !name.isEmpty else { return reference }
        return .reference(name)
    }
}
