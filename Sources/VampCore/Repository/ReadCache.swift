import Persistence
import VampModel

/// Artifacts and list pages served from memory, kept in step with the facade's own writes. A value for the
/// facade's actor: every method runs isolated to it.
///
/// A read that misses notes the kind's generation before it asks the store and keeps what it got only if the
/// generation is still the same afterwards; every change of the store bumps the generation before and after it
/// runs. So a read that overlapped a change never puts the old state into the cache. Bounded: past
/// `maximumEntries` the kind's entries are dropped and refilled on demand.
struct ReadCache {
    let maximumEntries: Int
    private var generations: [ArtifactKind: UInt64] = [:]
    private var artifacts: [ArtifactKind: [String: StoredArtifact]] = [:]
    private var pages: [ArtifactKind: [PageRequest: Page<StoredArtifact>]] = [:]
    private var rendered: [ArtifactKind: [PageRequest: RenderedPage]] = [:]

    init(maximumEntries: Int = 10_000) {
        self.maximumEntries = maximumEntries
    }

    func generation(_ kind: ArtifactKind) -> UInt64 { generations[kind, default: 0] }

    func artifact(_ kind: ArtifactKind, _ name: String) -> StoredArtifact? { artifacts[kind]?[name] }

    func page(_ kind: ArtifactKind, _ request: PageRequest) -> Page<StoredArtifact>? { pages[kind]?[request] }

    mutating func keep(_ artifact: StoredArtifact, ifStill generation: UInt64) {
        guard generations[artifact.kind, default: 0] == generation else { return }
        if artifacts[artifact.kind, default: [:]].count >= maximumEntries { artifacts[artifact.kind] = [:] }
        artifacts[artifact.kind, default: [:]][artifact.name] = artifact
    }

    mutating func keep(_ page: Page<StoredArtifact>, _ kind: ArtifactKind, _ request: PageRequest, ifStill generation: UInt64) {
        guard generations[kind, default: 0] == generation else { return }
        if pages[kind, default: [:]].count >= maximumEntries / 30 { pages[kind] = [:] }
        pages[kind, default: [:]][request] = page
    }

    func rendered(_ kind: ArtifactKind, _ request: PageRequest) -> RenderedPage? { rendered[kind]?[request] }

    mutating func keep(_ page: RenderedPage, _ kind: ArtifactKind, _ request: PageRequest, ifStill generation: UInt64) {
        guard generations[kind, default: 0] == generation else { return }
        if rendered[kind, default: [:]].count >= maximumEntries / 30 { rendered[kind] = [:] }
        rendered[kind, default: [:]][request] = page
    }

    mutating func invalidate(_ kind: ArtifactKind) {
        generations[kind, default: 0] &+= 1
        artifacts[kind] = nil
        pages[kind] = nil
        rendered[kind] = nil
    }
}
