import Foundation
import VampModel
import VampReleases

/// Where the canary a release merged is.
enum CanaryProgress: Sendable {
    /// It runs: the first step can come (what runs, in words).
    case running(String)
    /// Not yet.
    case waiting
    /// Its deployment failed (the driver's words).
    case failed(String)
}

extension Vamp {
    /// Merges the canary of a release with `merge: true` into its cluster, in the release's own write: the stored breed
    /// of the canary's name, with the baseline's scale, and no traffic (a new route next to weighted ones gets 0%).
    /// Nothing is merged when the cluster already has the canary. Refused, naming the field, when there is no such
    /// breed or it lacks the release's port.
    func stageCanaryMerge(
        _ release: Release, in workspace: inout Workspace, allocator: inout GatewayPortAllocator, events: inout [Event]
    ) async throws(OperationError) {
        guard release.mergeCanary, case .deployment(let deployment)? = try await workspace.artifact(.deployment, release.deployment),
              let cluster = deployment.clusters.first(where: { $0.name == release.cluster }),
              !cluster.services.contains(where: { $0.breed.name == release.canary && $0.status.intention == .deployment }),
              let baseline = cluster.services.first(where: { $0.breed.name == release.baseline }) else { return }
        let subject = "release '\(release.name)', field canary"
        guard case .breed(let breed)? = try await workspace.artifact(.breed, release.canary) else {
            throw OperationError(.invalid, "\(subject): there is no stored breed '\(release.canary)' to merge into cluster '\(release.cluster)' (merge: true); store it first (POST /api/v1/breeds)")
        }
        guard breed.ports.contains(where: { $0.name == release.port }) else {
            let ports = breed.ports.map(\.name).sorted().joined(separator: ", ")
            throw OperationError(.invalid, "\(subject): breed '\(release.canary)' has no port '\(release.port)', the port the release shifts (it has \(ports.isEmpty ? "none" : ports))")
        }
        let service = Service(breed: .reference(release.canary), scale: .inline(baseline.scale))
        let blueprint = Blueprint(name: release.deployment, clusters: [Cluster(name: release.cluster, services: [service])])
        _ = try await stageDeploy(.blueprint(blueprint), name: release.deployment, in: &workspace, allocator: &allocator, requestBody: nil, events: &events)
    }

    /// Whether the release's canary runs: deployed, with at least one instance up.
    func canaryProgress(_ release: Release) async throws(OperationError) -> CanaryProgress {
        guard let deployment = try await deployment(named: release.deployment),
              let service = deployment.clusters.first(where: { $0.name == release.cluster })?.services
                  .first(where: { $0.breed.name == release.canary && $0.status.intention == .deployment }) else {
            return .waiting
        }
        switch service.status.phase.name {
        case .failed:
            return .failed(service.status.phase.notification ?? "its deployment failed")
        case .done:
            let running = service.instances.filter(\.deployed).count
            return running > 0 ? .running("\(running) of \(service.scale.instances) instance\(service.scale.instances == 1 ? "" : "s")") : .waiting
        default:
            return .waiting
        }
    }

    /// A look at a release that waits for its merged canary: its first step when the canary runs, a failed release when
    /// its deployment failed. Says whether the release still waits (then the look goes on as usual: time runs).
    func lookAtMergedCanary(_ release: Release, record: ReleaseRecord) async throws(OperationError) -> Bool {
        guard record.state.waitingForCanarySince != nil, record.state.phase == .progressing else { return false }
        let now = self.now
        switch try await canaryProgress(release) {
        case .waiting:
            return true
        case .failed(let reason):
            try await haltRelease(release.name, because: "the deployment of \(release.canary), merged by the release, failed: \(reason)")
        case .running(let what):
            try await transitionRelease(release.name) { release, version, current throws(OperationError) in
                guard var current, current == record, current.releaseVersion == version else { return nil }
                let outcome = ReleasePlanner.next(release, current.state, .canaryDeployed(what), now: now)
                current.state = outcome.state
                return (current, outcome.actions)
            }
        }
        return false
    }
}
