// Child process of the container drivers' crash tests (Tests/ContainerDriversTests/*CrashTests.swift): a "server" that
// runs one driver and works it until the test kills it with SIGKILL, or until it kills itself at a crash point.
//
//   ContainerDriverCrashServer local <state folder> <workload> [options]
//   ContainerDriverCrashServer docker <unix://engine socket> <workload> [options]
//
// Workloads:
//   churn     deploys and undeploys the services churn-0 ... churn-3 (no ports) in a loop, printing `ack <n>` after each
//             step (a deploy that came up, then an undeploy that returned)
//   serve     deploys the service `serve` (port `web`), prints `up` once all its instances are deployed, then waits
//   undeploy  as serve, then undeploys it and prints `undeployed`
// Options:
//   --tag T          the services get CRASH_TEST_TAG=T in their environment, so the test finds their processes itself
//   --command C      serve/undeploy: what the instances run (local: a command line; docker: run by /bin/sh -c)
//   --instances N    serve/undeploy: how many instances (2)
//   --image I        docker: the image (the DockerEngine fixture's busybox)
//   --crash-at P     kill this process with SIGKILL the first time the driver passes crash point P (spawned,
//                    signalled, created)
// It prints `running` once its driver runs. Everything is written with write(2) on the raw descriptor, so each line is out before the next step.
import ContainerDrivers
import Foundation
import Logging
import ServiceLifecycle
import VampModel

#if canImport(Glibc)
import Glibc
#endif

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ContainerDriverCrashServer: \(message)\n".utf8))
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 3 else {
    fail("usage: ContainerDriverCrashServer local|docker <state folder|unix://socket> churn|serve|undeploy [--tag T] [--command C] [--instances N] [--image I] [--crash-at P]")
}
func parseOptions(_ words: ArraySlice<String>) -> [String: String] {
    var options: [String: String] = [:]
    var rest = words
    while let key = rest.popFirst() {
        guard key.hasPrefix("--"), let value = rest.popFirst() else { fail("unexpected argument \(key)") }
        options[String(key.dropFirst(2))] = value
    }
    return options
}
let options = parseOptions(arguments.dropFirst(3))
let (kind, place, workload) = (arguments[0], arguments[1], arguments[2])
let tag = options["tag"] ?? "none"
let crashAt: DriverCrashPoint? = options["crash-at"].map { name in
    guard let point = DriverCrashPoint(rawValue: name) else { fail("no crash point \(name): \(DriverCrashPoint.allCases.map(\.rawValue))") }
    return point
}
/// Kills this process with SIGKILL when the driver passes `wanted`.
func crashing(at wanted: DriverCrashPoint) -> @Sendable (DriverCrashPoint) -> Void {
    { point in
        if point == wanted { kill(getpid(), SIGKILL) }
    }
}
let crash = crashAt.map(crashing(at:))
let logger: Logger = {
    var logger = Logger(label: "crash-server")
    logger.logLevel = .info
    return logger
}()

func specification(_ service: String, instances: Int, ports: [BreedPort], command: String) -> ServiceSpecification {
    let deployable = kind == "local"
        ? Deployable(type: "command", definition: command)
        : Deployable(type: "docker", definition: options["image"] ?? "localhost/vamp-busybox:latest")
    var dialects: [String: JSONValue] = [:]
    if kind == "docker" { dialects["docker"] = .object(["Cmd": .array(["/bin/sh", "-c", command].map { .string($0) })]) }
    return ServiceSpecification(
        id: ServiceIdentity(deployment: "crash", cluster: "c", service: service),
        breed: Breed(name: service, deployable: deployable, ports: ports),
        scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: instances),
        environment: ["CRASH_TEST_TAG": tag], dialects: dialects)
}

/// Waits until the driver reports `id` with `count` instances, all deployed (at most 20 s).
func waitUntilDeployed(_ driver: any ContainerDriver, _ id: ServiceIdentity, _ count: Int) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        let service = try await driver.services().first { $0.id == id }
        if let service, service.instances.count == count, service.instances.allSatisfy(\.deployed) { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    fail("\(id) did not come up with \(count) instances within 20 s")
}

func work(_ driver: any ContainerDriver) async throws {
    switch workload {
    case "churn":
        var step = 0
        while true {
            let instances = step % 2 == 0 ? 3 : 1
            let deployed = specification("churn-\(step % 4)", instances: instances, ports: [], command: "exec sleep 600")
            try await driver.deploy(deployed, update: true)
            try await waitUntilDeployed(driver, deployed.id, instances)
            try await driver.undeploy(ServiceIdentity(deployment: "crash", cluster: "c", service: "churn-\((step + 2) % 4)"))
            say("ack \(step)")
            step += 1
        }
    case "serve", "undeploy":
        let instances = options["instances"].flatMap { Int($0) } ?? 2
        guard let command = options["command"] else { fail("\(workload) needs --command") }
        let served = specification("serve", instances: instances, ports: [BreedPort(name: "web", number: 8080)], command: command)
        try await driver.deploy(served, update: false)
        try await waitUntilDeployed(driver, served.id, instances)
        say("up")
        if workload == "undeploy" {
            try await driver.undeploy(served.id)
            say("undeployed")
        }
        try await Task.sleep(for: .seconds(600))
    default:
        fail("no workload \(workload)")
    }
}

let driver: any ContainerDriver
switch kind {
case "local":
    var configuration = LocalProcessDriver.Configuration(gracePeriod: .seconds(5), pollInterval: .milliseconds(100))
    configuration.crashPoint = crash
    driver = LocalProcessDriver(directory: URL(fileURLWithPath: place), logger: logger, configuration: configuration)
case "docker":
    var configuration = DockerDriver.Configuration(host: place, pollInterval: .milliseconds(200))
    configuration.crashPoint = crash
    driver = try DockerDriver(configuration: configuration, logger: logger)
default:
    fail("no driver kind \(kind): local or docker")
}
do {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await driver.run() }
        say("running")
        try await work(driver)
        group.cancelAll()
    }
} catch {
    fail("\(error)")
}
