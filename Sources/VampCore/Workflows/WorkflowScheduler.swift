public import ContainerDrivers
public import Foundation
public import Logging
import Persistence
public import ServiceLifecycle
import VampConcurrency
public import VampModel

/// Runs the namespace's workflows (reference §4.8): `daemon` ones through the container driver, which keeps them
/// running; `time` ones at each slot of their schedule and `event` ones at each matching event, as one-off runs
/// (`ContainerDriver.runJob`) with a timeout. The decisions are pure (`TimeSchedule.decide`, `EventTrigger`); this
/// service only reads the workflows, waits, starts and stops runs, and records them (``WorkflowRunHistory``).
///
/// Only one server of those sharing a store runs the schedules: the one that holds the lease (a record
/// `workflow-leases/scheduler` in the store). Each `time` slot is also claimed in the workflow's run history before it starts, so a slot runs once, whichever
/// server claims it, and a restarted server does not run again what ran before it stopped.
public struct WorkflowScheduler: ServiceLifecycle.Service {
    /// What the scheduler needs besides the facade and the driver.
    public struct Settings: Sendable {
        /// What every run's environment says of the server, asked at each run (the API's port may be known only
        /// once it listens).
        public var server: @Sendable () -> WorkflowEnvironment.Server
        /// The timeout of a run whose workflow sets no `VAMP_WORKFLOW_EXECUTION_TIMEOUT`, in seconds.
        public var defaultTimeout: Int
        /// This server, as the lease names it.
        public var holder: String
        /// How long a lease lasts unless renewed (renewed at a third of it).
        public var leaseTime: Duration
        /// The token of a workflow (`VAMP_API_TOKEN`), made by the host; nil: none.
        public var token: @Sendable (_ workflow: String) async -> String?
        /// Revokes the token of a workflow that was deleted.
        public var forgetToken: @Sendable (_ workflow: String) async -> Void

        public init(
            server: @escaping @Sendable () -> WorkflowEnvironment.Server, defaultTimeout: Int = 120, holder: String, leaseTime: Duration = .seconds(15),
            token: @escaping @Sendable (_ workflow: String) async -> String? = { _ in nil },
            forgetToken: @escaping @Sendable (_ workflow: String) async -> Void = { _ in }
        ) {
            self.forgetToken = forgetToken
            self.server = server
            self.defaultTimeout = defaultTimeout
            self.holder = holder
            self.leaseTime = leaseTime
            self.token = token
        }
    }

    let vamp: Vamp
    let driver: (any ContainerDriver)?
    let settings: Settings
    let logger: Logger

    public init(vamp: Vamp, driver: (any ContainerDriver)?, settings: Settings, logger: Logger = Logger(label: "vamp.workflows")) {
        self.vamp = vamp
        self.driver = driver
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        await vamp.installBuiltInWorkflows()
        let vamp = self.vamp, driver = self.driver, settings = self.settings, logger = self.logger
        await cancelWhenGracefulShutdown {
            await WorkflowLoop(vamp: vamp, driver: driver, settings: settings, logger: logger).run()
        }
    }
}
