import Foundation
package import VampModel

/// The pure parts of ``DockerDriver``'s one-off runs: the container's name, labels and create body, and the reading of
/// the engine's multiplexed log stream.
extension DockerPlan {
    /// `vamp-workflow-<name>-<breed>-<10 hex digits>-run-<run>`: one name per run, so a run never gets two containers.
    package static func jobContainerName(_ job: JobSpecification, namespace: String = "default") -> String {
        "\(namePrefix(job.id, namespace: namespace))-run-\(job.run)"
    }

    /// The labels of a run's container: the workflow's (`io.vamp=workflow`, `io.vamp.workflow`, `io.vamp.breed`),
    /// the namespace and `io.vamp.run`. Without `io.vamp.instance` it is nobody's instance: discovery
    /// (``container(id:labels:state:created:)``) and the daemon's undeploy pass it by.
    package static func jobLabels(_ job: JobSpecification, namespace: String = "default") -> [String: String] {
        OwnershipLabel.identityLabels(job.id).merging([OwnershipLabel.namespace: namespace, OwnershipLabel.run: job.run]) { $1 }
    }

    /// The `filters` query value that lists the containers of run `run` in `namespace`.
    package static func jobFilters(run: String, namespace: String = "default") -> String {
        let labels = ["\(OwnershipLabel.run)=\(run)", "\(OwnershipLabel.namespace)=\(namespace)"]
        let data = try! JSONSerialization.data(withJSONObject: ["label": labels], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// The `POST /containers/create` body of a run: the image (the deployable's definition), the job's environment,
    /// the labels (``jobLabels(_:namespace:)``), `privileged` from the run arguments, no port and no restart policy (the
    /// run ends when its command does); then the `docker` dialect merged in as for a service (a string is the command
    /// line: `Cmd: [/bin/sh, -c, command]`).
    package static func jobBody(_ job: JobSpecification, namespace: String = "default") -> JSONValue {
        var hostConfig: [String: JSONValue] = [:]
        if isPrivileged(job.arguments) { hostConfig["Privileged"] = .bool(true) }
        let body = JSONValue.object([
            "Image": .string(job.breed.deployable?.definition ?? ""),
            "Env": .array(job.environment.keys.sorted().map { .string("\($0)=\(job.environment[$0]!)") }),
            "Labels": .object(jobLabels(job, namespace: namespace).mapValues { .string($0) }),
            "HostConfig": .object(hostConfig),
        ])
        return applyingDialect(body, job.dialects)
    }

    /// Reads the engine's log stream of a container without a TTY (`GET /containers/{id}/logs`): frames of an 8-byte
    /// header (stream type, three zero bytes, the payload's size as a big-endian `UInt32`) and the payload; stdout's and
    /// stderr's payloads go to the tail in the order they came. A frame may be split across chunks anywhere; nothing
    /// but a header's bytes is held back.
    package struct LogDemultiplexer: Sendable {
        private var header: [UInt8] = []
        private var remaining = 0

        /// A reader at the start of a stream.
        package init() {}

        /// Feeds the next bytes of the stream, appending the payloads in them to `tail`.
        package mutating func feed(_ bytes: [UInt8], into tail: inout JobOutputTail) {
            var rest = bytes[...]
            while !rest.isEmpty {
                if remaining > 0 {
                    let payload = rest.prefix(remaining)
                    tail.append(payload)
                    remaining -= payload.count
                    rest = rest.dropFirst(payload.count)
                    continue
                }
                let missing = 8 - header.count
                header.append(contentsOf: rest.prefix(missing))
                rest = rest.dropFirst(missing)
                guard header.count == 8 else { return }
                remaining = header[4...].reduce(0) { $0 << 8 | Int($1) }
                header.removeAll(keepingCapacity: true)
            }
        }
    }
}
