import Foundation

/// An event as stored: Vamp's `{id, tags, type, timestamp, value}`.
public struct PersistedEvent: Sendable, Hashable {
    /// Unique id, assigned by the store unless given.
    public var id: String
    /// The tags, including the group tag `a` of every `a:b` tag.
    public var tags: Set<String>
    /// The event type, matching `^[\w\d\-_]+$`; `event` by default.
    public var type: String
    /// When the event happened (millisecond precision).
    public var timestamp: Date
    /// Any JSON value, or `nil` for none.
    public var value: JSONValue?

    /// Creates a stored event.
    public init(id: String, tags: Set<String>, type: String, timestamp: Date, value: JSONValue?) {
        self.id = id
        self.tags = tags
        self.type = type
        self.timestamp = timestamp
        self.value = value
    }
}

/// An event to append. The store expands tags, checks the type, and fills in id and time.
public struct NewEvent: Sendable, Hashable {
    /// At least one tag; `a:b` also adds `a`.
    public var tags: Set<String>
    /// Matches `^[\w\d\-_]+$`.
    public var type: String
    /// When it happened; `nil` for now.
    public var timestamp: Date?
    /// Any JSON value.
    public var value: JSONValue?
    /// A caller-chosen id; `nil` lets the store pick a UUID.
    public var id: String?

    /// Creates an event to append.
    public init(
        tags: Set<String>, type: String = "event", timestamp: Date? = nil, value: JSONValue? = nil,
        id: String? = nil
    ) {
        self.tags = tags
        self.type = type
        self.timestamp = timestamp
        self.value = value
        self.id = id
    }

    /// Validates the event and turns it into what a store keeps.
    func prepared(now: Date) throws -> PersistedEvent {
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
        return PersistedEvent(
            id: id ?? UUID().uuidString.lowercased(),
            tags: EventTags.expanded(tags),
            type: type,
            timestamp: Millis.normalized(timestamp ?? now),
            value: value)
    }
}

enum EventType {
    /// `^[\w\d\-_]+$` with Java's ASCII `\w`.
    static func isValid(_ type: String) -> Bool {
        !type.isEmpty
            && type.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                        || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
            }
    }
}

enum EventTags {
    /// Adds the group `a` of every tag `a:b`.
    static func expanded(_ tags: Set<String>) -> Set<String> {
        var result = tags
        for tag in tags {
            if let colon = tag.firstIndex(of: ":") { result.insert(String(tag[..<colon])) }
        }
        return result
    }
}
