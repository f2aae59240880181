public import Foundation
public import VampModel
public import VampPulse

/// The events Pulse publishes every period, with Vamp 0.9.5's tags so its tools and UI read them: `health` per
/// gateway, route, service, cluster and deployment, `metrics` (`metrics:rate`, `metrics:responseTime`) per gateway and
/// route, and `allocation` per deployment. A pure function of the figures, the deployments and the time.
///
/// **Health** is the share of answers without a 5xx over the health window (1 without any answer), 0 below the
/// configured floor; a service's is its routes' share times the share of its instances that are deployed; a
/// cluster's the product of its services', a deployment's the product of its clusters' (as in 0.9.5).
/// **Metrics**: `rate` is requests per second over the metrics window, `responseTime` the mean total time (`Tt`)
/// in milliseconds of those requests (none without requests).
public enum PulseEvents {
    /// The figures of one gateway or route over the two windows.
    public struct Windows: Sendable {
        /// Over the health window.
        public var health: PulseFigures
        /// Over the metrics window.
        public var metrics: PulseFigures

        /// Creates the pair.
        public init(health: PulseFigures, metrics: PulseFigures) {
            self.health = health
            self.metrics = metrics
        }
    }

    /// The events for `gateways` and `routes` (served ones, by name) and `deployments`, stamped `now`.
    public static func make(
        gateways: [String: Windows], routes: [PulseNames.RouteName: Windows], deployments: [Deployment],
        metricsWindow: Duration, healthFloor: Double, now: Date
    ) -> [Event] {
        var events: [Event] = []
        let seconds = max(1, Double(metricsWindow.components.seconds))
        func health(_ figures: PulseFigures) -> Double {
            let responses = figures.responses
            guard responses > 0 else { return 1 }
            let share = Double(responses - figures.serverErrors) / Double(responses)
            return share < healthFloor ? 0 : share
        }
        func metrics(_ tags: [String], _ figures: PulseFigures) {
            events.append(Event(tags: tags + ["metrics:rate"], value: .number(rounded(Double(figures.requests) / seconds, 2)), timestamp: now, type: "metrics"))
            if let mean = figures.totalTime.mean {
                events.append(Event(tags: tags + ["metrics:responseTime"], value: .number(rounded(mean, 2)), timestamp: now, type: "metrics"))
            }
        }
        for (gateway, figures) in gateways.sorted(by: { $0.key < $1.key }) {
            let tags = ["gateways:\(gateway)", "gateway"]
            events.append(Event(tags: tags + ["health"], value: .number(rounded(health(figures.health), 3)), timestamp: now, type: "health"))
            metrics(tags, figures.metrics)
        }
        for (route, figures) in routes.sorted(by: { ($0.key.gateway, $0.key.route) < ($1.key.gateway, $1.key.route) }) {
            let tags = ["gateways:\(route.gateway)", "routes:\(route.route)", "route"]
            events.append(Event(tags: tags + ["health"], value: .number(rounded(health(figures.health), 3)), timestamp: now, type: "health"))
            metrics(tags, figures.metrics)
        }
        for deployment in deployments.sorted(by: { $0.name < $1.name }) {
            var deploymentHealth = 1.0
            var cpu = 0.0, memory = 0.0, instances = 0
            for cluster in deployment.clusters {
                var clusterHealth = 1.0
                for service in cluster.services where service.status.intention == .deployment {
                    var merged = PulseFigures()
                    for (route, figures) in routes where route.gateway.hasPrefix("\(deployment.name)/\(cluster.name)/") {
                        let path = route.route.split(separator: "/", omittingEmptySubsequences: false)
                        if path.count == 4, path[0] == deployment.name, path[1] == cluster.name, path[2] == service.breed.name {
                            merged.add(figures.health)
                        }
                    }
                    let wanted = service.scale.instances
                    let deployed = service.instances.filter(\.deployed).count
                    let factor = wanted > 0 ? min(1, Double(deployed) / Double(wanted)) : 1
                    let serviceHealth = health(merged) * factor
                    clusterHealth *= serviceHealth
                    events.append(Event(
                        tags: ["deployments:\(deployment.name)", "clusters:\(cluster.name)", "services:\(service.breed.name)", "service", "health"],
                        value: .number(rounded(serviceHealth, 3)), timestamp: now, type: "health"))
                    cpu += service.scale.cpu.cores * Double(wanted)
                    memory += service.scale.memory.megabytes * Double(wanted)
                    instances += wanted
                }
                deploymentHealth *= clusterHealth
                events.append(Event(
                    tags: ["deployments:\(deployment.name)", "clusters:\(cluster.name)", "cluster", "health"],
                    value: .number(rounded(clusterHealth, 3)), timestamp: now, type: "health"))
            }
            events.append(Event(tags: ["deployments:\(deployment.name)", "deployment", "health"], value: .number(rounded(deploymentHealth, 3)), timestamp: now, type: "health"))
            events.append(Event(
                tags: ["deployments:\(deployment.name)", "allocation"],
                value: .object(["cpu": .number(rounded(cpu, 3)), "memory": .number(rounded(memory, 1)), "instances": .number(Double(instances))]),
                timestamp: now, type: "allocation"))
        }
        return events
    }

    static func rounded(_ value: Double, _ digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }
}
