import Foundation
import Testing
import VampCore
import VampModel

/// The SLA decision (reference `sla-websocket-releases.md` §1) with plain values: thresholds, cooldown, no data,
/// unsettled services, `escalation_only`, generic types, stored SLAs and several gateways.
@Suite("SLA planner")
struct SLAPlannerTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func service(_ name: String, phase: ServiceStatus.Phase.Name = .done, intention: ServiceStatus.Intention = .deployment, instances: Int = 1) -> DeploymentService {
        DeploymentService(
            status: ServiceStatus(intention: intention, since: now - 100, phase: .init(name: phase, since: now - 100)),
            breed: Breed(name: name, deployable: Deployable(definition: "x"), ports: [BreedPort(name: "web", number: 8080)]),
            scale: Scale(cpu: CPU(cores: 0.5)!, memory: Memory(megabytes: 256)!, instances: instances))
    }

    /// `upper` 100 ms, `lower` 20 ms, a 30 s window and a 60 s cooldown.
    static let window = SLA(definition: .responseTimeSlidingWindow(upper: 100, lower: 20, interval: 30, cooldown: 60))

    static func deployment(
        _ name: String = "shop", sla: ArtifactReference<SLA>? = .inline(window), services: [DeploymentService] = [service("web:1.0")],
        ports: [String] = ["web"]
    ) -> Deployment {
        Deployment(name: name, clusters: [DeploymentCluster(
            name: "web", services: services, gateways: ports.map { Gateway(name: $0, port: GatewayPort(number: 0)) }, sla: sla)])
    }

    static func slaEvent(_ direction: SLAPlanner.Direction, _ deployment: String = "shop", _ cluster: String = "web", at time: Date) -> Event {
        SLAPlanner.event(direction, for: .init(deployment: deployment, cluster: cluster), at: time)
    }

    static func decide(_ deployments: [Deployment], _ times: [String: Double], events: [Event] = [], stored: SLAPlanner.StoredSLAs = .none) -> SLAPlanner.Plan {
        SLAPlanner.plan(deployments: deployments, stored: stored, responseTimes: times, events: events, now: now)
    }

    @Test("above upper escalates, below lower de-escalates, in between nothing; the event has the original's singular tags")
    func thresholds() throws {
        let slow = Self.decide([Self.deployment()], ["shop/web/web": 100.5])
        #expect(slow.events == [Event(tags: ["sla", "sla:escalate", "deployment:shop", "cluster:web"], value: nil, timestamp: Self.now, type: "event")])
        #expect(slow.decisions.first?.outcome == .publish(.escalate, responseTime: 100.5))

        let fast = Self.decide([Self.deployment()], ["shop/web/web": 19.9])
        #expect(fast.events.map(\.tags) == [["sla", "sla:deescalate", "deployment:shop", "cluster:web"]])

        // The thresholds themselves are within: strictly above upper, strictly below lower.
        for time in [20.0, 60, 100] {
            let within = Self.decide([Self.deployment()], ["shop/web/web": time])
            #expect(within.events.isEmpty, "\(time)")
            #expect(within.decisions.first?.outcome == .skip(.withinThresholds(responseTime: time)))
        }
    }

    @Test("no request in the window decides nothing; a gateway of another cluster does not count")
    func noData() {
        let plan = Self.decide([Self.deployment()], ["shop/api/web": 900, "other/web/web": 900])
        #expect(plan.events.isEmpty)
        #expect(plan.decisions.first?.outcome == .skip(.noData))
        // A cluster without a gateway has nothing to measure.
        #expect(Self.decide([Self.deployment(ports: [])], [:]).decisions.first?.outcome == .skip(.noData))
    }

    @Test("the slowest gateway of the cluster decides: one slow port escalates even if the other is fast")
    func severalGateways() {
        let deployment = Self.deployment(ports: ["web", "admin"])
        let measurements = SLAPlanner.measurements(deployments: [deployment], events: [], now: Self.now)
        #expect(Set(measurements.map(\.gateway)) == ["shop/web/web", "shop/web/admin"])
        #expect(measurements.allSatisfy { $0.window == .seconds(30) })

        #expect(Self.decide([deployment], ["shop/web/web": 5, "shop/web/admin": 150]).events.map(\.tags).first?.contains("sla:escalate") == true)
        // De-escalation needs every measured gateway below lower: the highest is what is compared.
        #expect(Self.decide([deployment], ["shop/web/web": 5, "shop/web/admin": 50]).events.isEmpty)
        #expect(Self.decide([deployment], ["shop/web/web": 5, "shop/web/admin": 10]).events.map(\.tags).first?.contains("sla:deescalate") == true)
        // A gateway with no requests is left out, not read as 0 ms.
        #expect(Self.decide([deployment], ["shop/web/admin": 50]).events.isEmpty)
    }

    @Test("an SLA event of the cluster within interval + cooldown holds the check back (its own or one posted by anyone)")
    func cooldown() {
        let deployment = Self.deployment()
        for (age, held) in [(0.0, true), (30, true), (90, true), (90.001, false), (600, false)] {
            let events = [Self.slaEvent(.deescalate, at: Self.now - age)]
            let plan = Self.decide([deployment], ["shop/web/web": 500], events: events)
            #expect(plan.events.isEmpty == held, "an event \(age) s old")
            if held {
                #expect(plan.decisions.first?.outcome == .skip(.coolingDown(since: Self.now - age)))
                #expect(SLAPlanner.measurements(deployments: [deployment], events: events, now: Self.now).isEmpty, "nothing is measured while cooling down")
            }
        }
        // Events of another cluster or deployment, or without the `sla` tag, do not hold it back.
        let others = [
            Self.slaEvent(.escalate, "shop", "api", at: Self.now),
            Self.slaEvent(.escalate, "other", "web", at: Self.now),
            Event(tags: ["deployment:shop", "cluster:web", "health"], timestamp: Self.now),
            // The plural tags are the archive's and the synchroniser's, not the SLA's.
            Event(tags: ["sla", "deployments:shop", "clusters:web"], timestamp: Self.now),
        ]
        #expect(Self.decide([deployment], ["shop/web/web": 500], events: others).events.count == 1)
    }

    @Test("a cluster with a service on its way (Initiated, Updating, Failed, or leaving) is not checked")
    func unsettled() {
        for phase in [ServiceStatus.Phase.Name.initiated, .updating, .failed] {
            let deployment = Self.deployment(services: [Self.service("web:1.0"), Self.service("web:1.1", phase: phase)])
            let plan = Self.decide([deployment], ["shop/web/web": 500])
            #expect(plan.events.isEmpty, "\(phase)")
            #expect(plan.decisions.first?.outcome == .skip(.unsettled))
            #expect(SLAPlanner.measurements(deployments: [deployment], events: [], now: Self.now).isEmpty)
        }
        let leaving = Self.deployment(services: [Self.service("web:1.0"), Self.service("web:0.9", intention: .undeployment)])
        #expect(Self.decide([leaving], ["shop/web/web": 500]).decisions.first?.outcome == .skip(.unsettled))
        // Another cluster of the same deployment on its way does not hold this one back.
        var two = Self.deployment()
        two.clusters.append(DeploymentCluster(name: "api", services: [Self.service("api:1.0", phase: .updating)]))
        #expect(Self.decide([two], ["shop/web/web": 500]).events.count == 1)
    }

    @Test("escalation_only waits for events from outside; another type is kept and reported unsupported; a missing stored SLA is named")
    func otherTypes() {
        let only = Self.deployment(sla: .inline(SLA(definition: .escalationOnly)))
        #expect(Self.decide([only], ["shop/web/web": 500]).decisions.first?.outcome == .skip(.escalationOnly))
        #expect(SLAPlanner.measurements(deployments: [only], events: [], now: Self.now).isEmpty)

        let generic = Self.deployment(sla: .inline(SLA(definition: .generic(type: "error_rate", parameters: ["max": .number(1)]))))
        #expect(Self.decide([generic], ["shop/web/web": 500]).decisions.first?.outcome == .skip(.unsupported(type: "error_rate")))

        let missing = Self.deployment(sla: .reference("fast"))
        #expect(Self.decide([missing], ["shop/web/web": 500]).decisions.first?.outcome == .skip(.missingSLA(name: "fast")))
        let stored = SLAPlanner.StoredSLAs(slas: ["fast": Self.window])
        #expect(Self.decide([missing], ["shop/web/web": 500], stored: stored).events.count == 1, "a stored SLA by name")

        // Clusters without an SLA are not decided at all.
        #expect(Self.decide([Self.deployment(sla: nil)], ["shop/web/web": 500]).decisions.isEmpty)
    }

    @Test("every deployment and cluster is decided on its own, in name order")
    func severalClusters() {
        let a = Self.deployment("a"), b = Self.deployment("b")
        let plan = Self.decide([b, a], ["a/web/web": 500, "b/web/web": 1])
        #expect(plan.events.map(\.tags) == [
            ["sla", "sla:escalate", "deployment:a", "cluster:web"], ["sla", "sla:deescalate", "deployment:b", "cluster:web"],
        ])
    }

    @Test("an SLA event reads back as its cluster and direction, whoever posted it; others do not")
    func signals() {
        let event = Self.slaEvent(.escalate, "shop", "web", at: Self.now)
        #expect(SLAPlanner.signal(of: event) == SLAPlanner.Signal(key: .init(deployment: "shop", cluster: "web"), direction: .escalate, timestamp: Self.now))
        // As stored: the group tags are added (`sla:escalate` adds `sla`, `deployment:shop` adds `deployment`).
        let posted = Event(tags: ["sla:deescalate", "deployment:shop", "cluster:web", "deployment", "cluster"], timestamp: Self.now)
        #expect(SLAPlanner.signal(of: posted)?.direction == .deescalate)
        #expect(SLAPlanner.signal(of: posted)?.key == .init(deployment: "shop", cluster: "web"))
        // No direction, no cluster, or the plural tags: not an SLA event.
        #expect(SLAPlanner.signal(of: Event(tags: ["sla", "deployment:shop", "cluster:web"], timestamp: Self.now)) == nil)
        #expect(SLAPlanner.signal(of: Event(tags: ["sla", "sla:escalate", "deployment:shop"], timestamp: Self.now)) == nil)
        #expect(SLAPlanner.signal(of: Event(tags: ["sla", "sla:escalate", "deployments:shop", "clusters:web"], timestamp: Self.now)) == nil)
    }
}
