import Foundation

/// The rules of deployments, workflows and events.
extension Validation {
    // MARK: Deployment, workflow, event

    /// Validates a deployment read model (names, ports, instances).
    public static func validate(_ deployment: Deployment) -> [VampError] {
        var c = ErrorCollector(kind: "deployment", name: deployment.name)
        c.checkArtifactName(deployment.name, "name")
        c.checkLabel(deployment.name, "name", "deployment name")
        for cluster in deployment.clusters {
            c.checkTraitName(cluster.name, "clusters.\(cluster.name)")
            c.checkLabel(cluster.name, "clusters.\(cluster.name)", "cluster name")
            for (index, service) in cluster.services.enumerated() {
                validateBreed(service.breed, path: "clusters.\(cluster.name).services[\(index)].breed", into: &c, visiting: [])
            }
        }
        c.errors += dependencyCycles(of: deployment)
        return c.errors
    }

    /// Validates a workflow: name, breed reference, schedule, scale.
    public static func validate(_ workflow: Workflow) -> [VampError] {
        var c = ErrorCollector(kind: "workflow", name: workflow.name)
        c.checkArtifactName(workflow.name, "name")
        switch workflow.breed {
        case .reference(let name): c.checkArtifactName(name, "breed")
        case .inline(let breed): validateBreed(breed, path: "breed", into: &c, visiting: [])
        }
        switch workflow.schedule {
        case .daemon: break
        case .event(let tags):
            if tags.isEmpty || tags.contains(where: \.isEmpty) { c.add(.invalidValue, "schedule.event", "an event schedule needs at least one non-empty tag") }
        case .time(let period, let start, let repeatCount):
            // The scheduler (VampCore's `TimeSchedule.resolve`) reads these with the same `ScheduleText`, so a
            // stored schedule is one it can run: no zero period, a readable start, at least one run.
            if case .failure(let problem) = ScheduleText.duration(period) { c.add(.invalidValue, "schedule.time.period", problem.message) }
            if case .failure(let problem) = ScheduleText.start(start) { c.add(.invalidValue, "schedule.time.start", problem.message) }
            if let problem = ScheduleText.repeatProblem(repeatCount) { c.add(.invalidValue, "schedule.time.repeat", problem.message) }
        }
        if case .inline(let scale) = workflow.scale { _ = validate(scale, path: "scale", into: &c) }
        for variable in workflow.environmentVariables {
            if let expression = c.checkValue(variable.value, "environment_variables.\(variable.key)"), case .inline(let breed) = workflow.breed {
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: { _ in nil }, path: "environment_variables.\(variable.key)", into: &c)
            }
        }
        if case .inline(let breed) = workflow.breed { c.errors += undeclaredEnvironment(workflow: workflow, breed: breed) }
        validateArguments(workflow.arguments, path: "arguments", into: &c)
        return c.errors
    }

    /// The variables the workflow driver sets for a workflow's agent (reference §1.10, §4.2); a
    /// workflow may set them without its breed declaring them, as Vamp 0.9.5's examples do.
    public static let workflowAgentVariables: Set<String> = [
        "VAMP_URL", "VAMP_NAMESPACE", "VAMP_KEY_VALUE_STORE_TYPE", "VAMP_KEY_VALUE_STORE_CONNECTION",
        "VAMP_KEY_VALUE_STORE_PATH", "VAMP_WORKFLOW_EXECUTION_PERIOD", "VAMP_WORKFLOW_EXECUTION_TIMEOUT",
        "VAMP_ELASTICSEARCH_URL",
    ]

    /// The errors for the workflow's `environment_variables` that `breed` does not declare: like a
    /// blueprint service, a workflow only gives values to its breed's variables (reference §1.2),
    /// apart from ``workflowAgentVariables``. Validating a workflow applies this to an inline
    /// breed; for a breed referenced by name, call it once the stored breed is looked up. Each
    /// error names the workflow and the field (`environment_variables.NAME`); a `DSLDocument`
    /// adds the line.
    public static func undeclaredEnvironment(workflow: Workflow, breed: Breed) -> [VampError] {
        var c = ErrorCollector(kind: "workflow", name: workflow.name)
        let declared = breed.environmentVariables.map(\.name)
        for variable in workflow.environmentVariables
        where !declared.contains(variable.name) && !workflowAgentVariables.contains(variable.name) {
            let list = declared.isEmpty ? "none" : declared.joined(separator: ", ")
            c.add(
                .invalidArtifact, "environment_variables.\(variable.key)",
                "the breed '\(breed.name)' does not declare the variable '\(Names.printable(variable.name))' (it declares: \(list)); declare it in the breed or leave it out")
        }
        return c.errors
    }

    /// True when `type` matches Vamp's `^[\w\d\-_]+$` (ASCII letters, digits, `_` and `-`).
    public static func isEventType(_ type: String) -> Bool {
        !type.isEmpty && type.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
    }

    /// Validates an event: at least one tag, a legal type.
    public static func validate(_ event: Event) -> [VampError] {
        var c = ErrorCollector(kind: "event", name: event.id)
        if event.tags.isEmpty { c.add(.missingField, "tags", "an event needs at least one tag") }
        for (index, tag) in event.tags.enumerated() where tag.isEmpty || tag.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            c.add(.invalidValue, "tags[\(index)]", "tags must be non-empty without control characters")
        }
        if !isEventType(event.type) { c.add(.invalidValue, "type", "the event type '\(Names.printable(event.type))' must match ^[\\w\\d\\-_]+$") }
        return c.errors
    }
}
