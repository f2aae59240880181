import Foundation
import VampModel

extension Event {
    /// Validates the event and turns it into what a store keeps: an id (the caller's, or a new
    /// lower-case UUID), the tags expanded (`a:b` adds `a`) and sorted, and the timestamp at
    /// millisecond precision.
    func prepared() throws -> Event {
        guard !tags.isEmpty else {
            throw PersistenceError(code: .invalidEvent, message: "an event needs at least one tag")
        }
        if let empty = tags.first(where: { $0.isEmpty || $0.hasPrefix(":") }) {
            throw PersistenceError(code: .invalidEvent, message: "event tag '\(empty)' has no name")
        }
        guard EventType.isValid(type) else {
            throw PersistenceError(
                code: .invalidEvent, message: "event type '\(type)' does not match ^[\\w\\d\\-_]+$")
        }
        if let id, id.isEmpty {
            throw PersistenceError(code: .invalidEvent, message: "an event id must not be empty")
        }
        return Event(
            id: id ?? UUID().uuidString.lowercased(), tags: expandedTags, value: value,
            timestamp: Millis.normalized(timestamp), type: type)
    }

    /// The id of an event a store returned (stores always fill it in).
    var storedID: String { id ?? "" }

    /// The tags as a set, for matching.
    var tagSet: Set<String> { Set(tags) }
}

enum EventType {
    /// `^[\w\d\-_]+$` with Java's ASCII `\w`, as Vamp checks it.
    static func isValid(_ type: String) -> Bool {
        !type.isEmpty
            && type.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                        || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
            }
    }
}

extension Event {
    /// An event read back from a store.
    static func stored(
        id: String, tags: some Sequence<String>, type: String, timestamp: Date, value: JSONValue?
    ) -> Event {
        Event(id: id, tags: Set(tags).sorted(), value: value, timestamp: timestamp, type: type)
    }
}
