import AsyncHTTPClient
@testable import ContainerDrivers
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Subprocess
import SystemPackage
import Testing
import VampModel

#if canImport(Glibc)
import Glibc
#endif

/// ``LocalProcessDriver`` with real processes: `sava` (Examples/Sava) as the breed's command, real HTTP requests.
@Suite("LocalProcessDriver", .serialized)
struct LocalProcessDriverTests {
    // MARK: - Fixture

    /// `sava`, built next to the test bundle (`swift build` builds it).
    static var sava: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("sava").path
    }

    /// A state directory, drivers on it, and a teardown that kills every recorded process group whatever the test did.
    final class Fixture: @unchecked Sendable {
        let directory: URL
        /// Every process group leader seen in the records, with its start time.
        var seen: [Int32: UInt64] = [:]

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("local-driver-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        /// A driver on the directory, not running.
        func makeDriver(gracePeriod: Duration = .seconds(5), excludedPorts: [ClosedRange<Int>] = []) -> LocalProcessDriver {
            var logger = Logger(label: "local-driver-test")
            logger.logLevel = .debug
            var configuration = LocalProcessDriver.Configuration(gracePeriod: gracePeriod, replacementWait: .seconds(30), pollInterval: .milliseconds(100))
            configuration.excludedPorts = excludedPorts
            return LocalProcessDriver(directory: directory, logger: logger, configuration: configuration)
        }

        /// A driver on the directory, running while `body` runs (the "server"); stopped when it returns, its processes
        /// left running.
        func withDriver<Result>(
            gracePeriod: Duration = .seconds(5), excludedPorts: [ClosedRange<Int>] = [], _ body: (LocalProcessDriver) async throws -> Result
        ) async throws -> Result {
            try await withRunning(makeDriver(gracePeriod: gracePeriod, excludedPorts: excludedPorts), body)
        }

        /// Leader pid per instance name, from the records on disk.
        func pids() -> [String: Int32] {
            var pids: [String: Int32] = [:]
            let services = directory.appendingPathComponent("services")
            for folder in (try? FileManager.default.contentsOfDirectory(at: services, includingPropertiesForKeys: nil)) ?? [] {
                for file in (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
                where file.lastPathComponent.hasPrefix("instance-") {
                    guard let data = try? Data(contentsOf: file),
                        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                        let name = object["name"] as? String, let pid = object["pid"] as? Int
                    else { continue }
                    pids[name] = Int32(pid)
                    if let start = object["startTime"] as? Int { seen[Int32(pid)] = UInt64(start) }
                }
            }
            return pids
        }

        /// Kills the process groups of the test's instances: those whose leader still runs (same start time), and those
        /// whose leader is gone (a pid is not reused while its group lives, so such a group is ours). Never a group of
        /// an unrelated process that got a recorded pid again.
        func tearDown() async {
            _ = pids()
            for (pid, start) in seen where pid > 1 {
                if LocalProcesses.startTime(of: pid) == start || (kill(pid, 0) != 0 && errno == ESRCH) { kill(-pid, SIGKILL) }
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        let fixture = try Fixture()
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    static func specification(
        service: String = "sava:1.0", command: String? = nil, instances: Int = 2, environment: [String: String] = ["GREETING": "hello"],
        ports: [BreedPort] = [BreedPort(name: "web", number: 8080)], healthChecks: [HealthCheck] = [], type: String = "command"
    ) -> ServiceSpecification {
        let command = command ?? "echo \"starting $GREETING on $PORT\"; '\(sava)' --text \"$GREETING-$PORT_WEB-$PORT\""
        return ServiceSpecification(
            id: ServiceIdentity(deployment: "test", cluster: "frontend", service: service),
            breed: Breed(name: service, deployable: Deployable(type: type, definition: command), ports: ports),
            scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: instances),
            environment: environment, healthChecks: healthChecks)
    }

    /// The body of `GET http://127.0.0.1:port/`, or `nil` when nothing answers.
    static func get(_ port: Int) async -> String? {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(2))
            let body = try await response.body.collect(upTo: 1 << 16)
            return response.status.code == 200 ? String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines) : nil
        } catch {
            return nil
        }
    }

    /// Polls `condition` until it holds or the deadline passes.
    static func eventually(
        within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    static func instances(_ driver: LocalProcessDriver) async throws -> [Instance] {
        try await driver.services().first?.instances ?? []
    }

    static func allDeployed(_ driver: LocalProcessDriver, _ count: Int) async throws -> Bool {
        let instances = try await instances(driver)
        return instances.count == count && instances.allSatisfy(\.deployed)
    }

    static func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    /// True while a process of group `group` runs (from `/proc`; a zombie, which holds no port and waits only to be
    /// reaped, by init when its parent is gone, does not count).
    static func groupRuns(_ group: Int32) -> Bool {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, fields[2] == Substring(String(group)), fields[0] != "Z", fields[0] != "X" { return true }
        }
        return false
    }

    // MARK: - Tests

    @Test func twoInstancesComeUpOnTheirOwnPortsWithTheirEnvironmentAndLogs() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                try await driver.deploy(Self.specification(), update: false)
                #expect(try await Self.instances(driver).allSatisfy { !$0.deployed })

                // Whenever an instance counts as deployed, its port answers.
                let up = try await Self.eventually {
                    let instances = try await Self.instances(driver)
                    for instance in instances where instance.deployed {
                        #expect(await Self.get(instance.ports["web"]!) != nil, "\(instance.name) deployed before it answered")
                    }
                    return instances.count == 2 && instances.allSatisfy(\.deployed)
                }
                #expect(up)
                let instances = try await Self.instances(driver)
                #expect(instances.map(\.name) == ["frontend-sava_1.0-0", "frontend-sava_1.0-1"])
                #expect(instances.allSatisfy { $0.host == "127.0.0.1" })
                let ports = instances.map { $0.ports["web"]! }
                #expect(Set(ports).count == 2)
                for port in ports { #expect(await Self.get(port) == "hello-\(port)-\(port)") }

                let service = try #require(try await driver.services().first)
                #expect(service.digest == Self.specification().digest)
                #expect(service.desiredInstances == 2)

                let info = try await driver.info()
                #expect(info.type == "local")
                #expect(info.details["instances"] == .number(2))
                #expect(info.details["running"] == .bool(true))
                guard case .object(let logs) = info.details["logs"] else { Issue.record("no logs in info"); return }
                #expect(logs.count == 2)
                for (index, value) in logs.values.sorted(by: { "\($0)" < "\($1)" }).enumerated() {
                    guard case .string(let path) = value else { continue }
                    let text = try String(contentsOfFile: path, encoding: .utf8)
                    #expect(text.contains("starting hello on "), "log \(index) of \(path): \(text)")
                }
            }
        }
    }

    /// The gateways' range lies inside Linux's ephemeral ports: an instance must never hold a port HAProxy will bind.
    @Test func instancesGetNoPortOfTheExcludedRanges() async throws {
        try await Self.withFixture { fixture in
            // Most of the ephemeral range (32768-60999) excluded: a port from it is picked only by an unlucky draw.
            let excluded = [32768...52000]
            try await fixture.withDriver(excludedPorts: excluded) { (driver) async throws in
                try await driver.deploy(Self.specification(instances: 4), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 4) })
                let ports = try await Self.instances(driver).compactMap { $0.ports["web"] }
                #expect(ports.count == 4)
                #expect(ports.allSatisfy { port in !excluded.contains { $0.contains(port) } }, "\(ports)")
                try await driver.undeploy(Self.specification().id)
            }
        }
    }

    @Test func aKilledInstanceIsRestartedOnTheSamePort() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                try await countingNotices(of: driver) { (ticks) async throws in
                    try await driver.deploy(Self.specification(), update: false)
                    #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                    let before = try await Self.instances(driver)
                    let pids = fixture.pids()
                    let victim = before[0]
                    let pid = try #require(pids[victim.name])
                    let ticksBefore = await ticks.count

                    // SIGKILL to the shell alone: its sava child is left behind holding the port, the driver must clear it.
                    #expect(kill(pid, SIGKILL) == 0)
                    #expect(try await Self.eventually {
                        let now = try await Self.instances(driver)
                        guard let again = now.first(where: { $0.name == victim.name }), again.deployed else { return false }
                        return fixture.pids()[victim.name] != pid
                    })
                    #expect(await ticks.count > ticksBefore)
                    let after = try #require(try await Self.instances(driver).first { $0.name == victim.name })
                    #expect(after.ports == victim.ports)
                    let port = victim.ports["web"]!
                    #expect(await Self.get(port) == "hello-\(port)-\(port)")
                    // kill(pid, 0) also succeeds on a zombie: the old shell was reaped.
                    #expect(!Self.alive(pid))
                    // The other instance was left alone.
                    #expect(fixture.pids()[before[1].name] == pids[before[1].name])
                }
            }
        }
    }

    /// Change notices are a broadcast: every listener gets each of them (the reconciler is not the only one).
    @Test func everyListenerGetsTheChangeNotices() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                try await countingNotices(of: driver) { (first) async throws in
                    try await countingNotices(of: driver) { (second) async throws in
                        try await driver.deploy(Self.specification(instances: 1), update: false)
                        #expect(try await Self.eventually { try await Self.allDeployed(driver, 1) })
                        // The instance came up: a notice for each listener.
                        #expect(await Self.eventually {
                            let counts = (await first.count, await second.count)
                            return counts.0 >= 1 && counts.1 >= 1
                        })

                        // Killed: each listener hears of the exit and of the replacement coming up.
                        let (firstBefore, secondBefore) = (await first.count, await second.count)
                        let pid = try #require(fixture.pids().values.first)
                        #expect(kill(-pid, SIGKILL) == 0)
                        #expect(try await Self.eventually {
                            try await Self.allDeployed(driver, 1) && fixture.pids().values.first != pid
                        })
                        #expect(await Self.eventually {
                            let counts = (await first.count, await second.count)
                            return counts.0 > firstBefore && counts.1 > secondBefore
                        })
                    }
                }
            }
        }
    }

    /// What runs in run() stops with it: a process killed afterwards is not restarted, and no record changes, until a
    /// driver runs again on the directory and adopts what is left.
    @Test func aStoppedDriverSupervisesNothingAndTheNextAdoptsItsProcesses() async throws {
        try await Self.withFixture { fixture in
            let driver = fixture.makeDriver()
            let (instances, notices) = try await withRunning(driver) { (driver) async throws in
                try await driver.deploy(Self.specification(), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                return (try await Self.instances(driver), driver.changeNotices())
            }
            // run() has ended: the notices end, deployments are refused, the processes run on.
            var iterator = notices.makeAsyncIterator()
            #expect(await iterator.next() == nil)
            let refused = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(Self.specification(), update: true) }
            #expect(refused?.permanent == false)
            #expect(try await driver.info().details["running"] == .bool(false))
            let pids = fixture.pids()
            #expect(pids.count == 2)
            for pid in pids.values { #expect(Self.alive(pid)) }

            let victim = instances[1]
            let pid = try #require(pids[victim.name])
            #expect(kill(-pid, SIGKILL) == 0)
            #expect(await Self.eventually { !Self.alive(pid) })
            // An absence: over ten restart delays and probe intervals, nothing starts it again or writes its record.
            try await Task.sleep(for: .seconds(1))
            #expect(fixture.pids() == pids)
            #expect(!Self.alive(pid))
            #expect(await Self.get(victim.ports["web"]!) == nil)

            // The next "server": the living instance is adopted up when the records are read, before its run() starts,
            // so a restart does not take its traffic away; the dead one is not.
            let next = fixture.makeDriver()
            let adopted = try await Self.instances(next)
            #expect(adopted.map(\.name) == instances.map(\.name))
            #expect(adopted.map(\.deployed) == [true, false])
            try await withRunning(next) { (next) async throws in
                #expect(try await Self.eventually { try await Self.allDeployed(next, 2) })
                #expect(try await Self.instances(next) == instances)
                let now = fixture.pids()
                #expect(now[instances[0].name] == pids[instances[0].name], "the living instance was not adopted")
                #expect(now[victim.name] != pid)
            }
        }
    }

    /// Before run() starts, a deployment is recorded and waits; an undeploy needs no background work.
    @Test func beforeRunADeploymentWaitsForIt() async throws {
        try await Self.withFixture { fixture in
            let driver = fixture.makeDriver()
            try await driver.deploy(Self.specification(instances: 1), update: false)
            #expect(try await driver.services().map(\.desiredInstances) == [1])
            #expect(try await Self.instances(driver).isEmpty)
            #expect(fixture.pids().isEmpty)
            try await withRunning(driver) { (driver) async throws in
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 1) })
            }
            // Stopped again; a driver that has not run yet stops the processes an earlier one left.
            let pid = try #require(fixture.pids().values.first)
            let idle = fixture.makeDriver()
            try await idle.undeploy(Self.specification().id)
            #expect(!Self.groupRuns(pid), "the instance's process group still runs")
            #expect(try await idle.services().isEmpty)
        }
    }

    @Test func scalingAndADigestChangeKeepAnInstanceUp() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                try await driver.deploy(Self.specification(instances: 2), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })

                try await driver.deploy(Self.specification(instances: 3), update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 3) })
                for instance in try await Self.instances(driver) { #expect(await Self.get(instance.ports["web"]!) != nil) }

                try await driver.deploy(Self.specification(instances: 1), update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 1) })
                #expect(try await Self.instances(driver).map(\.name) == ["frontend-sava_1.0-0"])
                #expect(fixture.pids().count == 1)

                try await driver.deploy(Self.specification(instances: 2), update: true)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })

                // A new digest: every instance replaced, and some instance answers at every moment.
                let changed = Self.specification(instances: 2, environment: ["GREETING": "v2"])
                try await driver.deploy(changed, update: true)
                var polls = 0
                let replaced = try await Self.eventually(within: .seconds(60)) {
                    polls += 1
                    let instances = try await Self.instances(driver)
                    var answers: [String] = []
                    for instance in instances {
                        if let text = await Self.get(instance.ports["web"]!) { answers.append(text) }
                    }
                    #expect(!answers.isEmpty, "no instance answered during the replacement: \(instances)")
                    return instances.count == 2 && answers.count == 2 && answers.allSatisfy { $0.hasPrefix("v2-") }
                        && instances.allSatisfy(\.deployed)
                }
                #expect(replaced)
                #expect(polls > 2)
                #expect(try await driver.services().first?.digest == changed.digest)
            }
        }
    }

    @Test func aRestartedDriverAdoptsItsProcessesAndRestartsTheDeadOnes() async throws {
        try await Self.withFixture { fixture in
            let instances = try await fixture.withDriver { (first) async throws in
                try await first.deploy(Self.specification(), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(first, 2) })
                return try await Self.instances(first)
            }
            let pids = fixture.pids()
            #expect(pids.count == 2)
            // Each in a session of its own, so the server's exit or terminal does not take it along.
            for pid in pids.values { #expect(getsid(pid) == pid) }

            // The "restarted server": same processes, nothing started twice.
            try await fixture.withDriver { (second) async throws in
                #expect(try await Self.eventually { try await Self.allDeployed(second, 2) })
                #expect(try await Self.instances(second) == instances)
                // Nothing may change afterwards either: a fixed wait, since the thing awaited is an absence.
                try await Task.sleep(for: .seconds(1))
                #expect(fixture.pids() == pids)
                for pid in pids.values { #expect(Self.alive(pid)) }
                guard case .object(let logs) = try await second.info().details["logs"] else { Issue.record("no logs"); return }
                for case .string(let path) in logs.values {
                    let text = try String(contentsOfFile: path, encoding: .utf8)
                    #expect(text.components(separatedBy: "--- ").count - 1 == 1, "started more than once: \(text)")
                }
            }

            // Killed while no driver ran: the next driver restarts it on its ports at once.
            let victim = instances[1]
            let pid = try #require(pids[victim.name])
            kill(-pid, SIGKILL)
            #expect(await Self.eventually { !Self.alive(pid) })
            try await fixture.withDriver { (third) async throws in
                #expect(try await Self.eventually { try await Self.allDeployed(third, 2) })
                #expect(try await Self.instances(third) == instances)
                let now = fixture.pids()
                #expect(now[victim.name] != pid)
                #expect(now[instances[0].name] == pids[instances[0].name])
                let port = victim.ports["web"]!
                #expect(await Self.get(port) == "hello-\(port)-\(port)")
            }
        }
    }

    @Test func aRestartedDriverFinishesAnUpdateThatWasUnderWay() async throws {
        try await Self.withFixture { fixture in
            let changed = Self.specification(environment: ["GREETING": "v2"])
            try await fixture.withDriver { (first) async throws in
                try await first.deploy(Self.specification(), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(first, 2) })
                try await first.deploy(changed, update: true)
                // The first replacement started: the server goes away in the middle of the update.
                #expect(try await Self.eventually { try await Self.instances(first).count == 3 })
            }

            try await fixture.withDriver { (second) async throws in
                #expect(try await second.services().first?.digest == changed.digest)
                let finished = try await Self.eventually(within: .seconds(60)) {
                    let instances = try await Self.instances(second)
                    guard instances.count == 2, instances.allSatisfy(\.deployed) else { return false }
                    for instance in instances where await Self.get(instance.ports["web"]!)?.hasPrefix("v2-") != true { return false }
                    return true
                }
                #expect(finished)
            }
        }
    }

    /// Not a test of its own: the server of ``processesOutliveAServerKilledWithSIGKILL()``, run by it in a child
    /// process (this test bundle again) that it kills.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VAMP_LOCAL_DRIVER_SERVER"] != nil))
    func standInServer() async throws {
        let directory = URL(fileURLWithPath: ProcessInfo.processInfo.environment["VAMP_LOCAL_DRIVER_SERVER"]!)
        try await withRunning(LocalProcessDriver(directory: directory, logger: Logger(label: "stand-in-server"))) { driver in
            try await driver.deploy(Self.specification(), update: false)
            #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
            try Data("ready".utf8).write(to: directory.appendingPathComponent("ready"))
            try await Task.sleep(for: .seconds(120))
        }
    }

    @Test func processesOutliveAServerKilledWithSIGKILL() async throws {
        try await Self.withFixture { fixture in
            let bundle = CommandLine.arguments[0]
            let output = try FileDescriptor.open(
                FilePath(fixture.directory.appendingPathComponent("server.log").path), .writeOnly, options: [.append, .create],
                permissions: [.ownerReadWrite])
            let (pids, continuation) = AsyncStream.makeStream(of: Int32.self)
            let server = Task {
                try await Subprocess.run(
                    .path(FilePath(bundle)), arguments: ["--filter", "standInServer", "--testing-library", "swift-testing"],
                    environment: .inherit.updating([Environment.Key(rawValue: "VAMP_LOCAL_DRIVER_SERVER")!: fixture.directory.path]),
                    input: .none, output: .fileDescriptor(output, closeAfterSpawningProcess: true), error: .combinedWithOutput
                ) { execution in
                    continuation.yield(execution.processIdentifier.value)
                    continuation.finish()
                }.terminationStatus
            }
            var iterator = pids.makeAsyncIterator()
            let serverPid = try #require(await iterator.next())
            let ready = fixture.directory.appendingPathComponent("ready")
            let started = await Self.eventually(within: .seconds(60)) { FileManager.default.fileExists(atPath: ready.path) }
            #expect(started, "the stand-in server did not come up")
            let instances = fixture.pids()
            kill(serverPid, SIGKILL)
            #expect(try await server.value == .signaled(SIGKILL))
            guard started else { return }

            // The server is gone; its instances still run and answer.
            #expect(instances.count == 2)
            for pid in instances.values { #expect(Self.alive(pid)) }
            try await fixture.withDriver { (driver) async throws in
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                #expect(fixture.pids() == instances)
                for instance in try await Self.instances(driver) {
                    let port = instance.ports["web"]!
                    #expect(await Self.get(port) == "hello-\(port)-\(port)")
                }
            }
        }
    }

    @Test func aWorkflowDaemonRunsBesideADeploymentOfItsNameAndIsAdoptedAsAWorkflow() async throws {
        try await Self.withFixture { fixture in
            let service = Self.specification(instances: 1)
            var workflow = Self.specification(instances: 1, environment: ["GREETING": "daemon"])
            workflow.id = .workflow("test", breed: "sava:1.0")
            func bothUp(_ driver: LocalProcessDriver) async throws -> Bool {
                let services = try await driver.services()
                return services.count == 2 && services.allSatisfy { $0.instances.count == 1 && $0.instances.allSatisfy(\.deployed) }
            }
            let servicePid = try await fixture.withDriver { (driver) async throws in
                try await driver.deploy(service, update: false)
                try await driver.deploy(workflow, update: false)
                #expect(try await Self.eventually { try await bothUp(driver) })
                let services = try await driver.services()
                #expect(Set(services.map(\.id)) == [service.id, workflow.id])
                let daemon = try #require(services.first { $0.id.kind == .workflow })
                #expect(daemon.id.workflow == "test")
                #expect(daemon.instances.map(\.name) == ["workflow-test-0"])
                let port = try #require(daemon.instances.first?.ports["web"])
                #expect(await Self.get(port) == "daemon-\(port)-\(port)")

                // The records say which is which; a service's record has no kind (as records written before workflows).
                let folders = try FileManager.default.contentsOfDirectory(
                    at: fixture.directory.appendingPathComponent("services"), includingPropertiesForKeys: nil)
                #expect(folders.count == 2)
                var kinds: [String?] = []
                for folder in folders {
                    let data = try Data(contentsOf: folder.appendingPathComponent("service.json"))
                    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                    kinds.append(object["kind"] as? String)
                }
                #expect(Set(kinds) == [nil, "workflow"])

                // Killed, the daemon is restarted on its port; the deployment's process is left alone.
                let pids = fixture.pids()
                let daemonPid = try #require(pids["workflow-test-0"])
                let servicePid = try #require(pids["frontend-sava_1.0-0"])
                #expect(kill(daemonPid, SIGKILL) == 0)
                #expect(try await Self.eventually {
                    let again = try await driver.services().first { $0.id == workflow.id }?.instances.first
                    return again?.deployed == true && fixture.pids()["workflow-test-0"] != daemonPid
                })
                #expect(await Self.get(port) == "daemon-\(port)-\(port)")
                #expect(fixture.pids()["frontend-sava_1.0-0"] == servicePid)
                return servicePid
            }

            // A driver restarted on the directory adopts both, each with its kind.
            try await fixture.withDriver { (adopting) async throws in
                #expect(try await Self.eventually { try await bothUp(adopting) })
                #expect(Set(try await adopting.services().map(\.id)) == [service.id, workflow.id])

                // Undeploying the workflow stops only the daemon.
                let adoptedDaemonPid = try #require(fixture.pids()["workflow-test-0"])
                try await adopting.undeploy(workflow.id)
                #expect(!Self.groupRuns(adoptedDaemonPid), "the daemon's process group still runs")
                #expect(try await adopting.services().map(\.id) == [service.id])
                #expect(Self.alive(servicePid))
                let servicePort = try #require(try await Self.instances(adopting).first?.ports["web"])
                #expect(await Self.get(servicePort) == "hello-\(servicePort)-\(servicePort)")
                try await adopting.undeploy(service.id)
            }
        }
    }

    @Test func undeployStopsEveryProcessAndForgetsTheService() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                try await driver.deploy(Self.specification(), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 2) })
                let pids = fixture.pids()
                let ports = try await Self.instances(driver).map { $0.ports["web"]! }

                try await driver.undeploy(Self.specification().id)
                for pid in pids.values {
                    #expect(!Self.alive(pid))
                    #expect(!Self.groupRuns(pid), "something of process group \(pid) still runs")
                }
                for port in ports { #expect(await Self.get(port) == nil) }
                #expect(try await driver.services().isEmpty)
                let records = try FileManager.default.contentsOfDirectory(atPath: fixture.directory.appendingPathComponent("services").path)
                #expect(records.isEmpty)
                try await driver.undeploy(Self.specification().id)
                #expect(try await driver.info().details["instances"] == .number(0))
            }
        }
    }

    @Test func aHealthCheckedInstanceIsDeployedOnlyOnceItsCheckPasses() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                let check = HealthCheck(
                    path: "/", port: "web", initialDelay: TimeValue(seconds: 3)!, timeout: TimeValue(seconds: 1)!,
                    interval: TimeValue(seconds: 1)!, failures: 2)
                // Two ports, only `web` listens: with a health check, the check alone decides.
                let spec = Self.specification(
                    instances: 1, ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "admin", number: 9090)], healthChecks: [check])
                let started = ContinuousClock.now
                try await driver.deploy(spec, update: false)
                #expect(await Self.eventually {
                    guard let port = try? await Self.instances(driver).first?.ports["web"] else { return false }
                    return await Self.get(port) != nil
                })
                #expect(try await Self.instances(driver).first?.deployed == false, "deployed before the check's initial delay")
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 1) })
                #expect(ContinuousClock.now - started >= .seconds(3))

                // A check on a port nothing listens on never passes, though `web` answers.
                let failing = Self.specification(
                    service: "failing:1.0", instances: 1, ports: [BreedPort(name: "web", number: 8080), BreedPort(name: "admin", number: 9090)],
                    healthChecks: [HealthCheck(
                        path: "/", port: "admin", initialDelay: TimeValue(seconds: 0)!, timeout: TimeValue(seconds: 1)!,
                        interval: TimeValue(seconds: 1)!, failures: 1)])
                try await driver.deploy(failing, update: false)
                func failingInstance() async throws -> Instance? {
                    try await driver.services().first { $0.id == failing.id }?.instances.first
                }
                #expect(await Self.eventually {
                    guard let port = try? await failingInstance()?.ports["web"] else { return false }
                    return await Self.get(port) != nil
                })
                // An absence again: three check intervals without the instance counting as deployed.
                try await Task.sleep(for: .seconds(3))
                #expect(try await failingInstance()?.deployed == false)
            }
        }
    }

    @Test func aDockerBreedIsRefusedForGood() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                let spec = Self.specification(service: "nginx:1.25", command: "nginx:1.25", type: "docker")
                let error = await #expect(throws: ContainerDriverError.self) { try await driver.deploy(spec, update: false) }
                #expect(error?.permanent == true)
                #expect(error?.message.contains("nginx:1.25") == true)
                #expect(error?.message.contains("docker") == true)
                #expect(try await driver.services().isEmpty)
                // `cmd` is the alias of `command`.
                try await driver.deploy(Self.specification(instances: 1, type: "cmd"), update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 1) })
            }
        }
    }

    @Test func aProcessThatIgnoresSIGTERMIsKilledAfterTheGracePeriod() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver(gracePeriod: .seconds(1)) { driver in
                // No ports: up while it runs.
                let spec = Self.specification(
                    service: "stubborn:1.0", command: "trap '' TERM; while true; do sleep 1; done", instances: 1, ports: [])
                try await driver.deploy(spec, update: false)
                #expect(try await Self.eventually { try await Self.allDeployed(driver, 1) })
                let pid = try #require(fixture.pids().values.first)
                let started = ContinuousClock.now
                try await driver.undeploy(spec.id)
                #expect(ContinuousClock.now - started >= .seconds(1))
                #expect(!Self.groupRuns(pid))
                #expect(try await driver.services().isEmpty)
            }
        }
    }

    @Test func aHealthCheckOnAPortTheBreedLacksIsRefused() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                let check = HealthCheck(
                    port: "admin", initialDelay: TimeValue(seconds: 0)!, timeout: TimeValue(seconds: 1)!, interval: TimeValue(seconds: 1)!,
                    failures: 1)
                let error = await #expect(throws: ContainerDriverError.self) {
                    try await driver.deploy(Self.specification(healthChecks: [check]), update: false)
                }
                #expect(error?.permanent == true)
                #expect(error?.message.contains("admin") == true)
            }
        }
    }

    @Test func aCommandThatExitsAtOnceKeepsRestartingAndSaysSo() async throws {
        try await Self.withFixture { fixture in
            try await fixture.withDriver { (driver) async throws in
                try await countingNotices(of: driver) { (ticks) async throws in
                    try await driver.deploy(Self.specification(service: "broken:1.0", command: "echo broken; exit 3", instances: 1), update: false)
                    #expect(await Self.eventually { await ticks.count >= 3 })
                    #expect(try await Self.instances(driver).map(\.deployed) == [false])
                    guard case .array(let restarting) = try await driver.info().details["restarting"] else { Issue.record("no restarting"); return }
                    #expect(restarting.count == 1)
                    #expect("\(restarting)".contains("exited with status 3"))
                }
            }
        }
    }
}
