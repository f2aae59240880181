import ContainerDrivers
import Foundation
import Persistence
import VampDSL
public import VampModel

extension Vamp {
    // MARK: Workflows

    /// Every stored workflow (the scheduler's view).
    public func allWorkflows() async throws(OperationError) -> [Workflow] {
        try await repository.all(.workflow).compactMap { if case .workflow(let workflow) = $0 { workflow } else { nil } }
    }

    /// The workflow `name`, or nil.
    public func workflow(named name: String) async throws(OperationError) -> Workflow? {
        guard case .workflow(let workflow)? = try await repository.artifact(.workflow, name: name) else { return nil }
        return workflow
    }

    /// The status words a user may set with `PUT /workflows/{w}/status`: `running` (start or resume), `suspended`
    /// (stop scheduling, keep the workflow), `restarting` (unschedule and schedule again, as the original).
    public static let settableWorkflowStatuses: [Workflow.Status] = [.running, .suspended, .restarting]

    /// Sets a workflow's status (`PUT /workflows/{w}/status`, body the bare word): `suspended` is stored as
    /// `suspending` and `running` as `starting` until the scheduler has acted, as the original's phases.
    @discardableResult
    public func setWorkflowStatus(_ word: String, workflow name: String) async throws(OperationError) -> Workflow.Status {
        let trimmed = word.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard let asked = Workflow.Status(rawValue: trimmed.lowercased()), Self.settableWorkflowStatuses.contains(asked) else {
            let allowed = Self.settableWorkflowStatuses.map(\.rawValue).joined(separator: ", ")
            throw OperationError(.invalid, "workflow '\(name)': status '\(Names.printable(String(trimmed.prefix(40))))' is not one a user may set; use one of: \(allowed)")
        }
        let stored: Workflow.Status = switch asked {
        case .suspended: .suspending
        case .running: .starting
        default: asked
        }
        try await updateWorkflowStatus(name, to: stored, from: nil)
        return stored
    }

    /// Writes `status` into the stored workflow, if it is (still) there and, with `from`, still in that status;
    /// the scheduler moves `starting` to `running`, `suspending` to `suspended` this way. Publishes no archive
    /// event (the original's status changes were not archived either).
    func updateWorkflowStatus(_ name: String, to status: Workflow.Status, from: Workflow.Status?) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            var workspace = Workspace(repository: self.repository)
            guard case .workflow(var workflow)? = try await workspace.artifact(.workflow, name) else {
                throw OperationError(.notFound, "there is no workflow '\(name)'")
            }
            if let from, workflow.status != from { return }
            guard workflow.status != status else { return }
            workflow.status = status
            workspace.save(.workflow(workflow), expectedVersion: nil)
            _ = try await self.commit(workspace, events: [])
        }
    }

    /// Removes a workflow the scheduler has stopped (status `stopping`).
    func removeStoppedWorkflow(_ name: String) async throws(OperationError) {
        try await writes.run { () async throws(OperationError) in
            var workspace = Workspace(repository: self.repository)
            guard case .workflow(let workflow)? = try await workspace.artifact(.workflow, name), workflow.status == .stopping else { return }
            workspace.delete(.workflow, name, expectedVersion: nil)
            _ = try await self.commit(workspace, events: [ArchiveEvents.event(.delete, kind: .workflow, name: name, body: nil, at: self.now)])
        }
    }

    /// The last runs of a workflow, newest first (`GET /workflows/{w}/runs`); nil when there is no such workflow.
    public func workflowRuns(_ name: String) async throws(OperationError) -> [WorkflowRun]? {
        guard try await workflow(named: name) != nil else { return nil }
        let store = WorkflowRunStore(store: repository.store)
        do {
            return try await store.read(name).history.runs.reversed()
        } catch {
            throw OperationError(.unavailable, "the runs of workflow '\(name)' could not be read: \(error)")
        }
    }

    /// What the scheduler says of a workflow now (its `schedule_status`), if it knows it.
    public nonisolated func workflowSchedule(_ name: String) -> WorkflowScheduleStatus? {
        workflowStatuses.status(of: name)
    }
}

extension Vamp {
    /// A workflow about to be stored: its breed's variables (a stored breed only now that it is known; an inline one
    /// was checked by validation) and whether its breed can run here at all, so that no workflow is stored that would
    /// silently never run.
    func checkWorkflow(_ workflow: Workflow, document: DSLDocument, in workspace: inout Workspace) async throws(OperationError) {
        let breed: Breed?
        switch workflow.breed {
        case .inline(let inline): breed = inline
        case .reference(let name):
            if case .breed(let stored)? = try await workspace.artifact(.breed, name) {
                breed = stored
                let problems = document.locate(Validation.undeclaredEnvironment(workflow: workflow, breed: stored))
                if !problems.isEmpty { throw OperationError(.invalid, problems.map(\.description).joined(separator: "\n")) }
            } else if let builtIn = BuiltInWorkflows.breed(named: name) {
                breed = builtIn
            } else {
                throw OperationError(.invalid, "workflow '\(workflow.name)': breed: there is no breed '\(name)'; create it first or give the breed inline")
            }
        }
        guard let types = configuration.workflowDeployableTypes, let breed, BuiltInWorkflows.job(of: breed) == nil else { return }
        if configuration.workflowJobs == false, !types.isEmpty {
            switch workflow.schedule {
            case .daemon: break
            case .time, .event:
                throw OperationError(.invalid, "workflow '\(workflow.name)': schedule: the container driver runs workflows only as daemon schedules (Kubernetes and Marathon); schedule it as a daemon, or use the local or Docker driver")
            }
        }
        let type = breed.deployable?.type ?? Deployable.defaultType
        // `docker` and `cmd` are the original's aliases, as the drivers read them.
        guard !types.contains(LocalProcessDriver.canonicalType(type)) else { return }
        guard !types.isEmpty else {
            throw OperationError(.invalid, "workflow '\(workflow.name)': this server has no container driver (vamp.container-driver.type), so no workflow can run; configure one first")
        }
        let supported = types.sorted().joined(separator: ", ")
        if type == "application/javascript" {
            throw OperationError(.invalid, "workflow '\(workflow.name)': breed.deployable.type: the breed '\(breed.name)' is JavaScript (application/javascript), which Vamp 0.9.5 ran with its Node workflow agent; this server runs workflows whose breed is one of: \(supported) (a shell command, or a container image that runs the script)")
        }
        throw OperationError(.invalid, "workflow '\(workflow.name)': breed.deployable.type: the breed '\(breed.name)' is of type '\(Names.printable(type))', which the container driver does not run; use one of: \(supported)")
    }
}
