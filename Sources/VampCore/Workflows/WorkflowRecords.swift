public import Foundation
import Persistence
import Synchronization

/// One run of a workflow, as `GET /workflows/{w}/runs` shows it: what started it, when, how it ended and the last
/// lines of its output.
public struct WorkflowRun: Sendable, Hashable, Codable {
    /// Unique within the workflow: the start in milliseconds since 1970 and a counter (`1796212800123-1`).
    public var id: String
    /// What started it: `schedule` (a `time` slot), `event` or `daemon`.
    public var trigger: String
    /// The `time` slot it ran for (0 is the start), for schedule runs.
    public var slot: Int?
    /// The id of the event that started it, for event runs.
    public var event: String?
    /// When it started.
    public var started: Date
    /// When it ended; nil while it runs.
    public var ended: Date?
    /// The exit status; nil while it runs, or when it was stopped or died by a signal.
    public var exitStatus: Int32?
    /// `running`, `succeeded`, `failed` (a non-zero exit or a signal), `timed-out`, `stopped` (suspended, deleted or
    /// the server stopping) or `not-started` (the driver refused it).
    public var outcome: String
    /// The last lines of its output (stdout and stderr), at most ``WorkflowRunHistory/outputLimit`` bytes; or why it
    /// did not start.
    public var output: String
    /// The server that ran it (its lease holder name: host, process, a random part).
    public var server: String?
    /// Slots of its schedule passed over before it (missed while no server ran the schedule, or while a run was
    /// going), or events folded into it while a run was going: they were not run on their own.
    public var skipped: Int?

    /// How long it ran, in seconds.
    public var duration: Double? { ended.map { $0.timeIntervalSince(started) } }

    enum CodingKeys: String, CodingKey {
        case id, trigger, slot, event, started, ended, outcome, output, skipped, server
        case exitStatus = "exit_status"
    }
}

/// What the scheduler keeps of a workflow in the store (kind `workflow-runs`, one record per workflow): the newest
/// slot started and the last runs. Claiming a slot is an update at the record's version, so two servers sharing the
/// store never start the same slot twice, and a restarted server knows which slots already ran.
public struct WorkflowRunHistory: Sendable, Hashable, Codable {
    /// The newest `time` slot started (or passed over), nil before the first.
    public var lastSlot: Int?
    /// The schedule this history counts slots of (its period, start and repeat as written): a changed schedule
    /// starts counting again.
    public var schedule: String?
    /// The newest runs, oldest first, at most ``WorkflowRunHistory/limit``.
    public var runs: [WorkflowRun]

    /// Runs kept per workflow.
    public static let limit = 20
    /// Bytes of output kept per run.
    public static let outputLimit = 4096

    public init(lastSlot: Int? = nil, schedule: String? = nil, runs: [WorkflowRun] = []) {
        self.lastSlot = lastSlot
        self.schedule = schedule
        self.runs = runs
    }

    /// Adds or replaces (by id) a run, keeping the newest ``limit``.
    mutating func record(_ run: WorkflowRun) {
        var run = run
        run.output = Self.tail(run.output, bytes: Self.outputLimit)
        if let index = runs.firstIndex(where: { $0.id == run.id }) {
            runs[index] = run
        } else {
            runs.append(run)
            if runs.count > Self.limit { runs.removeFirst(runs.count - Self.limit) }
        }
    }

    /// The last `bytes` bytes of `text`, cut at a character boundary.
    static func tail(_ text: String, bytes: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > bytes else { return text }
        var start = utf8.index(utf8.endIndex, offsetBy: -bytes)
        while start < utf8.endIndex, !text.unicodeScalars.indices.contains(start) { start = utf8.index(after: start) }
        return String(text[start...])
    }

    enum CodingKeys: String, CodingKey {
        case lastSlot = "last_slot"
        case schedule, runs
    }
}

/// Reads and writes ``WorkflowRunHistory`` records in the artifact store.
struct WorkflowRunStore: Sendable {
    static let kind = "workflow-runs"
    let store: any ArtifactStore

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondISO8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondISO8601
        return decoder
    }()

    /// The workflow's history and its version (0: none stored).
    func read(_ workflow: String) async throws -> (history: WorkflowRunHistory, version: Int64) {
        guard let record = try await store.read(kind: Self.kind, name: workflow) else { return (WorkflowRunHistory(), 0) }
        return ((try? Self.decoder.decode(WorkflowRunHistory.self, from: record.body)) ?? WorkflowRunHistory(), record.version)
    }

    /// Writes `history` if the stored one is still at `version` (0: none); false when another writer got there first.
    func write(_ workflow: String, _ history: WorkflowRunHistory, at version: Int64) async throws -> Bool {
        let body = try Self.encoder.encode(history)
        do {
            if version == 0 {
                _ = try await store.create(kind: Self.kind, name: workflow, body: body)
            } else {
                _ = try await store.update(kind: Self.kind, name: workflow, body: body, expectedVersion: version)
            }
            return true
        } catch let error as PersistenceError where error.code == .versionConflict || error.code == .alreadyExists || error.code == .notFound {
            return false
        }
    }

    /// Changes the stored history with `change`, read afresh and retried on a conflict (a few times); returns the
    /// history written, or nil when `change` declined (returned false).
    @discardableResult
    func update(_ workflow: String, _ change: (inout WorkflowRunHistory) -> Bool) async throws -> WorkflowRunHistory? {
        for _ in 0..<5 {
            var (history, version) = try await read(workflow)
            guard change(&history) else { return nil }
            if try await write(workflow, history, at: version) { return history }
        }
        throw PersistenceError(code: .versionConflict, message: "the run history of workflow '\(workflow)' kept changing under this server")
    }

    /// Forgets a deleted workflow's history.
    func removeQuietly(_ workflow: String) async {
        try? await store.delete(kind: Self.kind, name: workflow, expectedVersion: nil)
    }
}

/// What the scheduler says of one workflow now, shown as the workflow's `schedule_status` so an operator sees why a
/// job did or did not run.
public struct WorkflowScheduleStatus: Sendable, Hashable, Codable {
    /// `scheduled` (waiting for its next slot or event), `running` (a run is going), `deployed` (a daemon),
    /// `finished` (a repeat count used up), `not-scheduled` (suspended), `waiting-for-breed`, or `standby` (another
    /// server holds the schedules' lease).
    public var phase: String
    /// When the next `time` slot is due.
    public var nextRun: Date?
    /// Why it is in this phase, when that is not obvious (the missing breed, the lease holder).
    public var reason: String?
    /// Events folded into a pending run while a run was going, since the scheduler started.
    public var coalesced: Int?

    public init(phase: String, nextRun: Date? = nil, reason: String? = nil, coalesced: Int? = nil) {
        self.phase = phase
        self.nextRun = nextRun
        self.reason = reason
        self.coalesced = coalesced
    }

    enum CodingKeys: String, CodingKey {
        case phase, reason, coalesced
        case nextRun = "next_run"
    }
}

/// The scheduler's view of every workflow, for the API to read (in memory; each server has its own).
public final class WorkflowStatusBoard: Sendable {
    private let statuses = Mutex<[String: WorkflowScheduleStatus]>([:])

    public init() {}

    /// The status of `workflow`, if the scheduler said one.
    public func status(of workflow: String) -> WorkflowScheduleStatus? { statuses.withLock { $0[workflow] } }

    func set(_ workflow: String, _ status: WorkflowScheduleStatus?) { statuses.withLock { $0[workflow] = status } }
}

extension JSONEncoder.DateEncodingStrategy {
    /// ISO-8601 with milliseconds (`2026-12-06T16:47:20.981Z`): a run's start and end to the millisecond, where
    /// `.iso8601` keeps whole seconds.
    public static let millisecondISO8601 = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// Reads ISO-8601 with or without fractional seconds.
    public static let millisecondISO8601 = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let text = try decoder.singleValueContainer().decode(String.self)
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an ISO-8601 time"))
    }
}
