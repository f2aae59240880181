import Foundation
import PropertyBased
import Testing
import VampDSL
import VampModel

/// A small deterministic generator (SplitMix64) so every failing seed can be replayed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random but valid-shaped artifacts, including awkward text (quotes, colons, `#`, newlines,
/// non-ASCII) wherever the model allows free text.
struct ArtifactGenerator {
    var rng: SeededRandom

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    mutating func name() -> String {
        let stems = ["catalog", "shop", "api", "db", "web", "Front_End", "x", "ünïcode", "a-b", "true", "null", "123"]
        return pick(stems) + (bool() ? ":\(int(0...9)).\(int(0...20))" : "")
    }

    mutating func trait() -> String { pick(["web", "api", "admin", "PORT", "x_y", "ñ"]) + (bool() ? "\(int(0...9))" : "") }

    mutating func text() -> String {
        let pieces = ["plain", "with space", "quote\"d", "it's", "colon: here", "#hash", "new\nline", "tab\t", "ünï", "$$dollar", "50%", "~", "null", "true", "-1", "0.5", "", "[x]", "{y}", "back\\slash", "*star", "&amp", "!bang"]
        return (0..<int(1...3)).map { _ in pick(pieces) }.joined()
    }

    /// A route's condition text: never empty, since an empty one reads back as no condition.
    mutating func conditionText() -> String {
        let written = text()
        return written.isEmpty ? "plain" : written
    }

    mutating func json(depth: Int = 0) -> JSONValue {
        switch int(0...(depth > 1 ? 3 : 5)) {
        case 0: return .null
        case 1: return .bool(bool())
        case 2: return .number(String(int(-1000...1000)))
        case 3: return .string(text())
        case 4: return .array((0..<int(0...3)).map { _ in json(depth: depth + 1) })
        default:
            var object: [String: JSONValue] = [:]
            for _ in 0..<int(0...3) { object[trait()] = json(depth: depth + 1) }
            return .object(object)
        }
    }

    mutating func metadata() -> [String: JSONValue] {
        guard bool() else { return [:] }
        var object: [String: JSONValue] = [:]
        for _ in 0..<int(1...3) { object[trait()] = json() }
        return object
    }

    mutating func unique<T: Hashable>(_ count: Int, _ make: (inout ArtifactGenerator) -> T) -> [T] {
        var seen = Set<T>()
        var out: [T] = []
        for _ in 0..<(count * 3) where out.count < count {
            let value = make(&self)
            if seen.insert(value).inserted { out.append(value) }
        }
        return out
    }

    mutating func variables() -> [EnvironmentVariable] {
        unique(int(0...3)) { $0.trait() }.map { name in
            EnvironmentVariable(name: name, alias: bool() ? name.uppercased() + "_X" : nil, value: bool() ? text() : nil)
        }
    }

    mutating func healthChecks() -> [HealthCheck]? {
        guard bool() else { return nil }
        return (0..<int(0...2)).map { _ in
            HealthCheck(path: "/" + trait(), port: trait(), initialDelay: TimeValue(seconds: int(0...7200))!, timeout: TimeValue(seconds: int(0...60))!,
                        interval: TimeValue(seconds: pick([1, 60, 3600, 90]))!, failures: int(0...10), protocol: pick(HealthCheck.CheckProtocol.allCases))
        }
    }

    mutating func breed(depth: Int = 0) -> Breed {
        Breed(
            name: name(),
            deployable: Deployable(type: pick(["container/docker", "application/javascript", "cmd"]), definition: text().isEmpty ? "img" : text()),
            ports: unique(int(0...3)) { $0.trait() }.map {
                int(0...3) > 0
                    ? BreedPort(name: $0, number: int(0...65535), type: pick(BreedPort.PortType.allCases))
                    : BreedPort(name: $0, number: nil, type: pick(BreedPort.PortType.allCases), reference: "${" + trait() + ".constants." + trait() + "}")
            },
            environmentVariables: variables(),
            constants: unique(int(0...2)) { $0.trait() }.map { Constant(name: $0, value: text()) },
            arguments: (0..<int(0...2)).map { _ in RunArgument(key: trait(), value: text()) },
            dependencies: unique(int(0...2)) { $0.trait() }.map { alias in
                Dependency(alias: alias, breed: depth < 1 && bool() ? .inline(breed(depth: depth + 1)) : .reference(name() + (bool() ? "*" : "")))
            },
            healthChecks: healthChecks(),
            metadata: metadata())
    }

    /// Values that look lossy in Vamp's two-decimal form too: millicores (`125m`), kilobytes
    /// (`100KB`), gigabytes and arbitrary fractions; all must survive a round trip exactly.
    mutating func scale(named: Bool) -> Scale {
        let cpu: Double
        switch int(0...3) {
        case 0: cpu = Double(int(1...800)) / 100
        case 1: cpu = Double(int(1...8000)) / 1000
        case 2: cpu = Double(int(1...64))
        default: cpu = Double.random(in: 0.0001...16, using: &rng)
        }
        let memory: Double
        switch int(0...4) {
        case 0: memory = Double(int(1...65536))
        case 1: memory = Double(int(1...1_000_000)) / 1024
        case 2: memory = Double(int(1...64)) * 1024
        case 3: memory = Double(int(1...999)) / 10 * 1024
        default: memory = Double.random(in: 0.001...100_000, using: &rng)
        }
        return Scale(name: named ? name() : nil, cpu: CPU(cores: cpu)!, memory: Memory(megabytes: memory)!, instances: int(0...20))
    }

    mutating func route(path: String) -> Route {
        Route(
            path: path,
            weight: bool() ? Percentage(int(0...100)) : nil,
            condition: bool() ? (bool() ? .inline(Condition(definition: conditionText())) : .reference(name())) : nil,
            conditionStrength: bool() ? Percentage(int(0...100)) : nil,
            rewrites: (0..<int(0...2)).map { _ in bool() ? .inline(Rewrite(path: "/" + trait(), condition: "{ path_beg /" + trait() + " }")) : .reference(name()) },
            balance: bool() ? pick(["roundrobin", "leastconn", "first"]) : nil,
            targets: (0..<int(0...2)).map { _ in bool() ? .instance(name: name(), host: "10.0.0.\(int(1...254))", port: int(1...65535)) : .url("host.test:\(int(1...65535))") })
    }

    /// A route, or now and then a reference to a stored route.
    mutating func routeOrReference(path: String) -> Route {
        int(0...4) == 0 ? Route(path: path, reference: name()) : route(path: path)
    }

    mutating func gateway(name gatewayName: String, routes paths: [String]) -> Gateway {
        Gateway(
            name: gatewayName, port: GatewayPort(number: int(0...65535), type: pick(BreedPort.PortType.allCases)),
            sticky: bool() ? pick(Gateway.Sticky.allCases) : nil,
            virtualHosts: (0..<int(0...2)).map { _ in trait() + ".example.test" },
            routes: paths.map { routeOrReference(path: $0) },
            metadata: metadata(),
            service: bool() ? GatewayService(host: "127.0.0.1", port: int(1...65535)) : nil,
            deployed: bool() ? bool() : nil)
    }

    mutating func escalation(depth: Int = 0) -> Escalation {
        let definition: Escalation.Definition
        switch int(0...(depth > 0 ? 2 : 5)) {
        case 0: definition = .scaleInstances(minimum: int(0...3), maximum: int(3...9), scaleBy: int(1...3), target: bool() ? trait() : nil)
        case 1: definition = .scaleCPU(minimum: Double(int(0...4)) / 4, maximum: 4.5, scaleBy: 0.25, target: nil)
        case 2: definition = .scaleMemory(minimum: 128, maximum: Double(int(256...4096)), scaleBy: 64.5, target: trait())
        case 3: definition = .toAll((0..<int(0...2)).map { _ in bool() ? .inline(escalation(depth: depth + 1)) : .reference(name()) })
        case 4: definition = .toOne((0..<int(0...2)).map { _ in bool() ? .inline(escalation(depth: depth + 1)) : .reference(name()) })
        default: definition = .generic(type: "custom_" + trait(), parameters: metadata())
        }
        return Escalation(name: depth == 0 && bool() ? name() : nil, definition: definition)
    }

    mutating func sla(named: Bool) -> SLA {
        let definition: SLA.Definition
        switch int(0...2) {
        case 0: definition = .responseTimeSlidingWindow(upper: int(100...2000), lower: int(0...100), interval: int(1...600), cooldown: int(0...600))
        case 1: definition = .escalationOnly
        default: definition = .generic(type: "custom_" + trait(), parameters: metadata())
        }
        // One escalation at most: several are rewritten into one to_all group on read.
        let escalations: [ArtifactReference<Escalation>] = bool() ? [] : [bool() ? .reference(name()) : .inline(Escalation(definition: escalation().definition))]
        return SLA(name: named ? name() : nil, definition: definition, escalations: escalations)
    }

    mutating func blueprint() -> Blueprint {
        let clusters = unique(int(1...3)) { $0.trait() }.map { clusterName -> Cluster in
            let services = (0..<int(1...3)).map { _ in
                Service(
                    breed: bool() ? .inline(breed()) : .reference(name()),
                    scale: bool() ? (bool() ? .inline(scale(named: false)) : .reference(name())) : nil,
                    environmentVariables: variables().map { EnvironmentVariable(name: $0.name, alias: $0.alias, value: $0.value ?? "v") },
                    arguments: (0..<int(0...1)).map { _ in RunArgument(key: "privileged", value: pick(["true", "false"])) },
                    healthChecks: healthChecks(), network: bool() ? "BRIDGE" : nil, dialects: metadata())
            }
            // Cluster gateways are keyed by port name: no port of their own, no read-only fields.
            func clusterGateway(_ name: String, _ generator: inout ArtifactGenerator) -> Gateway {
                var g = generator.gateway(name: name, routes: generator.unique(generator.int(0...2)) { $0.name() })
                g.port = GatewayPort(number: 0)
                g.service = nil
                g.deployed = nil
                return g
            }
            var gateways = unique(int(0...2)) { $0.trait() }.map { clusterGateway($0, &self) }
            // The short form without a port name stays so while every breed is a reference.
            if services.allSatisfy({ $0.breed.referenceName != nil }), bool() { gateways = [clusterGateway("", &self)] }
            var cluster = Cluster(
                name: clusterName, services: services, gateways: gateways,
                sla: bool() ? (bool() ? .inline(sla(named: false)) : .reference(name())) : nil,
                healthChecks: healthChecks(), network: bool() ? "HOST" : nil, dialects: metadata(), metadata: metadata())
            if cluster.sla?.referenceName != nil, bool() {
                cluster.slaEscalations = (0..<int(1...2)).map { _ in bool() ? .reference(name()) : .inline(Escalation(definition: escalation().definition)) }
            }
            return cluster
        }
        let gateways = unique(int(0...2)) { $0.int(1...65535) }.map { port -> Gateway in
            var g = gateway(name: "", routes: unique(int(1...2)) { "\($0.trait())/\($0.trait())" })
            g.port.number = port
            g.name = g.port.description
            g.service = nil
            g.deployed = nil
            return g
        }
        return Blueprint(name: name(), gateways: gateways, clusters: clusters,
                         environmentVariables: unique(int(0...2)) { "\($0.trait()).\($0.trait())" }.map { EnvironmentVariable(name: $0, value: text()) },
                         dialects: metadata(), metadata: metadata())
    }

    mutating func workflow() -> Workflow {
        let schedule: Workflow.Schedule
        switch int(0...2) {
        case 0: schedule = .daemon
        case 1: schedule = .event(tags: (0..<int(1...3)).map { _ in trait() + ":" + name() })
        default: schedule = .time(period: pick(["PT1M", "P1DT2H"]), start: bool() ? "now" : nil, repeat: bool() ? int(0...10) : nil)
        }
        return Workflow(name: name(), breed: bool() ? .inline(breed()) : .reference(name()), schedule: schedule, status: pick(Workflow.Status.allCases),
                        environmentVariables: variables().map { EnvironmentVariable(name: $0.name, alias: $0.alias, value: $0.value ?? "v") }, scale: bool() ? .inline(scale(named: false)) : nil, arguments: [],
                        network: bool() ? "USER" : nil, healthChecks: healthChecks(), dialects: metadata())
    }

    mutating func artifact() -> Artifact {
        switch int(0...11) {
        case 0: return .breed(breed())
        case 1: return .blueprint(blueprint())
        case 2: return .scale(scale(named: true))
        case 3: return .gateway(gateway(name: pick(["g", "shop/9050", "shop/web/port", "a/b/c/d"]), routes: unique(int(0...3)) { $0.pick(["shop/web/port", "[legacy.test:8080]", "other", "a/b/c/d"]) }))
        case 4: return .condition(Condition(name: name(), definition: text()))
        case 5: return .rewrite(Rewrite(name: name(), path: "/" + trait(), condition: "{ path_beg /" + trait() + " }"))
        case 6: return .sla(sla(named: true))
        case 7: var e = escalation(); e.name = name(); return .escalation(e)
        case 8: return .workflow(workflow())
        case 9: return .template(Template(name: name(), definition: metadata()))
        case 10:
            return .event(Event(id: bool() ? "e\(int(0...99))" : nil, tags: (0..<int(1...3)).map { _ in trait() }, value: bool() ? json() : nil,
                                timestamp: Date(timeIntervalSince1970: TimeInterval(int(0...2_000_000_000))), type: pick(["event", "health", "metrics"])))
        default:
            var route = route(path: name())
            route.name = route.path
            return .route(route)
        }
    }
}

@Suite("Round trip")
struct RoundTripTests {
    @Test("reading canonical YAML and JSON gives the same model (property, 300 seeds)")
    func property() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...Int.max)) { seed in
            var generator = ArtifactGenerator(rng: SeededRandom(seed: UInt64(seed)))
            let artifact = generator.artifact()
            let yaml = DSLWriter.yaml(artifact)
            let json = DSLWriter.json(artifact)
            do {
                let sameFromYAML = try DSLReader.read(yaml).map(\.artifact) == [artifact]
                #expect(sameFromYAML, "seed \(seed)\n\(yaml)")
                let sameFromJSON = try DSLReader.read(json).map(\.artifact) == [artifact]
                #expect(sameFromJSON, "seed \(seed)\n\(json)")
                // Writing is deterministic.
                #expect(DSLWriter.yaml(artifact) == yaml)
            } catch {
                Issue.record("seed \(seed): \(error)\n\(yaml)")
            }
        }
    }

    @Test("a multi-document stream of every example round-trips")
    func examples() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 5)
        for file in files {
            let documents = try DSLReader.read(try String(contentsOf: examples.appendingPathComponent(file), encoding: .utf8))
            let artifacts = documents.map(\.artifact)
            for document in documents { #expect(document.validate().isEmpty, "\(file): \(document.validate())") }
            let fromYAML = try DSLReader.read(DSLWriter.yaml(artifacts)).map(\.artifact)
            let fromJSON = try DSLReader.read(DSLWriter.json(artifacts)).map(\.artifact)
            for (index, artifact) in artifacts.enumerated() {
                let sameYAML = fromYAML.count == artifacts.count && fromYAML[index] == artifact
                let sameJSON = fromJSON.count == artifacts.count && fromJSON[index] == artifact
                #expect(sameYAML, "\(file) #\(index + 1)\n\(DSLWriter.yaml(artifact))")
                #expect(sameJSON, "\(file) #\(index + 1)")
            }
        }
    }

    @Test("canonical output uses snake_case, percentages and normalised memory")
    func canonical() throws {
        let documents = try DSLReader.read("kind: blueprint\nname: b\nclusters:\n  web:\n    breed: a:1\n    scale: {cpu: 250m, memory: 0.5GB}\n    env: {X: 1}\n")
        let yaml = DSLWriter.yaml(documents[0].artifact)
        #expect(yaml.contains("memory: \"512.00MB\""))
        #expect(yaml.contains("cpu: 0.25"))
        #expect(yaml.contains("environment_variables:"))
        #expect(!yaml.contains("env:"))
        let gateway = try DSLReader.read("kind: gateway\nname: g\nport: 80\nroutes: {a: {weight: 100%}}\n")
        #expect(DSLWriter.json(gateway[0].artifact, pretty: false).contains("\"weight\":\"100%\""))
    }
}
