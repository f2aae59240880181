public import ContainerDrivers
public import Foundation
public import VampModel

/// The reconciler's decision (§4.5, drivers §1.6): the deployments as stored and the services the driver reports
/// → one driver action and one status change per service. A pure function of values and the clock; the
/// ``Reconciler`` service carries it out.
public enum ReconcilePlanner {
    /// Settings of the decision.
    public struct Options: Sendable, Hashable {
        /// How long a service may take to be deployed before it is `Failed` (Vamp's
        /// `timeout.ready-for-deployment`, 600 s; `nil` never).
        public var deploymentTimeout: Duration?
        /// How long a service may take to be undeployed before it is `Failed` (`ready-for-undeployment`).
        public var undeploymentTimeout: Duration?

        /// Creates options with Vamp's defaults.
        public init(deploymentTimeout: Duration? = .seconds(600), undeploymentTimeout: Duration? = .seconds(600)) {
            self.deploymentTimeout = deploymentTimeout
            self.undeploymentTimeout = undeploymentTimeout
        }
    }

    /// What the driver is asked to do.
    public enum DriverAction: Sendable, Hashable {
        /// Start the service (`update == false`) or make the running one match (`update == true`).
        case deploy(ServiceSpecification, update: Bool)
        /// Remove every instance of the service.
        case undeploy(ServiceIdentity)
    }

    /// The synchronisation events of §5.1.
    public enum Synchronization: String, Sendable, Hashable {
        case deployed, redeploy, undeployed
    }

    /// A change of one stored service, applied only if the service still has the status the decision saw (a user's
    /// change in between wins).
    public struct ServiceUpdate: Sendable, Hashable {
        /// The service.
        public var id: ServiceIdentity
        /// The status the decision was made on.
        public var seen: ServiceStatus
        /// The new status, `nil` to keep it.
        public var status: ServiceStatus?
        /// The new instances, `nil` to keep them.
        public var instances: [Instance]?
        /// Remove the service from the deployment (it is undeployed).
        public var remove: Bool
        /// The event to publish with the change.
        public var event: Synchronization?
    }

    /// The decision of one pass.
    public struct Plan: Sendable, Hashable {
        /// What the driver is asked to do, dependencies first.
        public var actions: [DriverAction] = []
        /// What changes in the stored deployments.
        public var updates: [ServiceUpdate] = []

        /// True when nothing is to be done.
        public var isEmpty: Bool { actions.isEmpty && updates.isEmpty }
    }

    /// Decides one pass.
    ///
    /// - A service to deploy that the driver does not run is deployed once its dependencies run (their clusters
    ///   have a `Done` service); one that runs with another specification or scale is updated; one whose instances
    ///   are all up is `Done` (`synchronization:deployed`). A `Done` service that lost instances is `Updating`
    ///   again (`synchronization:redeploy`) until the driver has replaced them (self-healing).
    /// - A service to undeploy that still runs is undeployed; once the driver runs none of it, it is removed
    ///   (`synchronization:undeployed`).
    /// - A service that is not `Done` within the timeout is `Failed`, with a notification saying what is missing;
    ///   a `Failed` service the driver reports whole and up is `Done` again.
    /// - What the driver runs for a service no deployment has is undeployed.
    public static func plan(
        deployments: [Deployment], observed: [RuntimeService], now: Date, options: Options = Options()
    ) -> Plan {
        var plan = Plan()
        let running = Dictionary(observed.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var known = Set<ServiceIdentity>()
        var later: [DriverAction] = []

        for deployment in deployments {
            for cluster in deployment.clusters {
                for service in cluster.services {
                    let id = ServiceIdentity(deployment: deployment.name, cluster: cluster.name, service: service.breed.name)
                    known.insert(id)
                    let runtime = running[id]
                    let status = service.status
                    var update = ServiceUpdate(id: id, seen: status, status: nil, instances: nil, remove: false, event: nil)
                    func phase(_ name: ServiceStatus.Phase.Name, _ notification: String? = nil) {
                        guard status.phase.name != name || status.phase.notification != notification else { return }
                        update.status = ServiceStatus(intention: status.intention, since: status.since, phase: .init(name: name, since: now, notification: notification))
                    }
                    func timedOut(_ limit: Duration?) -> Bool {
                        guard let limit, status.phase.name != .done, status.phase.name != .failed else { return false }
                        return now.timeIntervalSince(status.phase.since) > Double(limit.components.seconds)
                    }

                    switch status.intention {
                    case .deployment:
                        let specification = Self.specification(of: service, id: id, deployment: deployment, cluster: cluster)
                        let up = runtime?.instances.filter(\.deployed) ?? []
                        if let runtime, runtime.instances != service.instances { update.instances = runtime.instances }
                        if runtime == nil {
                            if dependenciesReady(service, deployment: deployment) {
                                if hasDependencies(service) {
                                    later.append(.deploy(specification, update: false))
                                } else {
                                    plan.actions.append(.deploy(specification, update: false))
                                }
                                if status.phase.name == .done { update.event = .redeploy }
                                if status.phase.name != .failed { phase(.updating) }
                            }
                            if timedOut(options.deploymentTimeout) {
                                phase(.failed, "not running after \(Int(options.deploymentTimeout!.components.seconds)) s: the driver reports no instance\(dependenciesReady(service, deployment: deployment) ? "" : " (its dependencies are not deployed yet)")")
                            }
                        } else if runtime!.digest != specification.digest || runtime!.desiredInstances != service.scale.instances {
                            // Another specification or another scale: make it converge.
                            plan.actions.append(.deploy(specification, update: true))
                            if status.phase.name == .done { update.event = .redeploy }
                            phase(.updating)
                        } else if runtime!.instances.count < service.scale.instances {
                            // Instances missing (a driver that does not restart its own, such as Docker after a
                            // container was removed, or one that has not started them yet): ask again, and fail
                            // after the timeout as for instances that are there but not up.
                            plan.actions.append(.deploy(specification, update: true))
                            if status.phase.name == .done {
                                update.event = .redeploy
                                phase(.updating)
                            } else if timedOut(options.deploymentTimeout) {
                                phase(.failed, "\(up.count) of \(service.scale.instances) instances up after \(Int(options.deploymentTimeout!.components.seconds)) s")
                            } else if status.phase.name != .failed {
                                phase(.updating)
                            }
                        } else if up.count >= service.scale.instances {
                            if status.phase.name != .done {
                                phase(.done)
                                update.event = .deployed
                            }
                        } else if status.phase.name == .done {
                            phase(.updating)
                            update.event = .redeploy
                        } else if timedOut(options.deploymentTimeout) {
                            phase(.failed, "\(up.count) of \(service.scale.instances) instances up after \(Int(options.deploymentTimeout!.components.seconds)) s")
                        } else if status.phase.name == .initiated {
                            phase(.updating)
                        }
                    case .undeployment:
                        if let runtime {
                            // Asked once, and again while it keeps running (a driver that lost the request).
                            if status.phase.name == .initiated || now.timeIntervalSince(status.phase.since) > 10 {
                                plan.actions.append(.undeploy(id))
                            }
                            if update.instances == nil, runtime.instances != service.instances { update.instances = runtime.instances }
                            if timedOut(options.undeploymentTimeout) {
                                phase(.failed, "still running \(runtime.instances.count) instances after \(Int(options.undeploymentTimeout!.components.seconds)) s")
                            } else if status.phase.name == .initiated {
                                phase(.updating)
                            }
                        } else {
                            update.remove = true
                            update.event = .undeployed
                        }
                    }
                    if update.status != nil || update.instances != nil || update.remove || update.event != nil {
                        plan.updates.append(update)
                    }
                }
            }
        }
        plan.actions += later
        for runtime in observed where !known.contains(runtime.id) {
            plan.actions.append(.undeploy(runtime.id))
        }
        return plan
    }

    /// What the driver runs for the stored service: the resolved breed, scale, variables (by alias or name),
    /// arguments, health checks (the service's, else the breed's) and dialects (deployment → cluster → service).
    public static func specification(
        of service: DeploymentService, id: ServiceIdentity, deployment: Deployment, cluster: DeploymentCluster
    ) -> ServiceSpecification {
        var environment: [String: String] = [:]
        for variable in service.environmentVariables {
            environment[variable.alias ?? variable.name] = variable.value ?? ""
        }
        var dialects = deployment.dialects
        dialects.merge(cluster.dialects) { _, new in new }
        dialects.merge(service.dialects) { _, new in new }
        return ServiceSpecification(
            id: id, breed: service.breed, scale: service.scale, environment: environment, arguments: service.arguments,
            healthChecks: service.healthChecks ?? service.breed.healthChecks ?? [], dialects: dialects)
    }

    static func hasDependencies(_ service: DeploymentService) -> Bool { !service.dependencies.isEmpty }

    /// True when every cluster the service depends on has a service that is `Done`.
    static func dependenciesReady(_ service: DeploymentService, deployment: Deployment) -> Bool {
        service.dependencies.values.allSatisfy { clusterName in
            deployment.clusters.first { $0.name == clusterName }?.services.contains {
                $0.status.intention == .deployment && $0.status.phase.name == .done
            } ?? false
        }
    }
}
