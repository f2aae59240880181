import Testing
import VampModel

/// Each validation rule, checked on plain values: the error names the artifact, the field and
/// what to do.
@Suite("Validation")
struct ValidationTests {
    static let web = BreedPort(name: "web", number: 8080)
    static func breed(_ name: String, ports: [BreedPort] = [web], dependencies: [Dependency] = []) -> Breed {
        Breed(name: name, deployable: Deployable(definition: "acme/\(name)"), ports: ports, dependencies: dependencies)
    }

    func errors(_ artifact: Artifact) -> [VampError] { Validation.validate(artifact) }

    func expectError(_ artifact: Artifact, code: VampError.Code, path: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let found = errors(artifact)
        #expect(
            found.contains { $0.code == code && $0.path == path && $0.message.contains(fragment) },
            "expected \(code) at \(path) containing '\(fragment)', got: \(found.map(\.description))",
            sourceLocation: sourceLocation)
        #expect(found.allSatisfy { $0.kind == artifact.kind.rawValue && $0.name == artifact.name }, sourceLocation: sourceLocation)
    }

    @Test("a valid canary blueprint has no errors")
    func valid() {
        let blueprint = Blueprint(
            name: "shop",
            gateways: [Gateway(name: "9050/http", port: GatewayPort(number: 9050), routes: [Route(path: "web/web")])],
            clusters: [Cluster(
                name: "web",
                services: [Service(breed: .inline(Self.breed("a:1"))), Service(breed: .inline(Self.breed("a:2")))],
                gateways: [Gateway(name: "web", port: GatewayPort(number: 0), routes: [
                    Route(path: "a:1", weight: Percentage(90)), Route(path: "a:2", weight: Percentage(10), condition: .inline(Condition(definition: "has cookie beta"))),
                ])])])
        #expect(errors(.blueprint(blueprint)).isEmpty)
    }

    @Test("a blueprint needs at least one service")
    func noServices() {
        expectError(.blueprint(Blueprint(name: "b", clusters: [Cluster(name: "web")])), code: .invalidArtifact, path: "clusters", "at least one service")
    }

    @Test("a breed may appear once per blueprint")
    func duplicateBreed() {
        let blueprint = Blueprint(name: "b", clusters: [
            Cluster(name: "one", services: [Service(breed: .reference("a:1"))]),
            Cluster(name: "two", services: [Service(breed: .reference("a:1"))]),
        ])
        expectError(.blueprint(blueprint), code: .invalidArtifact, path: "clusters.two.services[0].breed", "already used in cluster 'one'")
    }

    @Test("external gateway ports are unique")
    func duplicatePorts() {
        let blueprint = Blueprint(
            name: "b",
            gateways: [
                Gateway(name: "9050", port: GatewayPort(number: 9050), routes: [Route(path: "web/web")]),
                Gateway(name: "9050/tcp", port: GatewayPort(number: 9050, type: .tcp), routes: [Route(path: "web/web")]),
            ],
            clusters: [Cluster(name: "web", services: [Service(breed: .inline(Self.breed("a:1")))])])
        expectError(.blueprint(blueprint), code: .duplicatePort, path: "gateways.9050/tcp", "must be unique")
    }

    @Test("dependencies must be satisfied by a breed of the blueprint")
    func dependencies() {
        let front = Self.breed("front:1", dependencies: [Dependency(alias: "db", breed: .reference("postgres:9.*"))])
        let unsatisfied = Blueprint(name: "b", clusters: [Cluster(name: "web", services: [Service(breed: .inline(front))])])
        expectError(.blueprint(unsatisfied), code: .unresolvedDependency, path: "clusters.web.services[0].breed.dependencies.db", "postgres:9.*")
        let satisfied = Blueprint(name: "b", clusters: [
            Cluster(name: "web", services: [Service(breed: .inline(front))]),
            Cluster(name: "db", services: [Service(breed: .reference("postgres:9.6"))]),
        ])
        #expect(errors(.blueprint(satisfied)).isEmpty)
    }

    @Test("a breed may not depend on itself")
    func recursiveDependency() {
        expectError(.breed(Self.breed("a:1", dependencies: [Dependency(alias: "me", breed: .reference("a:*"))])), code: .invalidArtifact, path: "dependencies.me", "recursive dependency")
    }

    @Test("value references must use a declared dependency alias")
    func aliasReferences() {
        var breed = Self.breed("a:1")
        breed.environmentVariables = [EnvironmentVariable(name: "URL", value: "http://$db.host:$db.ports.port")]
        expectError(.breed(breed), code: .invalidValue, path: "environment_variables.URL", "not a dependency alias")
    }

    @Test("health checks name a breed port")
    func healthCheckPort() {
        var breed = Self.breed("a:1")
        breed.healthChecks = [HealthCheck(port: "admin", initialDelay: TimeValue(seconds: 1)!, timeout: TimeValue(seconds: 1)!, interval: TimeValue(seconds: 1)!, failures: 3)]
        expectError(.breed(breed), code: .invalidArtifact, path: "health_checks[0].port", "port 'admin'")
    }

    @Test("standalone gateway weights sum to 0% or 100%")
    func weights() {
        let gateway = Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: "a", weight: Percentage(60)), Route(path: "b", weight: Percentage(30))])
        expectError(.gateway(gateway), code: .routeWeight, path: "routes", "90%")
        let zero = Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: "a", weight: Percentage(0)), Route(path: "b", weight: Percentage(0))])
        #expect(errors(.gateway(zero)).isEmpty)
        let partial = Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: "a", weight: Percentage(60)), Route(path: "b")])
        #expect(errors(.gateway(partial)).isEmpty)
    }

    @Test("cluster gateway weights may not exceed 100%")
    func clusterWeights() {
        let blueprint = Blueprint(name: "b", clusters: [Cluster(
            name: "web", services: [Service(breed: .inline(Self.breed("a:1"))), Service(breed: .inline(Self.breed("a:2")))],
            gateways: [Gateway(name: "web", port: GatewayPort(number: 0), routes: [Route(path: "a:1", weight: Percentage(80)), Route(path: "a:2", weight: Percentage(30))])])])
        expectError(.blueprint(blueprint), code: .routeWeight, path: "clusters.web.gateways.web.routes", "110%")
    }

    @Test("internal routes are breed names of the cluster and gateways are keyed by port name")
    func internalRoutes() {
        let blueprint = Blueprint(name: "b", clusters: [Cluster(
            name: "web", services: [Service(breed: .inline(Self.breed("a:1")))],
            gateways: [Gateway(name: "admin", port: GatewayPort(number: 0), routes: [Route(path: "b:1")])])])
        expectError(.blueprint(blueprint), code: .invalidArtifact, path: "clusters.web.gateways.admin", "no port named 'admin'")
        expectError(.blueprint(blueprint), code: .invalidArtifact, path: "clusters.web.gateways.admin.routes.b:1", "not a breed of cluster 'web'")
    }

    @Test("sticky, conditions and rewrites need an http port")
    func httpOnly() {
        let gateway = Gateway(name: "db", port: GatewayPort(number: 5432, type: .tcp), sticky: .route, routes: [
            Route(path: "a", weight: Percentage(100), condition: .inline(Condition(definition: "has cookie x")), rewrites: [.inline(Rewrite(path: "/x", condition: "{ path_beg /y }"))]),
        ])
        expectError(.gateway(gateway), code: .invalidArtifact, path: "sticky", "need an http port")
        expectError(.gateway(gateway), code: .invalidArtifact, path: "routes.a.condition", "need an http port")
        expectError(.gateway(gateway), code: .invalidArtifact, path: "routes.a.rewrites", "need an http port")
    }

    @Test("virtual hosts are host names", arguments: ["bad host", "a..b", "-x.test", "x\n.test", "ünï.test", "a;b"])
    func virtualHosts(host: String) {
        let gateway = Gateway(name: "g", port: GatewayPort(number: 80), virtualHosts: [host])
        expectError(.gateway(gateway), code: .invalidValue, path: "virtual_hosts[0]", "not a host name")
    }

    @Test("conditions must parse")
    func conditions() {
        let gateway = Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: "a", weight: Percentage(100), condition: .inline(Condition(definition: "user-agent ==")))])
        expectError(.gateway(gateway), code: .condition, path: "routes.a.condition", "does not parse")
    }

    @Test("external routes are any bracketed target without spaces (Vamp 0.9.5 took [external/1/2])")
    func externalRoutes() {
        for path in ["[legacy.test:8080]", "[external/1/2]", "[legacy.test]"] {
            #expect(errors(.gateway(Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: path, weight: Percentage(100))]))).isEmpty, "\(path)")
        }
        expectError(.gateway(Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: "[bad host:80]", weight: Percentage(100))])), code: .illegalName, path: "routes.[bad host:80]", "without spaces")
        expectError(.gateway(Gateway(name: "g", port: GatewayPort(number: 80), routes: [Route(path: "[]", weight: Percentage(100))])), code: .illegalName, path: "routes.[]", "must be '[target]'")
    }

    @Test("event types are ASCII letters, digits, '_' and '-', as Vamp's ^[\\w\\d\\-_]+$")
    func eventTypes() {
        #expect(Validation.isEventType("health_check-2"))
        for bad in ["", "ünï", "a b", "a.b", "a:b"] { #expect(!Validation.isEventType(bad), "\(bad)") }
    }

    @Test("scale escalation targets name a cluster")
    func escalationTarget() {
        let sla = SLA(definition: .escalationOnly, escalations: [.inline(Escalation(definition: .scaleInstances(minimum: 1, maximum: 3, scaleBy: 1, target: "nope")))])
        let blueprint = Blueprint(name: "b", clusters: [Cluster(name: "web", services: [Service(breed: .reference("a:1"))], sla: .inline(sla))])
        expectError(.blueprint(blueprint), code: .invalidArtifact, path: "clusters.web.sla.escalations[0].target", "cluster 'nope'")
    }

    @Test("blueprint variables are keyed cluster.VARIABLE of an existing cluster")
    func blueprintVariables() {
        let blueprint = Blueprint(name: "b", clusters: [Cluster(name: "web", services: [Service(breed: .reference("a:1"))])],
                                  environmentVariables: [EnvironmentVariable(name: "api.URL", value: "x"), EnvironmentVariable(name: "URL", value: "y")])
        expectError(.blueprint(blueprint), code: .invalidArtifact, path: "environment_variables.api.URL", "cluster 'api'")
        expectError(.blueprint(blueprint), code: .invalidValue, path: "environment_variables.URL", "cluster.VARIABLE")
    }

    @Test("privileged must be boolean")
    func privileged() {
        var breed = Self.breed("a:1")
        breed.arguments = [RunArgument(key: "privileged", value: "maybe")]
        expectError(.breed(breed), code: .invalidValue, path: "arguments[0].privileged", "true or false")
    }

    @Test("workflow periods are ISO-8601 durations")
    func workflowPeriod() {
        let workflow = Workflow(name: "w", breed: .reference("b"), schedule: .time(period: "every day", start: nil, repeat: nil))
        expectError(.workflow(workflow), code: .invalidValue, path: "schedule.time.period", "ISO-8601")
        #expect(Workflow.isISO8601Duration("P1DT2H"))
        #expect(Workflow.isISO8601Duration("PT1M"))
        #expect(!Workflow.isISO8601Duration("P"))
        #expect(!Workflow.isISO8601Duration("PT"))
    }

    @Test("a time schedule that could not run is refused: zero or sub-millisecond period, unreadable start, repeat 0")
    func workflowTimeSchedule() {
        func workflow(_ period: String, start: String? = nil, repeat repeatCount: Int? = nil) -> Artifact {
            .workflow(Workflow(name: "w", breed: .reference("b"), schedule: .time(period: period, start: start, repeat: repeatCount)))
        }
        for period in ["PT0S", "P0D", "P0Y0M0W0DT0H0M0.0S"] {
            expectError(workflow(period), code: .invalidValue, path: "schedule.time.period", "is zero")
        }
        expectError(workflow("PT0.0001S"), code: .invalidValue, path: "schedule.time.period", "shorter than a millisecond")
        expectError(workflow("P1000000000D"), code: .invalidValue, path: "schedule.time.period", "above 999999999")
        expectError(workflow("P1.5D"), code: .invalidValue, path: "schedule.time.period", "ISO-8601")
        expectError(workflow("PT1M", start: "tomorrow"), code: .invalidValue, path: "schedule.time.start", "neither 'now' nor an ISO-8601 timestamp")
        expectError(workflow("PT1M", start: "2027-02-30T12:00:00Z"), code: .invalidValue, path: "schedule.time.start", "ISO-8601 timestamp")
        expectError(workflow("PT1M", start: "2027-06-01T12:00:00"), code: .invalidValue, path: "schedule.time.start", "with an offset")
        expectError(workflow("PT1M", repeat: 0), code: .invalidValue, path: "schedule.time.repeat", "1 or more")
        for valid in [workflow("PT0.001S"), workflow("P1DT2H", start: "now", repeat: 1), workflow("PT1M", start: "2027-06-01T14:00:00+02:00", repeat: 5)] {
            #expect(errors(valid).isEmpty, "\(errors(valid))")
        }
    }

    @Test("events need tags and a legal type; tags expand groups")
    func events() {
        expectError(.event(Event(tags: [], type: "bad type")), code: .missingField, path: "tags", "at least one tag")
        expectError(.event(Event(tags: ["a"], type: "bad type")), code: .invalidValue, path: "type", "must match")
        #expect(Event(tags: ["deployments:shop", "clusters:web", "health"]).expandedTags == ["clusters", "clusters:web", "deployments", "deployments:shop", "health"])
    }

    @Test("SLA thresholds and escalation ranges are ordered")
    func slaRanges() {
        expectError(.sla(SLA(name: "s", definition: .responseTimeSlidingWindow(upper: 10, lower: 100, interval: 0, cooldown: 0))), code: .invalidValue, path: "threshold", "lower")
        expectError(.escalation(Escalation(name: "e", definition: .scaleCPU(minimum: 2, maximum: 1, scaleBy: 0, target: nil))), code: .invalidValue, path: "scale_by", "more than 0")
    }

    @Test("error descriptions name the artifact, field and line")
    func errorDescription() {
        let error = VampError(.invalidValue, "bad", kind: "blueprint", name: "shop", path: "clusters.web.scale", line: 12, column: 5)
        #expect(error.description == "blueprint 'shop', field clusters.web.scale, line 12:5: bad")
    }
}
