import Foundation
import Logging
import NIOHTTP1
import VampModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ``DockerDriver``'s one-off runs of workflows.
extension DockerDriver {
    /// True: this driver runs one-off jobs.
    public nonisolated var runsJobs: Bool { true }

    /// How a run's wait ended.
    private enum Ending: Sendable {
        case exited(Int32)
        case timedOut
        case cancelled
        case failed(ContainerDriverError)

        var isFailure: Bool {
            if case .failed = self { return true }
            return false
        }
    }

    /// Runs a `container/docker` breed once: its image (pulled when the engine lacks it, as for a service) in a
    /// container named `vamp-workflow-<name>-<breed>-<hash>-run-<run>`, labelled as the workflow's
    /// (`io.vamp=workflow`, `io.vamp.workflow`, `io.vamp.breed`, `io.vamp.namespace`) plus `io.vamp.run`, with the
    /// job's environment and no port or restart policy, the `docker:` dialect merged in (a string is the command line
    /// `sh -c` runs). Discovery does not see it (it is no daemon's instance).
    ///
    /// The driver creates and starts the container, waits for it (`POST /containers/{id}/wait`), reads the last
    /// ``JobSpecification/outputLimit`` bytes of its logs (stdout and stderr, demultiplexed) and removes it. Past the
    /// timeout, or when the calling task is cancelled, the container is killed (SIGKILL: its main process is often a
    /// shell as PID 1, which ignores SIGTERM) and then read and removed the same way. The exit status is the engine's
    /// `StatusCode`: a main process that died of signal n inside the container reports 128 + n.
    /// - Throws: A permanent ``ContainerDriverError`` for a breed that is not a Docker image, an image that cannot be
    ///   pulled or a bad run id; a transient one when the engine cannot be reached or refuses the container.
    public nonisolated func runJob(_ job: JobSpecification) async throws(ContainerDriverError) -> JobOutcome {
        if let refusal = job.refusal { throw refusal }
        guard let deployable = job.breed.deployable, runs(deployable), !deployable.definition.isEmpty else {
            throw ContainerDriverError(
                "breed \(job.breed.name) of workflow \(job.id.deployment) is not a Docker image (deployable type container/docker): "
                    + "the Docker driver runs images",
                permanent: true)
        }
        let started = Date()
        let notRun = JobOutcome(exitStatus: nil, cancelled: true, started: started, ended: started)
        do {
            try await ensureImage(deployable.definition)
        } catch {
            if Task.isCancelled { return notRun }
            throw error
        }
        if Task.isCancelled { return notRun }
        let engine = engine
        let namespace = configuration.namespace
        let name = DockerPlan.jobContainerName(job, namespace: namespace)
        let body = DockerPlan.jobBody(job, namespace: namespace)
        // Created and started whatever the caller does meanwhile: a create cut short could still make a container on
        // the engine after the removal. A cancellation is seen once it runs.
        let id = try await withoutCancellation { () async -> Result<String, ContainerDriverError> in
            do throws(ContainerDriverError) {
                return .success(try await self.createAndStart(name: name, body: body))
            } catch {
                return .failure(error)
            }
        }.get()
        var details: Logger.Metadata = [
            "vamp.workflow": "\(job.id.deployment)", "vamp.breed": "\(job.id.service)", "vamp.run": "\(job.run)", "vamp.container": "\(id.prefix(12))",
        ]
        logger.info("one-off run started", metadata: details)

        let deadline = ContinuousClock.now + job.timeout
        let ending: Ending = await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                do throws(ContainerDriverError) {
                    let answer = try await engine.http.expect(
                        .POST, "/containers/\(id)/wait", query: [("condition", "not-running")], timeout: job.timeout + .seconds(60))
                    let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]
                    guard let code = object?["StatusCode"] as? Int else {
                        return .failed(ContainerDriverError("Docker engine: unreadable answer to the wait of container \(id.prefix(12)): \(answer.text)"))
                    }
                    return .exited(Int32(truncatingIfNeeded: code))
                } catch {
                    return Task.isCancelled ? .cancelled : .failed(error)
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            let first = await group.next() ?? .cancelled
            switch first {
            case .timedOut, .cancelled:
                // The wait, if it is still going, ends with the container.
                await withoutCancellation { _ = try? await engine.http.expect(.POST, "/containers/\(id)/kill", accepting: [404, 409]) }
            case .exited, .failed:
                break
            }
            group.cancelAll()
            return first
        }

        let limit = ending.isFailure ? 0 : job.outputLimit
        let (tail, removal) = await withoutCancellation { () async -> (JobOutputTail, ContainerDriverError?) in
            switch ending {
            case .timedOut, .cancelled:
                // Killed above: stopped once its wait answers, so its logs are complete.
                _ = try? await engine.http.call(.POST, "/containers/\(id)/wait", query: [("condition", "not-running")], timeout: .seconds(10))
            case .exited, .failed:
                break
            }
            var tail = JobOutputTail(limit: limit)
            if limit > 0 {
                var reader = DockerPlan.LogDemultiplexer()
                // Each log entry is at least one byte: the last `limit` entries hold the last `limit` bytes.
                try? await engine.http.stream(
                    "/containers/\(id)/logs", query: [("stdout", "1"), ("stderr", "1"), ("tail", String(limit))]
                ) { chunk in reader.feed(chunk, into: &tail) }
            }
            do throws(ContainerDriverError) {
                try await self.remove(id)
                return (tail, nil)
            } catch {
                return (tail, error)
            }
        }
        if let removal {
            logger.error("the container of a one-off run could not be removed", metadata: details.merging(["vamp.error": "\(removal.message)"]) { $1 })
        }

        var outcome = JobOutcome(exitStatus: nil, output: tail.text, started: started, ended: Date())
        switch ending {
        case .exited(let code): outcome.exitStatus = code
        case .timedOut: (outcome.timedOut, outcome.signal) = (true, SIGKILL)
        case .cancelled: (outcome.cancelled, outcome.signal) = (true, SIGKILL)
        case .failed(let error): throw error
        }
        details["vamp.exit"] = "\(outcome.exitStatus.map { "status \($0)" } ?? "killed")"
        logger.info(outcome.timedOut ? "one-off run timed out" : outcome.cancelled ? "one-off run cancelled" : "one-off run ended", metadata: details)
        return outcome
    }

    /// Creates the run's container under its one name and starts it; one the engine refuses to start is removed.
    private nonisolated func createAndStart(name: String, body: JSONValue) async throws(ContainerDriverError) -> String {
        let created = try await engine.http.call(.POST, "/containers/create", query: [("name", name)], json: body)
        guard created.status == 201, let object = try? JSONSerialization.jsonObject(with: created.body) as? [String: Any],
            let id = object["Id"] as? String
        else {
            throw ContainerDriverError(
                "Docker engine refused the container \(name): \(DockerEngineClient.message(created))", permanent: created.status == 400)
        }
        do {
            try await engine.http.expect(.POST, "/containers/\(id)/start", accepting: [304])
        } catch {
            try? await remove(id)
            throw error
        }
        return id
    }
}
