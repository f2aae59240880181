public import Foundation

extension LocalProcessDriver {
    /// The driver's settings.
    public struct Configuration: Sendable {
        /// Where the commands run; `nil`: the driver's state directory. With a ``user``, ``userWorkDirectory`` is used
        /// instead.
        public var workingDirectory: URL?
        /// Between SIGTERM and SIGKILL when an instance is stopped.
        public var gracePeriod: Duration
        /// The wait before the first restart after an exit; it doubles with every exit in a row.
        public var initialRestartDelay: Duration
        /// The longest wait before a restart.
        public var maximumRestartDelay: Duration
        /// An instance that stayed up this long starts again from ``initialRestartDelay`` after its next exit.
        public var restartDelayReset: Duration
        /// During an update, how long a replacement that is not up yet is waited for before the old instance is
        /// stopped anyway.
        public var replacementWait: Duration
        /// How often an adopted process (not a child of this server) is checked.
        public var pollInterval: Duration
        /// Ports never given to an instance: the gateways' range (`vamp.operation.gateway.port-range`), which may lie
        /// in Linux's ephemeral range that free ports come from when an operator sets it there, so that an instance
        /// never takes a gateway's port.
        public var excludedPorts: [ClosedRange<Int>] = []
        /// The user the commands run as (`vamp.container-driver.local.user`); `nil`: the server's own user. Needs a
        /// server running as root; the processes get the user's uid and primary group and no supplementary group.
        public var user: LocalUser?
        /// With a ``user``: the folder each service gets its own working folder in (`<folder>/<service key>`, owned by
        /// the user, 0700; the folder itself 0711), outside the server's owner-only state directory
        /// (`vamp.container-driver.local.work-directory`, `.vamp-work`). Ignored without a user.
        public var userWorkDirectory: URL = URL(fileURLWithPath: ".vamp-work").standardizedFileURL
        /// Called at each ``DriverCrashPoint`` the driver passes (``DriverCrashPoint/spawned``,
        /// ``DriverCrashPoint/signalled``), for crash tests that kill the server there; nil in a server.
        package var crashPoint: (@Sendable (DriverCrashPoint) -> Void)?

        /// Creates a configuration; every setting has a default.
        public init(
            workingDirectory: URL? = nil, gracePeriod: Duration = .seconds(5), initialRestartDelay: Duration = .milliseconds(100),
            maximumRestartDelay: Duration = .seconds(10), restartDelayReset: Duration = .seconds(10),
            replacementWait: Duration = .seconds(60), pollInterval: Duration = .milliseconds(500)
        ) {
            self.workingDirectory = workingDirectory
            self.gracePeriod = gracePeriod
            self.initialRestartDelay = initialRestartDelay
            self.maximumRestartDelay = maximumRestartDelay
            self.restartDelayReset = restartDelayReset
            self.replacementWait = replacementWait
            self.pollInterval = pollInterval
        }
    }
}
