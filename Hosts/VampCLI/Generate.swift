import ArgumentParser
import VampDSL
import VampModel

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an artifact skeleton to edit and create (offline).",
        subcommands: [GenerateBreed.self, GenerateBlueprint.self, GenerateScale.self, GenerateSLA.self, GenerateEscalation.self])
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of YAML.")
    var json = false

    /// Validates the generated artifact and prints it.
    func emit(_ artifact: Artifact) throws {
        let errors = Validation.validate(artifact)
        if !errors.isEmpty {
            for error in errors { printError("error: \(error)") }
            throw ExitCode(1)
        }
        if json { print(DSLWriter.json(artifact)) } else { print(DSLWriter.yaml(artifact), terminator: "") }
    }
}

struct GenerateBreed: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "breed", abstract: "A breed skeleton.")
    @Option(help: "Breed name, e.g. catalog:2.1.") var name = "my-service:1.0.0"
    @Option(help: "Docker image.") var deployable = "acme/my-service:1.0.0"
    @Option(help: "Port as name=number[/http|/tcp].") var port = "web=8080/http"
    @OptionGroup var output: OutputOptions

    func run() throws {
        let parts = port.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let (number, type) = BreedPort.parseValue(parts[1]) else {
            throw ValidationError("--port must be name=number[/http|/tcp], e.g. web=8080/http")
        }
        try output.emit(.breed(Breed(
            name: name, deployable: Deployable(definition: deployable),
            ports: [BreedPort(name: parts[0], number: number, type: type)])))
    }
}

struct GenerateBlueprint: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "blueprint", abstract: "A blueprint skeleton with one cluster.")
    @Option(help: "Blueprint name.") var name = "my-blueprint:1.0.0"
    @Option(help: "Cluster name.") var cluster = "web"
    @Option(help: "Breed reference for the cluster's service.") var breed = "my-service:1.0.0"
    @Option(help: "Scale reference (optional).") var scale: String?
    @Option(help: "External gateway port (optional), routed to CLUSTER/PORT-NAME.") var gateway: Int?
    @Option(help: "Breed port name the gateway routes to.") var portName = "web"
    @OptionGroup var output: OutputOptions

    func run() throws {
        var blueprint = Blueprint(
            name: name,
            clusters: [Cluster(name: cluster, services: [Service(breed: .reference(breed), scale: scale.map { .reference($0) })])])
        if let gateway {
            blueprint.gateways = [Gateway(name: "\(gateway)/http", port: GatewayPort(number: gateway), routes: [Route(path: "\(cluster)/\(portName)")])]
        }
        try output.emit(.blueprint(blueprint))
    }
}

struct GenerateScale: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "A scale.")
    @Option(help: "Scale name.") var name = "small"
    @Option(help: "CPU cores or millicores (500m).") var cpu = "0.5"
    @Option(help: "Memory with unit (256MB, 1GB).") var memory = "256MB"
    @Option(help: "Instances.") var instances = 1
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let cpuValue = CPU(parsing: cpu) else { throw ValidationError("--cpu must be a number of cores or millicores such as 500m") }
        guard let memoryValue = Memory(parsing: memory) else { throw ValidationError("--memory needs a unit, e.g. 256MB or 1GB") }
        try output.emit(.scale(Scale(name: name, cpu: cpuValue, memory: memoryValue, instances: instances)))
    }
}

struct GenerateSLA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sla", abstract: "A response-time sliding-window SLA, optionally with a scale_instances escalation.")
    @Option(help: "SLA name.") var name = "response-time"
    @Option(help: "Upper threshold in ms.") var upper = 1000
    @Option(help: "Lower threshold in ms.") var lower = 100
    @Option(help: "Window interval in seconds.") var interval = 60
    @Option(help: "Cooldown in seconds.") var cooldown = 600
    @Option(help: "Escalation reference to attach (optional).") var escalation: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try output.emit(.sla(SLA(
            name: name, definition: .responseTimeSlidingWindow(upper: upper, lower: lower, interval: interval, cooldown: cooldown),
            escalations: escalation.map { [.reference($0)] } ?? [])))
    }
}

struct GenerateEscalation: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "escalation", abstract: "A scale escalation.")
    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case instances = "scale_instances", cpu = "scale_cpu", memory = "scale_memory"
    }
    @Option(help: "Escalation name.") var name = "scale-out"
    @Option(help: "scale_instances, scale_cpu or scale_memory.") var type: Kind = .instances
    @Option(help: "Minimum.") var minimum = 1.0
    @Option(help: "Maximum.") var maximum = 5.0
    @Option(help: "Step.") var scaleBy = 1.0
    @Option(help: "Target cluster (default: the SLA's cluster).") var target: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        let definition: Escalation.Definition
        switch type {
        case .instances:
            definition = .scaleInstances(minimum: Int(minimum), maximum: Int(maximum), scaleBy: Int(scaleBy), target: target)
        case .cpu: definition = .scaleCPU(minimum: minimum, maximum: maximum, scaleBy: scaleBy, target: target)
        case .memory: definition = .scaleMemory(minimum: minimum, maximum: maximum, scaleBy: scaleBy, target: target)
        }
        try output.emit(.escalation(Escalation(name: name, definition: definition)))
    }
}
