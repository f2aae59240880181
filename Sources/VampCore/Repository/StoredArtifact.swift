public import Foundation
public import VampModel

/// One artifact as it is stored: its canonical JSON (what the API returns, byte for byte) and its version.
public struct StoredArtifact: Sendable, Hashable {
    /// The artifact's kind.
    public var kind: ArtifactKind
    /// The artifact's name.
    public var name: String
    /// 1 after the first write, one more after every update.
    public var version: Int64
    /// The canonical JSON of the artifact.
    public var json: Data

    /// Creates a stored artifact (`version` 0: not stored, as `validate_only` answers).
    public init(kind: ArtifactKind, name: String, version: Int64 = 0, json: Data) {
        self.kind = kind
        self.name = name
        self.version = version
        self.json = json
    }
}

/// A page of artifacts as one JSON array, and how many artifacts the list has in all.
public struct RenderedPage: Sendable, Hashable {
    /// `[<artifact JSON>,...]`.
    public var json: Data
    /// The number of artifacts of the kind.
    public var total: Int
}
