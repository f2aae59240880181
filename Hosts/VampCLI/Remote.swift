import ArgumentParser
import Foundation
import VampClient
import VampDSL
import VampModel

#if canImport(Glibc)
import Glibc
#endif

/// `--host` (or `VAMP_HOST`), `--token` (or `VAMP_TOKEN`, or `.vamp/admin-token` of the current folder) and
/// `--ca-file` (or `VAMP_CA_FILE`), shared by every command that talks to a server.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("vamp-server's URL (default: $VAMP_HOST, else http://127.0.0.1:8080).", valueName: "url"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp(
        "The API token (default: $VAMP_TOKEN, else the admin token vamp-server wrote to .vamp/admin-token in this folder).",
        valueName: "token"))
    var token: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp(
        "The CA certificate (PEM) that signed an https:// server's certificate, the only one trusted (default: $VAMP_CA_FILE, else the system's CAs).",
        valueName: "file"))
    var caFile: String?

    /// The client of the chosen server.
    func client() throws -> VampClient {
        let environment = ProcessInfo.processInfo.environment
        let caFile = caFile ?? environment["VAMP_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let text = host ?? environment["VAMP_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8080"
        // A CA file says the server speaks TLS.
        let withScheme = text.contains("://") ? text : (caFile == nil ? "http://" : "https://") + text
        guard let url = URL(string: withScheme), url.host != nil, ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
            throw ValidationError("--host '\(text)' is not a URL such as http://127.0.0.1:8080 or https://vamp.example.com:8080")
        }
        let token = token ?? environment["VAMP_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.firstStartToken()
        // Plain HTTP has no certificate to verify: a CA file set for other servers does not matter here.
        guard let caFile, url.scheme?.lowercased() == "https" else { return VampClient(host: url, token: token) }
        do {
            return try VampClient(host: url, token: token, caFile: caFile)
        } catch {
            throw ValidationError("--ca-file (VAMP_CA_FILE): \(error.message)")
        }
    }

    /// The admin token `vamp-server` wrote at its first start in this folder, if there is one and it reads.
    static func firstStartToken() -> String? {
        guard let text = try? String(contentsOfFile: ".vamp/admin-token", encoding: .utf8) else { return nil }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }
}

/// How a reading command prints: an aligned table (default), YAML or JSON.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, yaml, json
}

/// `--output` for the reading commands.
struct FormatOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Output format: table, yaml or json.")
    var output: OutputFormat = .table
}

/// `--wait` and its bound, for the commands that change what runs.
struct WaitOptions: ParsableArguments {
    @Flag(name: .long, help: "Wait until the change is live (progress on stderr when it is a terminal).")
    var wait = false

    @Option(name: .long, help: "Give up waiting after this many seconds (exit 2).")
    var timeout: Double = 300

    /// With `--wait`, waits until HAProxy runs the gateways as they are now: the server's embedded agent says
    /// `configuration: applied` in `GET /info`. A server whose agent is not embedded cannot tell, and the wait ends
    /// with the model (said on stderr).
    func untilServed(_ client: VampClient, _ what: String) async throws {
        guard wait else { return }
        var unknown = false
        try await until("\(what) through HAProxy") {
            guard case .object(let agent)? = try await client.info()["gateway_agent"], case .string(let state)? = agent["configuration"] else {
                unknown = true
                return nil
            }
            return state == "applied" ? nil : "HAProxy not reloaded yet"
        }
        if unknown {
            FileHandle.standardError.write(Data("vamp: the server's gateway agent is not embedded; --wait waited for the model, not for HAProxy\n".utf8))
        }
    }

    /// Polls `check` every 100 ms until it answers `nil` (done); its text is the progress shown meanwhile.
    func until(_ what: String, _ check: () async throws -> String?) async throws {
        guard wait else { return }
        let terminal = isatty(STDERR_FILENO) != 0
        let start = ContinuousClock.now
        var shown = ""
        defer { if terminal && !shown.isEmpty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
        while true {
            guard let progress = try await check() else { return }
            let elapsed = ContinuousClock.now - start
            if elapsed > .milliseconds(Int(timeout * 1000)) {
                throw VampClientError(.server, message: "timed out after \(Int(timeout)) s waiting for \(what) (\(progress))")
            }
            if terminal, progress != shown {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(what): \(progress)".utf8))
                shown = progress
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// Reads `-f FILE` (`-` for standard input) or `--stdin`.
struct InputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("The document (YAML or JSON); '-' reads standard input.", valueName: "file"))
    var file: String?

    @Flag(name: .long, help: "Read the document from standard input.")
    var stdin = false

    var given: Bool { file != nil || stdin }

    func text() throws -> String {
        guard let source = stdin ? "-" : file else { throw ValidationError("give the document with -f FILE or --stdin") }
        return try readInput(source)
    }
}

// MARK: Printing

/// Columns aligned by their widest cell, separated by three spaces.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = Array(repeating: 0, count: header.count)
    for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    return all.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "   ")
    }.joined(separator: "\n") + "\n"
}

/// The deployment's status as Vamp's CLI and UI roll it up (§4.3): the first that applies of Failed, Initiating,
/// Undeploying, Deploying, else Deployed. The same rule as VampCore's `DeploymentPlanning.rolledUpStatus`.
func rolledUpStatus(_ deployment: Deployment) -> String {
    let statuses = deployment.clusters.flatMap(\.services).map(\.status)
    if statuses.contains(where: { $0.phase.name == .failed }) { return "Failed" }
    if statuses.contains(where: { $0.phase.name == .initiated }) { return "Initiating" }
    if statuses.contains(where: { $0.phase.name == .updating && $0.intention == .undeployment }) { return "Undeploying" }
    if statuses.contains(where: { $0.phase.name == .updating }) { return "Deploying" }
    return "Deployed"
}

/// The table row of an artifact in `vamp list`: the columns of the original CLIs.
enum Columns {
    static func header(_ kind: ArtifactKind) -> [String] {
        switch kind {
        case .deployment: ["NAME", "CLUSTERS", "PORTS", "STATUS"]
        case .gateway: ["NAME", "PORT", "SERVICE HOST", "SERVICE PORT", "STICKY", "TYPE"]
        case .blueprint: ["NAME", "CLUSTERS"]
        case .breed: ["NAME", "DEPLOYABLE"]
        case .scale: ["NAME", "CPU", "MEMORY", "INSTANCES"]
        case .escalation: ["NAME", "TYPE"]
        case .sla: ["NAME", "TYPE"]
        case .condition: ["NAME", "CONDITION"]
        case .rewrite: ["NAME", "REWRITE"]
        case .route: ["NAME", "WEIGHT", "CONDITION"]
        case .event: ["TIMESTAMP", "TYPE", "TAGS", "VALUE"]
        case .workflow, .template, .secret: ["NAME"]
        case .release: ["NAME", "DEPLOYMENT", "BASELINE", "CANARY", "STEPS"]
        }
    }

    static func row(_ artifact: Artifact) -> [String] {
        switch artifact {
        case .deployment(let d):
            [d.name, d.clusters.map(\.name).joined(separator: ","), d.ports.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ","), rolledUpStatus(d)]
        case .gateway(let g):
            [g.name, String(g.port.number), g.service?.host ?? "-", g.service.map { String($0.port) } ?? "-", g.sticky?.rawValue ?? "-", g.isInternal ? "internal" : "external"]
        case .blueprint(let b): [b.name, b.clusters.map(\.name).joined(separator: ",")]
        case .breed(let b): [b.name, b.deployable?.definition ?? "-"]
        case .scale(let s): [s.name ?? "-", s.cpu.description, s.memory.description, String(s.instances)]
        case .escalation(let e): [e.name ?? "-", "\(e.definition)".split(separator: "(").first.map(String.init) ?? "-"]
        case .sla(let s): [s.name ?? "-", "\(s.definition)".split(separator: "(").first.map(String.init) ?? "-"]
        case .condition(let c): [c.name ?? "-", c.definition]
        case .rewrite(let r): [r.name ?? "-", r.definition]
        case .route(let r): [r.name ?? r.path, r.weight?.description ?? "-", r.condition.map(conditionText) ?? "-"]
        case .event(let e): [timestamp(e.timestamp), e.type, e.tags.joined(separator: ","), e.value.map(compactJSON) ?? "-"]
        case .workflow(let w): [w.name]
        case .template(let t): [t.name]
        case .secret(let s): [s.name]
        case .release(let r): [r.name, "\(r.deployment)/\(r.cluster)/\(r.port)", r.baseline, r.canary, r.steps.map(\.weight.description).joined(separator: ",")]
        }
    }
}

func conditionText(_ condition: ArtifactReference<Condition>) -> String {
    switch condition {
    case .reference(let name): name
    case .inline(let condition): condition.definition
    }
}

func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601)
}

func compactJSON(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
}

/// Prints artifacts as a table, YAML or JSON.
func printArtifacts(_ artifacts: [Artifact], kind: ArtifactKind, format: OutputFormat, single: Bool = false) {
    switch format {
    case .table: print(table(Columns.header(kind), artifacts.map(Columns.row)), terminator: "")
    case .yaml: print(single && artifacts.count == 1 ? DSLWriter.yaml(artifacts[0]) : DSLWriter.yaml(artifacts), terminator: "")
    case .json: print(single && artifacts.count == 1 ? DSLWriter.json(artifacts[0]) : DSLWriter.json(artifacts))
    }
}

/// Plain YAML of a JSON value (for `vamp info -o yaml`).
func yaml(_ value: JSONValue, indent: String = "") -> String {
    switch value {
    case .object(let object) where !object.isEmpty:
        return object.keys.sorted().map { key in
            let child = object[key]!
            switch child {
            case .object(let o) where !o.isEmpty: return "\(indent)\(key):\n" + yaml(child, indent: indent + "  ")
            case .array(let a) where !a.isEmpty: return "\(indent)\(key):\n" + yaml(child, indent: indent)
            default: return "\(indent)\(key): \(compactJSON(child))\n"
            }
        }.joined()
    case .array(let array) where !array.isEmpty:
        return array.map { "\(indent)- \(compactJSON($0))\n" }.joined()
    default:
        return indent + compactJSON(value) + "\n"
    }
}

extension ArtifactReference where Artifact == Breed {
    /// The referenced name, or the inline breed's name: a service's name.
    var breedName: String {
        switch self {
        case .reference(let name): name
        case .inline(let breed): breed.name
        }
    }
}
