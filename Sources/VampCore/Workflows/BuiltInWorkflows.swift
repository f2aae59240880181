public import Foundation
import Logging
import Persistence
public import VampModel

/// Pulse's `health`, `metrics` and `allocation` publishing, as Vamp 0.9.5's system workflows of those names:
/// workflows named so whose breed (`breed: metrics`, built in, not stored) has a deployable of type
/// ``BuiltInWorkflows/type`` (done in the server, not a process). A namespace gets the workflows at its first start; `DELETE /workflows/metrics` stops the metrics events (``PulsePublisher``
/// publishes only the kinds whose workflow is there and not suspended), and creating it again starts them again,
/// with `breed: metrics` as scripts written for the original do.
public enum BuiltInWorkflows {
    /// The deployable type of the built-in jobs' breeds.
    public static let type = "vamp/builtin"
    /// The built-in jobs.
    public static let names = ["health", "metrics", "allocation"]

    /// The breed of a built-in job.
    public static func breed(_ name: String) -> Breed {
        Breed(name: name, deployable: Deployable(type: type, definition: name))
    }

    /// The built-in breed of that name (`health`, `metrics`, `allocation`): what a workflow's `breed: metrics` is when
    /// no breed of that name is stored. They are not stored, so they do not crowd `GET /breeds`.
    public static func breed(named name: String) -> Breed? {
        names.contains(name) ? breed(name) : nil
    }

    /// The built-in job a breed runs, if it is one.
    public static func job(of breed: Breed) -> String? {
        guard breed.deployable?.type == type, let definition = breed.deployable?.definition, names.contains(definition) else { return nil }
        return definition
    }

    /// Whether the namespace got its built-in jobs already (a marker record, so a user's `DELETE` lasts).
    static let markerKind = "workflow-builtins"
}

extension Vamp {
    /// Creates the built-in workflows once per namespace (its first start); later starts leave them as the
    /// users left them.
    public func installBuiltInWorkflows() async {
        let store = repository.store
        do {
            guard try await store.read(kind: BuiltInWorkflows.markerKind, name: "installed") == nil else { return }
            for name in BuiltInWorkflows.names {
                if try await repository.artifact(.workflow, name: name) == nil {
                    let workflow = Workflow(name: name, breed: .reference(name), schedule: .daemon, status: .starting)
                    _ = try? await store.create(kind: ArtifactKind.workflow.plural, name: name, body: ArtifactRepository.json(.workflow(workflow)))
                }
            }
            _ = try await store.create(kind: BuiltInWorkflows.markerKind, name: "installed", body: Data("{}".utf8))
        } catch {
            logger.warning("the built-in workflows (health, metrics, allocation) were not installed", metadata: ["vamp.error": "\(error)"])
        }
    }

    /// The built-in jobs whose workflow is there and not suspended: what ``PulsePublisher`` publishes. All of them
    /// in a namespace whose built-in workflows were never installed (a facade without a workflow scheduler).
    public func activeBuiltInJobs() async -> Set<String> {
        guard (try? await repository.store.read(kind: BuiltInWorkflows.markerKind, name: "installed")) != nil,
              let workflows = try? await allWorkflows()
        else { return Set(BuiltInWorkflows.names) }
        var active: Set<String> = []
        for workflow in workflows where [.starting, .running, .restarting].contains(workflow.status) {
            let breed: Breed?
            switch workflow.breed {
            case .inline(let inline): breed = inline
            case .reference(let name):
                if case .breed(let stored)? = try? await repository.artifact(.breed, name: name) {
                    breed = stored
                } else {
                    breed = BuiltInWorkflows.breed(named: name)
                }
            }
            if let breed, let job = BuiltInWorkflows.job(of: breed) { active.insert(job) }
        }
        return active
    }
}
