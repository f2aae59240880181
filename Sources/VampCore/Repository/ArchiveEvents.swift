public import Foundation
public import VampModel

/// The archive events Vamp 0.9.5 publishes on every artifact change (§5.1): tags `<kinds>:<name>` and
/// `archive:create|update|delete`, type `archive`, and for a write the request body as the value. Existing
/// tools (the UI's revisions view, scripts waiting for a change) wait for exactly these tags.
public enum ArchiveEvents {
    /// What happened to the artifact.
    public enum Operation: String, Sendable {
        case create, update, delete
    }

    /// The event for one change of `kind`/`name`; `body` is the request text that caused it (none for a delete).
    public static func event(_ operation: Operation, kind: ArtifactKind, name: String, body: String?, at time: Date) -> Event {
        Event(
            tags: ["\(kind.plural):\(name)", "archive:\(operation.rawValue)"],
            value: operation == .delete ? nil : body.map(JSONValue.string),
            timestamp: time,
            type: "archive")
    }
}
