import VampModel

/// Which command lines a change would run that were not there before: the rule behind the `command` privilege.
///
/// An artifact's command lines are those of its `command` (or `cmd`) breeds: a breed's own, a blueprint's and a
/// workflow's inline breeds and the breeds they name, a deployment's services. A change introduces the lines of the
/// artifact after it that the artifact before it did not have; a delete introduces none, and neither does scaling or
/// re-saving what is already there.
enum CommandLines {
    static let types: Set<String> = ["command", "cmd"]

    /// The `type: definition` of a command deployable, or `nil` for another type.
    static func line(_ breed: Breed) -> String? {
        guard let deployable = breed.deployable, types.contains(deployable.type.lowercased()) else { return nil }
        return deployable.definition
    }

    /// The command lines of `artifact`; `breed` finds a breed it names.
    static func lines(of artifact: Artifact?, breed: (String) -> Breed?) -> Set<String> {
        func of(_ reference: ArtifactReference<Breed>) -> String? {
            switch reference {
            case .inline(let inline): line(inline)
            case .reference(let name): breed(name).flatMap(line)
            }
        }
        var lines: Set<String> = []
        switch artifact {
        case .breed(let breed)?:
            if let line = line(breed) { lines.insert(line) }
        case .blueprint(let blueprint)?:
            for cluster in blueprint.clusters {
                for service in cluster.services { if let line = of(service.breed) { lines.insert(line) } }
            }
        case .deployment(let deployment)?:
            for cluster in deployment.clusters {
                for service in cluster.services { if let line = line(service.breed) { lines.insert(line) } }
            }
        case .workflow(let workflow)?:
            if let line = of(workflow.breed) { lines.insert(line) }
        default:
            break
        }
        return lines
    }
}
