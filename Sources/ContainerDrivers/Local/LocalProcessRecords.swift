import Foundation
import VampModel

/// What an instance's process runs: enough of the ``ServiceSpecification`` to start it again after a crash or a
/// restart of the server.
struct LocalLaunch: Codable, Sendable, Hashable {
    /// An HTTP health check, in plain seconds.
    struct Check: Codable, Sendable, Hashable {
        var path: String
        var port: String
        var initialDelay: Int
        var timeout: Int
        var interval: Int
        var failures: Int
        var https: Bool
    }

    /// The breed's name, for messages.
    var breed: String
    /// The command line, run by `/bin/sh -c`.
    var command: String
    /// The specification's environment (the ports are added per instance).
    var environment: [String: String]
    /// The breed's port names in the breed's order: the first is `PORT`.
    var ports: [String]
    /// The health checks; empty: up when every port accepts a connection.
    var checks: [Check]

    init(_ specification: ServiceSpecification, command: String) {
        breed = specification.breed.name
        self.command = command
        environment = specification.environment
        ports = specification.breed.ports.map(\.name)
        checks = specification.healthChecks.map {
            Check(
                path: $0.path, port: $0.port, initialDelay: $0.initialDelay.seconds, timeout: $0.timeout.seconds,
                interval: $0.interval.seconds, failures: $0.failures, https: $0.protocol == .https)
        }
    }
}

/// A service the driver was asked to run (`service.json`): what its instances should run and how many.
///
/// A workflow's daemon has `kind: "workflow"`, its name in `deployment`, its breed in `service`; a record without
/// `kind` (written before workflows ran here) is a service's.
struct LocalServiceRecord: Codable, Sendable, Hashable {
    /// `workflow` for a workflow's daemon; nil (or `service`) for a deployment's service.
    var kind: String?
    var deployment: String
    var cluster: String
    var service: String
    var digest: String
    var desiredInstances: Int
    var launch: LocalLaunch
    /// True once an undeploy began: a driver that finds it after a crash stops what is left and forgets the service,
    /// never starts it again (nil: not being removed, as in records written before it was kept).
    var removing: Bool?

    init(id: ServiceIdentity, digest: String, desiredInstances: Int, launch: LocalLaunch) {
        kind = LocalRecordStore.kind(id)
        deployment = id.deployment
        cluster = id.cluster
        service = id.service
        self.digest = digest
        self.desiredInstances = desiredInstances
        self.launch = launch
    }

    var id: ServiceIdentity { LocalRecordStore.identity(kind: kind, deployment: deployment, cluster: cluster, service: service) }
}

/// One instance (`instance-<index>.json`): its ports for life, the process that runs it now, what it runs.
struct LocalInstanceRecord: Codable, Sendable, Hashable {
    /// As ``LocalServiceRecord/kind``.
    var kind: String?
    var deployment: String
    var cluster: String
    var service: String
    var index: Int
    var name: String
    /// The process (and process group, its session leader) running now; `nil` between a crash and the restart.
    var pid: Int32?
    /// Field 22 of `/proc/<pid>/stat` at start, so a reused pid is not taken for ours.
    var startTime: UInt64?
    /// The run of the process: written before the process is started and given to it as its marker
    /// (``LocalProcessPlan/markerVariable``), so that a driver that finds the record without a pid (the server was
    /// killed between starting the process and recording it) adopts the process by its marker instead of starting a
    /// second one.
    var run: String?
    /// True once the instance is being stopped: a driver that finds it after a crash finishes the stop and never
    /// starts it again.
    var stopping: Bool?
    /// True while the process was last found up (nil: not known, as in records written before it was kept), so that
    /// a driver adopting the process goes on giving it traffic while it probes it again.
    var up: Bool?
    /// Breed port name → the number kept for the instance's life.
    var ports: [String: Int]
    var digest: String
    var desiredInstances: Int
    var launch: LocalLaunch
    var logFile: String

    init(
        id: ServiceIdentity, index: Int, name: String, pid: Int32?, startTime: UInt64?, ports: [String: Int], digest: String,
        desiredInstances: Int, launch: LocalLaunch, logFile: String
    ) {
        kind = LocalRecordStore.kind(id)
        deployment = id.deployment
        cluster = id.cluster
        service = id.service
        self.index = index
        self.name = name
        self.pid = pid
        self.startTime = startTime
        self.ports = ports
        self.digest = digest
        self.desiredInstances = desiredInstances
        self.launch = launch
        self.logFile = logFile
    }

    var id: ServiceIdentity { LocalRecordStore.identity(kind: kind, deployment: deployment, cluster: cluster, service: service) }
}

/// The ownership records on disk: `<state>/services/<key>/service.json` and `instance-<index>.json`; the logs in
/// `<state>/logs/<key>/<instance name>.log` (kept after an undeploy).
struct LocalRecordStore: Sendable {
    let directory: URL

    /// Whose processes are this directory's: the first 16 hex digits of the SHA-1 of the state directory's absolute
    /// path (symbolic links resolved), the first part of every process's marker.
    var owner: String {
        String(SHA1.hex(directory.standardizedFileURL.resolvingSymlinksInPath().path).prefix(16))
    }

    /// The recorded `kind` of `id`: nil for a service (so records stay as they were before workflows), `workflow`.
    static func kind(_ id: ServiceIdentity) -> String? {
        id.kind == .workflow ? ServiceIdentity.Kind.workflow.rawValue : nil
    }

    /// The identity of a record: a workflow's when `kind` is `workflow`, a service's otherwise (absent included).
    static func identity(kind: String?, deployment: String, cluster: String, service: String) -> ServiceIdentity {
        kind == ServiceIdentity.Kind.workflow.rawValue
            ? .workflow(deployment, breed: service) : ServiceIdentity(deployment: deployment, cluster: cluster, service: service)
    }

    /// A readable, collision-free folder name for a service (a workflow's: `workflow-<name>-<breed>-<hash>`).
    static func key(_ id: ServiceIdentity) -> String {
        let readable = LocalProcessPlan.sanitised(
            id.kind == .workflow ? "workflow-\(id.deployment)-\(id.service)" : "\(id.deployment)-\(id.cluster)-\(id.service)")
        return "\(readable.prefix(80))-\(SHA1.hex(id.description).prefix(10))"
    }

    var servicesDirectory: URL { directory.appendingPathComponent("services", isDirectory: true) }

    func serviceDirectory(_ id: ServiceIdentity) -> URL {
        servicesDirectory.appendingPathComponent(Self.key(id), isDirectory: true)
    }

    func logFile(_ id: ServiceIdentity, name: String) -> URL {
        directory.appendingPathComponent("logs", isDirectory: true).appendingPathComponent(Self.key(id), isDirectory: true)
            .appendingPathComponent("\(name).log")
    }

    /// Creates the state directory, its `services` and `logs` owner-only (0700; the host's umask makes the records
    /// 0600), and takes group and others' rights off the state directory an older version left readable.
    func prepare() throws {
        try FileManager.default.createDirectory(at: servicesDirectory, withIntermediateDirectories: true, attributes: Self.ownerOnly)
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("logs", isDirectory: true), withIntermediateDirectories: true, attributes: Self.ownerOnly)
        try FileManager.default.setAttributes(Self.ownerOnly, ofItemAtPath: directory.path)
    }

    static var ownerOnly: [FileAttributeKey: Any] { [.posixPermissions: 0o700] }

    func write(_ record: LocalServiceRecord) throws {
        let folder = serviceDirectory(record.id)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: Self.ownerOnly)
        try Self.encoder.encode(record).write(to: folder.appendingPathComponent("service.json"), options: .atomic)
    }

    func write(_ record: LocalInstanceRecord) throws {
        let folder = serviceDirectory(record.id)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: Self.ownerOnly)
        try Self.encoder.encode(record).write(to: folder.appendingPathComponent("instance-\(record.index).json"), options: .atomic)
    }

    func removeInstance(_ id: ServiceIdentity, index: Int) {
        try? FileManager.default.removeItem(at: serviceDirectory(id).appendingPathComponent("instance-\(index).json"))
    }

    func removeService(_ id: ServiceIdentity) {
        try? FileManager.default.removeItem(at: serviceDirectory(id))
    }

    /// Every service found, with its instances; unreadable files are skipped and named in `problems`. A service whose
    /// own record is unreadable is rebuilt from its highest-numbered instance.
    func load() -> (services: [(LocalServiceRecord, [LocalInstanceRecord])], problems: [String]) {
        let folders = (try? FileManager.default.contentsOfDirectory(at: servicesDirectory, includingPropertiesForKeys: nil)) ?? []
        var services: [(LocalServiceRecord, [LocalInstanceRecord])] = []
        var problems: [String] = []
        for folder in folders.sorted(by: { $0.path < $1.path }) {
            let serviceFile = folder.appendingPathComponent("service.json")
            var instances: [LocalInstanceRecord] = []
            let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
            for file in files where file.lastPathComponent.hasPrefix("instance-") && file.pathExtension == "json" {
                if let data = try? Data(contentsOf: file), let instance = try? JSONDecoder().decode(LocalInstanceRecord.self, from: data) {
                    instances.append(instance)
                } else {
                    problems.append(file.path)
                }
            }
            instances.sort { $0.index < $1.index }
            if let data = try? Data(contentsOf: serviceFile), let service = try? JSONDecoder().decode(LocalServiceRecord.self, from: data) {
                services.append((service, instances))
            } else if let newest = instances.last {
                // Without its service record the instances are still ours: keep them running as they are.
                problems.append(serviceFile.path)
                let service = LocalServiceRecord(
                    id: newest.id, digest: newest.digest, desiredInstances: newest.desiredInstances, launch: newest.launch)
                try? write(service)
                services.append((service, instances))
            } else {
                problems.append(serviceFile.path)
            }
        }
        return (services, problems)
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
