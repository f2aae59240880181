public import Foundation

/// A scheduled job: a breed run as a daemon, on events or on a timer (reference §1.10).
public struct Workflow: Sendable, Hashable {
    /// When the workflow runs.
    public enum Schedule: Sendable, Hashable {
        /// Always running.
        case daemon
        /// On each event carrying all these tags.
        case event(tags: [String])
        /// Every `period` (ISO-8601 duration like `PT1M`), from `start` (`nil` = now), `repeat` times (`nil` = forever).
        case time(period: String, start: String?, repeat: Int?)
    }

    /// Lifecycle of a workflow (lowercase on the wire).
    public enum Status: String, Sendable, Hashable, CaseIterable {
        case starting, running, stopping, suspending, suspended, restarting
    }

    /// Name (may not equal a deployment's).
    public var name: String
    /// The breed to run.
    public var breed: ArtifactReference<Breed>
    /// Schedule.
    public var schedule: Schedule
    /// Status (`starting` on create).
    public var status: Status
    /// Variables.
    public var environmentVariables: [EnvironmentVariable]
    /// Scale.
    public var scale: ArtifactReference<Scale>?
    /// Run arguments.
    public var arguments: [RunArgument]
    /// Network.
    public var network: String?
    /// Health checks.
    public var healthChecks: [HealthCheck]?
    /// Driver-specific settings.
    public var dialects: [String: JSONValue]

    /// Creates a workflow.
    public init(
        name: String, breed: ArtifactReference<Breed>, schedule: Schedule, status: Status = .starting,
        environmentVariables: [EnvironmentVariable] = [], scale: ArtifactReference<Scale>? = nil,
        arguments: [RunArgument] = [], network: String? = nil, healthChecks: [HealthCheck]? = nil,
        dialects: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.breed = breed
        self.schedule = schedule
        self.status = status
        self.environmentVariables = environmentVariables
        self.scale = scale
        self.arguments = arguments
        self.network = network
        self.healthChecks = healthChecks
        self.dialects = dialects
    }

    /// True when `period` is an ISO-8601 duration (`P1DT2H`, `PT1M`, `P2W`).
    public static func isISO8601Duration(_ period: String) -> Bool {
        period.range(
            of: #"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"#,
            options: .regularExpression) != nil
    }
}

/// Something that happened: tags, a type, a time and an optional value (reference §1.11).
public struct Event: Sendable, Hashable {
    /// Id, assigned by the store.
    public var id: String?
    /// Tags; every `a:b` implies `a` (see ``expandedTags``).
    public var tags: [String]
    /// Any value.
    public var value: JSONValue?
    /// When it happened.
    public var timestamp: Date
    /// Type, matching `^[\w\d\-_]+$` (default `event`).
    public var type: String

    /// Creates an event.
    public init(id: String? = nil, tags: [String], value: JSONValue? = nil, timestamp: Date = Date(), type: String = "event") {
        self.id = id
        self.tags = tags
        self.value = value
        self.timestamp = timestamp
        self.type = type
    }

    /// The tags with each `group:name` also adding `group`, sorted and without duplicates.
    public var expandedTags: [String] {
        var all = Set(tags)
        for tag in tags {
            if let colon = tag.firstIndex(of: ":") { all.insert(String(tag[..<colon])) }
        }
        return all.sorted()
    }

    /// True when `type` is a legal event type.
    public static func isValidType(_ type: String) -> Bool {
        !type.isEmpty && type.unicodeScalars.allSatisfy {
            ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-" || $0 == "_") && $0.value > 0x20
        }
    }
}

/// A stored template: a definition merged under artifacts that `import` it (reference §1.13).
public struct Template: Sendable, Hashable {
    /// Name.
    public var name: String
    /// The definition map.
    public var definition: [String: JSONValue]

    /// Creates a template.
    public init(name: String, definition: [String: JSONValue]) {
        self.name = name
        self.definition = definition
    }
}
