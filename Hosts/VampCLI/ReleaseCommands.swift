import ArgumentParser
import Foundation
import VampClient
import VampDSL
import VampModel

/// `vamp release …`: start a release, follow it, and pause, resume, approve, promote or abort it.
struct ReleaseCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Start, follow and control automated canary releases.",
        discussion: """
            A release (kind: release) moves a gateway's traffic from a baseline service to a canary step by step, \
            judging the canary against the baseline; see Documentation/dsl.md.
            Example: vamp release start -f sava-1.1.yaml --watch
                     vamp release status sava-1.1
                     vamp release approve sava-1.1
            """,
        subcommands: [Start.self, Status.self, ListReleases.self, Pause.self, Resume.self, Approve.self, Promote.self, Abort.self])

    static let exitCodes = "Exit codes with --watch: 0 promoted, 3 rolled back, 4 aborted, 5 failed (1 and 2 as for every command)."

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a release and start it (its first step's weights are written at once).",
            discussion: """
                Prints the release's state, step and weight. Refused (exit 1, with the server's sentence) when the \
                deployment, cluster, port or a service does not exist, or another release of the gateway is running.
                \(ReleaseCommands.exitCodes)
                Example: vamp release start -f sava-1.1.yaml
                         vamp release start -f sava-1.1.yaml --watch
                """)

        @OptionGroup var input: InputOptions
        @OptionGroup var server: ServerOptions
        @OptionGroup var watching: WatchOptions
        @Flag(name: .long, help: "Check only; store and start nothing.") var validateOnly = false

        func run() async throws {
            let client = try server.client()
            let report = try await client.startRelease(try input.text(), validateOnly: validateOnly)
            if validateOnly {
                output("valid release \(report.release.name)\n")
                return
            }
            output("started release " + ReleaseText.summary(report) + "\n")
            guard watching.watch else { return }
            try await watching.follow(client, report, format: .table)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a release: state, step, weight, evidence, checks and its timeline.",
            discussion: """
                With --watch the release is read again every second until it is final; new decisions are printed \
                as they come. \(ReleaseCommands.exitCodes)
                Example: vamp release status sava-1.1
                         vamp release status sava-1.1 --watch
                         vamp release status sava-1.1 -o json
                """)

        @Argument(help: "The release.") var name: String
        @OptionGroup var server: ServerOptions
        @OptionGroup var format: FormatOptions
        @OptionGroup var watching: WatchOptions

        func run() async throws {
            let client = try server.client()
            let report = try await Self.read(client, name)
            switch format.output {
            case .table: output(ReleaseText.status(report))
            case .json: output(compactJSON(ReleaseText.json(report)) + "\n")
            case .yaml: output(yaml(ReleaseText.json(report)))
            }
            guard watching.watch else { return }
            try await watching.follow(client, report, format: format.output, shown: report.status?.timeline.count ?? 0)
        }

        static func read(_ client: VampClient, _ name: String) async throws -> ReleaseReport {
            guard let report = try await client.release(name) else {
                throw VampClientError(.notFound, status: 404, message: "release '\(name)' not found")
            }
            return report
        }
    }

    struct ListReleases: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List releases with their state, step and weight.",
            discussion: "Example: vamp release list")

        @OptionGroup var server: ServerOptions
        @OptionGroup var format: FormatOptions

        func run() async throws {
            let reports = try await server.client().releases()
            switch format.output {
            case .table: print(ReleaseText.list(reports), terminator: "")
            case .json: print(compactJSON(.array(reports.map(ReleaseText.json))))
            case .yaml: print(reports.map { "---\n" + yaml(ReleaseText.json($0)) }.joined(), terminator: "")
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = action(.pause, "Pause a release: the weights stay as they are until resume.")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.run(.pause) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = action(.resume, "Resume a paused release.")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.run(.resume) }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = action(.approve, "Approve the step a release waits for (awaiting_approval).")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.run(.approve) }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = action(.promote, "Promote a release now: the canary gets 100%, the remaining steps are skipped.")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.run(.promote) }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = action(.abort, "Abort a release: the canary goes to 0% at once (one gateway write).")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.run(.abort) }
    }

    static func action(_ action: ReleaseControl, _ abstract: String) -> CommandConfiguration {
        CommandConfiguration(
            commandName: action.rawValue, abstract: abstract,
            discussion: """
                Prints the release's state, step and weight after it. Refused (exit 1) with the server's sentence \
                when the action does not apply now, e.g. a promoted release cannot be paused.
                Example: vamp release \(action.rawValue) sava-1.1
                """)
    }
}

/// The release an action applies to, and the server.
struct ActionTarget: ParsableArguments {
    @Argument(help: "The release.") var name: String
    @OptionGroup var server: ServerOptions

    func run(_ action: ReleaseControl) async throws {
        let report = try await server.client().control(release: name, action)
        output("\(ReleaseText.pastTense(action)) release " + ReleaseText.summary(report) + "\n")
    }
}

/// `--watch`: read the release every second until it is final, printing the decisions it takes.
struct WatchOptions: ParsableArguments {
    @Flag(name: .long, help: "Follow the release until it is final; exit 0 promoted, 3 rolled back, 4 aborted, 5 failed.")
    var watch = false

    /// Reads the release every second from `report` on, printing the timeline entries after the first `shown`
    /// (with a header row first when none was shown), until its state is final; then exits with its code.
    func follow(_ client: VampClient, _ report: ReleaseReport, format: OutputFormat, shown: Int = 0) async throws {
        var report = report
        var shown = shown
        if format == .table && shown == 0 { output(ReleaseText.timelineHeader()) }
        while true {
            if let status = report.status {
                for entry in status.timeline.dropFirst(shown) {
                    switch format {
                    case .table: output(ReleaseText.timelineRow(entry, steps: status.steps))
                    case .json: output(compactJSON(Self.value(entry)) + "\n")
                    case .yaml: output("---\n" + yaml(Self.value(entry)))
                    }
                }
                shown = max(shown, status.timeline.count)
                if status.state.isFinal {
                    if format == .table { output("release \(report.release.name) \(status.state.rawValue) at \(status.weight)\n") }
                    let code = ReleaseText.exitCode(status.state)
                    if code != 0 { throw ExitCode(code) }
                    return
                }
            }
            try await Task.sleep(for: .seconds(1))
            report = try await ReleaseCommands.Status.read(client, report.release.name)
        }
    }

    static func value(_ entry: ReleaseStatus.TimelineEntry) -> JSONValue {
        (try? JSONEncoder().encode(entry)).flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) } ?? .null
    }
}

/// Writes to standard output at once, not through print's buffer, so that a pipe sees each decision of `--watch` as
/// it comes, in order with what was printed before.
func output(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
