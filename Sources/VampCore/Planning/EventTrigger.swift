public import VampModel

/// When an `event` workflow runs, as a state machine: an event carrying all of the workflow's tags starts a run
/// when none is going; while one is going, matching events coalesce into one pending event, the newest, which
/// starts the next run when this one finishes. So a flood of events during a run yields exactly one more run, with
/// the newest event, and never two runs at once.
public struct EventTrigger: Sendable, Hashable {
    /// The workflow's tags; an event must carry all of them (group tags such as `deployments` included, see
    /// `Event.expandedTags`).
    public var tags: Set<String>
    /// Whether a run is going (from a `.start` until ``EventTrigger/finished()`` returns `.idle`).
    public private(set) var running = false
    /// The newest event that came while a run was going, to start the next run with.
    public private(set) var pending: Event?
    /// How many matching events came while a run was going (each became the pending event, replacing the one
    /// before it).
    public private(set) var coalesced = 0

    /// Creates an idle trigger for `tags`.
    public init(tags: some Sequence<String>) {
        self.tags = Set(tags)
    }

    /// True when every one of the workflow's tags is among the event's `expandedTags`.
    public func matches(_ event: Event) -> Bool {
        tags.isSubset(of: event.expandedTags)
    }

    /// Takes an event: `.start(event)` when it matches and no run is going (a run is then going);
    /// `.coalesced` when it matches while a run is going (it becomes the pending event); `.idle` when it does
    /// not match.
    public mutating func received(_ event: Event) -> EventTriggerAction {
        guard matches(event) else { return .idle }
        guard running else {
            running = true
            return .start(event)
        }
        pending = event
        coalesced += 1
        return .coalesced
    }

    /// Takes the end of a run: `.start(pending)` when an event is pending (a run is still going, with it), else
    /// `.idle` (no run is going).
    public mutating func finished() -> EventTriggerAction {
        guard let event = pending else {
            running = false
            return .idle
        }
        pending = nil
        running = true
        return .start(event)
    }
}

/// What an ``EventTrigger`` says to do.
public enum EventTriggerAction: Sendable, Hashable {
    /// Start a run with this event.
    case start(Event)
    /// Nothing now: the event is kept as the pending one, for when the run going finishes.
    case coalesced
    /// Nothing to do: no run to start (the event does not match, or nothing is pending after a run).
    case idle
}
