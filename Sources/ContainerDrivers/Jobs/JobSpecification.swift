public import Foundation
public import VampModel

/// One run of a `time` or `event` workflow's breed, run once to its end by ``ContainerDriver/runJob(_:)`` (a
/// `daemon` workflow runs through ``ContainerDriver/deploy(_:update:)`` instead).
public struct JobSpecification: Sendable, Hashable {
    /// Whose run this is: an identity made by ``ServiceIdentity/workflow(_:breed:)``.
    public var id: ServiceIdentity
    /// The unique id of this run, `[a-z0-9-]` (`1733490000123-7`): Docker's `io.vamp.run` label, the local process's
    /// marker.
    public var run: String
    /// The resolved breed: a deployable of type `command` (local driver) or `container/docker` (`docker`).
    public var breed: Breed
    /// CPU and memory (the number of instances is not used: a run is one process or one container).
    public var scale: Scale
    /// The environment of the run, every value resolved.
    public var environment: [String: String]
    /// Run arguments (`privileged: true`).
    public var arguments: [RunArgument]
    /// Driver-specific settings (`docker:`: merged into the container's create request; a string is the command
    /// line `sh -c` runs in the image).
    public var dialects: [String: JSONValue]
    /// The longest the run may take: past it, it is stopped (local: SIGTERM to its process group, SIGKILL after the
    /// driver's grace period; Docker: the container is killed).
    public var timeout: Duration
    /// How many bytes of output are kept, from the end.
    public var outputLimit: Int

    /// Creates a job.
    public init(
        id: ServiceIdentity, run: String, breed: Breed, scale: Scale, environment: [String: String] = [:],
        arguments: [RunArgument] = [], dialects: [String: JSONValue] = [:], timeout: Duration, outputLimit: Int = 16_384
    ) {
        self.id = id
        self.run = run
        self.breed = breed
        self.scale = scale
        self.environment = environment
        self.arguments = arguments
        self.dialects = dialects
        self.timeout = timeout
        self.outputLimit = outputLimit
    }

    /// Why no driver can run this job (a run id outside `[a-z0-9-]`, a timeout that is not positive, a negative
    /// output limit), or nil.
    var refusal: ContainerDriverError? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        if run.isEmpty || run.count > 64 || !run.allSatisfy(allowed.contains) {
            return ContainerDriverError(
                "run id \"\(run)\" of workflow \(id.deployment) is not 1 to 64 characters of [a-z0-9-]", permanent: true)
        }
        if timeout <= .zero {
            return ContainerDriverError("run \(run) of workflow \(id.deployment) has a timeout of \(timeout): it must be positive", permanent: true)
        }
        if outputLimit < 0 {
            return ContainerDriverError("run \(run) of workflow \(id.deployment) keeps \(outputLimit) bytes of output: at least 0", permanent: true)
        }
        return nil
    }
}

/// How a run of ``ContainerDriver/runJob(_:)`` ended.
public struct JobOutcome: Sendable, Hashable {
    /// The exit status; nil when the run was stopped (``timedOut``, ``cancelled``) or died by a signal.
    public var exitStatus: Int32?
    /// The signal that ended it, if one did: one the driver sent to stop it (`SIGTERM`, `SIGKILL`), or another.
    public var signal: Int32?
    /// True when it was stopped for running past ``JobSpecification/timeout``.
    public var timedOut: Bool
    /// True when it was stopped because the calling task was cancelled (a workflow suspended or deleted).
    public var cancelled: Bool
    /// Standard output and error as they came, the last ``JobSpecification/outputLimit`` bytes at most, valid UTF-8
    /// (a character cut by the limit is left out, bytes that are not UTF-8 become U+FFFD).
    public var output: String
    /// When the run started.
    public var started: Date
    /// When it ended.
    public var ended: Date

    /// Creates an outcome.
    public init(
        exitStatus: Int32?, signal: Int32? = nil, timedOut: Bool = false, cancelled: Bool = false, output: String = "", started: Date,
        ended: Date
    ) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.output = output
        self.started = started
        self.ended = ended
    }
}

extension ContainerDriver {
    /// False: the driver runs workflows only as `daemon` schedules.
    public var runsJobs: Bool { false }

    /// Refuses with a permanent error naming the driver: it runs workflows only as `daemon` schedules.
    public func runJob(_ job: JobSpecification) async throws(ContainerDriverError) -> JobOutcome {
        throw ContainerDriverError(
            "\(Self.self) runs workflows only as daemon schedules: workflow \(job.id.deployment) cannot run once "
                + "(schedule it as a daemon, or use the local or Docker driver)",
            permanent: true)
    }
}
