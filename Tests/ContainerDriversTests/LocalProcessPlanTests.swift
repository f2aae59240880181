@testable import ContainerDrivers
import Foundation
import Testing

/// The local driver's pure decisions, with plain values.
@Suite struct LocalProcessPlanTests {
    typealias Slot = LocalProcessPlan.Slot

    @Test func aNewServiceStartsEveryInstanceAtOnce() {
        let step = LocalProcessPlan.step(desired: 3, digest: "a", instances: [])
        #expect(step.actions == [.start(index: 0), .start(index: 1), .start(index: 2)])
        #expect(!step.done)
    }

    @Test func scalingUpTakesTheLowestFreeNumbersAndScalingDownStopsTheHighest() {
        let running = [Slot(index: 0, digest: "a", ready: true), Slot(index: 2, digest: "a", ready: true)]
        #expect(LocalProcessPlan.step(desired: 3, digest: "a", instances: running).actions == [.start(index: 1)])
        let three = running + [Slot(index: 1, digest: "a", ready: false)]
        #expect(LocalProcessPlan.step(desired: 1, digest: "a", instances: three).actions == [.stop(index: 2), .stop(index: 1)])
        #expect(LocalProcessPlan.step(desired: 2, digest: "a", instances: running) == .init(actions: [], done: true))
    }

    @Test func aDigestChangeReplacesOneInstanceAtATimeReplacementFirst() {
        let old = [Slot(index: 0, digest: "a", ready: true), Slot(index: 1, digest: "a", ready: true)]
        // The replacement starts; nothing old stops yet.
        #expect(LocalProcessPlan.step(desired: 2, digest: "b", instances: old).actions == [.start(index: 2)])
        // Not ready yet: wait.
        let waiting = old + [Slot(index: 2, digest: "b", ready: false)]
        #expect(LocalProcessPlan.step(desired: 2, digest: "b", instances: waiting) == .init(actions: [], done: false))
        // Ready: the highest-numbered old instance stops, and the next replacement starts on a number not in use
        // (the stopping instance keeps its number until it is gone).
        let ready = old + [Slot(index: 2, digest: "b", ready: true)]
        #expect(LocalProcessPlan.step(desired: 2, digest: "b", instances: ready).actions == [.stop(index: 1), .start(index: 3)])
        let second = [Slot(index: 0, digest: "a", ready: true), Slot(index: 2, digest: "b", ready: true), Slot(index: 3, digest: "b", ready: false)]
        #expect(LocalProcessPlan.step(desired: 2, digest: "b", instances: second) == .init(actions: [], done: false))
        var last = second
        last[2].ready = true
        #expect(LocalProcessPlan.step(desired: 2, digest: "b", instances: last).actions == [.stop(index: 0)])
        #expect(LocalProcessPlan.step(desired: 2, digest: "b", instances: Array(last.dropFirst())).done)
    }

    @Test func aDigestChangeWithAScaleDownStopsOldInstancesFirst() {
        let old = (0..<3).map { Slot(index: $0, digest: "a", ready: true) }
        #expect(LocalProcessPlan.step(desired: 1, digest: "b", instances: old).actions == [.stop(index: 2), .stop(index: 1), .start(index: 3)])
        #expect(LocalProcessPlan.step(desired: 0, digest: "b", instances: old).actions == [.stop(index: 2), .stop(index: 1), .stop(index: 0)])
    }

    @Test func restartsBackOffFrom100MillisecondsDoublingTo10Seconds() {
        let delays = (1...10).map {
            LocalProcessPlan.restartDelay(failures: $0, initial: .milliseconds(100), maximum: .seconds(10))
        }
        #expect(delays.prefix(8) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                                     .milliseconds(1600), .milliseconds(3200), .milliseconds(6400), .seconds(10)])
        #expect(LocalProcessPlan.restartDelay(failures: 10_000, initial: .milliseconds(100), maximum: .seconds(10)) == .seconds(10))
    }

    @Test func theEnvironmentHasThePortsTheSpecificationAndTheServersPathAndHome() {
        let environment = LocalProcessPlan.environment(
            specification: ["GREETING": "hi", "PORT": "1"], ports: [("web", 4000), ("admin-ui", 4001)],
            server: ["PATH": "/bin", "HOME": "/root", "SECRET": "x"])
        #expect(environment == [
            "PATH": "/bin", "HOME": "/root", "GREETING": "hi", "PORT": "4000", "PORT_WEB": "4000", "PORT_ADMIN_UI": "4001",
        ])
    }

    @Test("the environment keeps the locale and time zone, never a VAMP_* setting; with a user, its HOME, USER and LOGNAME")
    func theEnvironmentIsBuiltForTheChild() {
        let server = [
            "PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_TIME": "de_DE.UTF-8", "TZ": "Europe/Amsterdam",
            "VAMP_CONTAINER_DRIVER_MARATHON_PASSWORD": "s3cret", "VAMP_SOME_SECRET": "x", "DOCKER_HOST": "unix:///d.sock",
        ]
        let plain = LocalProcessPlan.environment(specification: ["GREETING": "hi"], ports: [], server: server)
        #expect(plain == [
            "PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_TIME": "de_DE.UTF-8", "TZ": "Europe/Amsterdam", "GREETING": "hi",
        ])
        let user = LocalUser(name: "nobody", uid: 65534, gid: 65534, home: "/nonexistent")
        let asUser = LocalProcessPlan.environment(specification: ["GREETING": "hi"], ports: [], server: server, user: user)
        #expect(asUser["HOME"] == "/nonexistent")
        #expect(asUser["USER"] == "nobody" && asUser["LOGNAME"] == "nobody")
        #expect(!asUser.keys.contains { $0.hasPrefix("VAMP_") } && !asUser.values.contains("s3cret"))
    }

    @Test("another user than the server's needs a server running as root; the server's own user needs nothing")
    func anotherUserNeedsRoot() throws {
        let nobody = LocalUser(name: "nobody", uid: 65534, gid: 65534, home: "/nonexistent")
        #expect(LocalUser.refusal(for: nobody, serverUID: 0) == nil)
        #expect(LocalUser.refusal(for: nobody, serverUID: 65534) == nil)
        let refusal = try #require(LocalUser.refusal(for: nobody, serverUID: 1000))
        #expect(refusal.contains("nobody") && refusal.contains("root") && refusal.contains("uid 1000"), "\(refusal)")
        #expect(LocalUser.lookup("root")?.uid == 0)
        #expect(LocalUser.lookup("0")?.name == "root")
        #expect(LocalUser.lookup("no-such-user-\(UInt32.random(in: 1000...9999))") == nil)
    }

    @Test func namesKeepOnlyLettersDigitsDotsDashesAndUnderscores() {
        #expect(LocalProcessPlan.instanceName(cluster: "front end", service: "sava:1.0", index: 2) == "front_end-sava_1.0-2")
        #expect(LocalProcessPlan.portVariable("web.8080") == "PORT_WEB_8080")
    }

    @Test func theStartTimeIsField22AndAZombieHasNone() {
        let line = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100"
        #expect(LocalProcesses.parseStat(line) == 987654)
        #expect(LocalProcesses.parseStat(line.replacingOccurrences(of: ") S 1", with: ") Z 1")) == nil)
    }
}
