public import ContainerDrivers
import Foundation
public import Logging
public import ServiceLifecycle
import VampConcurrency
import VampModel

/// Keeps what the container driver runs in step with the deployments (§4.5): a short wake → plan → execute loop.
///
/// It wakes at once when a deployment changes and when the driver reports a change of its own (an instance exited
/// or came up), passes again every `settle` while something is on its way, and every `interval` as a safety net.
/// The decision is ``ReconcilePlanner/plan(deployments:observed:now:options:)``; this service only asks the driver
/// and stores the outcome. Its first pass after a start adopts what already runs: a service the driver reports
/// with the right specification is not deployed again.
public struct Reconciler: ServiceLifecycle.Service {
    /// Settings of the loop.
    public struct Configuration: Sendable {
        /// The safety-net pass (Vamp's `vamp.operation.synchronization.period` was 6 s and the only trigger).
        public var interval: Duration
        /// Time between passes while a service is on its way (Initiated or Updating).
        public var settle: Duration
        /// Timeouts of the decision.
        public var planner: ReconcilePlanner.Options

        /// Creates a configuration.
        public init(interval: Duration = .seconds(5), settle: Duration = .milliseconds(250), planner: ReconcilePlanner.Options = .init()) {
            self.interval = interval
            self.settle = settle
            self.planner = planner
        }
    }

    let vamp: Vamp
    let driver: any ContainerDriver
    let configuration: Configuration
    let logger: Logger

    /// Creates the reconciler of `vamp`'s deployments on `driver`.
    public init(vamp: Vamp, driver: any ContainerDriver, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "vamp.reconciler")) {
        self.vamp = vamp
        self.driver = driver
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let vamp = self.vamp, driver = self.driver, interval = configuration.interval, clock = vamp.clock
        // Subscribed before the first pass: a change made while it runs wakes the next one.
        let deployments = vamp.changes.changes(after: try? await vamp.changes.position(), of: [.deployment])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Ends only by cancellation: the feed waits out a store that fails.
                    do { for try await _ in deployments { wake.yield() } } catch {}
                }
                group.addTask { for await _ in driver.changeNotices() { wake.yield() } }
                group.addTask {
                    while !Task.isCancelled {
                        try? await clock.sleep(for: interval)
                        wake.yield()
                    }
                }
                wake.yield()
                for await _ in wakes {
                    if await pass() {
                        try? await clock.sleep(for: configuration.settle)
                        wake.yield()
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wake.finish()
        }
    }

    /// One pass: reads the deployments and what the driver runs, decides, asks the driver, stores the outcome.
    /// Returns true while something is on its way (another pass soon is worth it).
    @discardableResult
    public func pass() async -> Bool {
        let deployments: [Deployment]
        let observed: [RuntimeService]
        do throws(OperationError) {
            deployments = try await vamp.allDeployments()
        } catch {
            logger.error("the deployments cannot be read; nothing is reconciled this pass", metadata: ["vamp.error": "\(error.message)"])
            return false
        }
        do throws(ContainerDriverError) {
            // Workflows' daemons are the workflow scheduler's, not ours to keep or remove.
            observed = try await driver.services().filter { $0.id.kind == .service }
        } catch {
            logger.warning("the container driver does not answer; nothing is reconciled this pass", metadata: ["vamp.error": "\(error.message)"])
            return !deployments.isEmpty
        }
        let plan = ReconcilePlanner.plan(deployments: deployments, observed: observed, now: vamp.clock.now, options: configuration.planner)
        logger.debug("reconcile pass", metadata: [
            "vamp.deployments": "\(deployments.count)", "vamp.observed": "\(observed.count)", "vamp.actions": "\(plan.actions.count)",
        ])
        let failures = await execute(plan.actions)
        var updates = plan.updates
        for (id, error) in failures where error.permanent {
            let planned = updates.firstIndex { $0.id == id }
            var seen: ServiceStatus?
            if let planned {
                seen = updates[planned].status ?? updates[planned].seen
            } else {
                let deployment = deployments.first { $0.name == id.deployment }
                let cluster = deployment?.clusters.first { $0.name == id.cluster }
                seen = cluster?.services.first { $0.breed.name == id.service }?.status
            }
            guard let seen else { continue }
            let failed = ServiceStatus(intention: seen.intention, since: seen.since, phase: .init(name: .failed, since: vamp.clock.now, notification: error.message))
            if let planned {
                updates[planned].status = failed
            } else {
                updates.append(ReconcilePlanner.ServiceUpdate(id: id, seen: seen, status: failed, instances: nil, remove: false, event: nil))
            }
        }
        do throws(OperationError) {
            try await vamp.applyReconcile(updates)
        } catch {
            logger.error("the outcome of a reconcile pass cannot be stored; the next pass tries again", metadata: ["vamp.error": "\(error.message)"])
        }
        let onTheWay = deployments.contains { deployment in
            deployment.clusters.contains { $0.services.contains { $0.status.phase.name == .initiated || $0.status.phase.name == .updating } }
        }
        return onTheWay || !plan.isEmpty
    }

    /// Asks the driver, several services at once (an undeploy may wait for processes to stop); returns the refusals.
    func execute(_ actions: [ReconcilePlanner.DriverAction]) async -> [(ServiceIdentity, ContainerDriverError)] {
        guard !actions.isEmpty else { return [] }
        let driver = self.driver, logger = self.logger
        return await withTaskGroup(of: (ServiceIdentity, ContainerDriverError)?.self) { group in
            for action in actions {
                group.addTask {
                    do throws(ContainerDriverError) {
                        switch action {
                        case .deploy(let specification, let update):
                            logger.info(update ? "updating a service" : "deploying a service", metadata: [
                                "vamp.service": "\(specification.id)", "vamp.instances": "\(specification.scale.instances)",
                            ])
                            try await driver.deploy(specification, update: update)
                        case .undeploy(let id):
                            logger.info("undeploying a service", metadata: ["vamp.service": "\(id)"])
                            try await driver.undeploy(id)
                        }
                        return nil
                    } catch {
                        let id: ServiceIdentity = switch action {
                        case .deploy(let specification, _): specification.id
                        case .undeploy(let id): id
                        }
                        logger.error("the container driver refused", metadata: ["vamp.service": "\(id)", "vamp.error": "\(error.message)", "vamp.permanent": "\(error.permanent)"])
                        return (id, error)
                    }
                }
            }
            var failures: [(ServiceIdentity, ContainerDriverError)] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
    }
}
