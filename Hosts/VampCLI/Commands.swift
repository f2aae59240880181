import ArgumentParser
import Foundation
import VampClient
import VampDSL
import VampModel

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the artifacts of a kind as a table.",
        discussion: """
            Columns as in Vamp's CLIs: deployments NAME, CLUSTERS, PORTS, STATUS; gateways NAME, PORT, SERVICE HOST, \
            SERVICE PORT, STICKY, TYPE; blueprints NAME, CLUSTERS; breeds NAME, DEPLOYABLE; scales NAME, CPU, MEMORY, INSTANCES.

            Example: vamp list deployments
                     vamp list gateways -o json
            """)

    @Argument(help: "The kind: deployments, gateways, blueprints, breeds, scales, slas, escalations, conditions, rewrites, routes, workflows, templates, events, secrets.")
    var kind: ArtifactKind
    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions

    func run() async throws {
        if kind == .secret { return printSecrets(try await server.client().secrets(), format: format.output) }
        let artifacts = try await server.client().list(kind)
        printArtifacts(artifacts, kind: kind, format: format.output)
    }
}

struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one artifact (YAML by default).",
        discussion: """
            Example: vamp describe deployment sava
                     vamp describe deployment sava --as-blueprint > sava-now.yaml
                     vamp inspect gateway sava/web/web -o json
            """,
        aliases: ["inspect"])

    @Argument(help: "The kind.") var kind: ArtifactKind
    @Argument(help: "The artifact's name.") var name: String
    @Flag(name: [.long, .customLong("as_blueprint", withSingleDash: false)], help: "A deployment as the blueprint it makes.")
    var asBlueprint = false
    @OptionGroup var server: ServerOptions
    @Option(name: [.short, .long], help: "Output format: yaml (default), json or table.") var output: OutputFormat = .yaml

    func run() async throws {
        if kind == .secret {
            guard let secret = try await server.client().secret(named: name) else {
                throw VampClientError(.notFound, status: 404, message: "secret '\(name)' not found")
            }
            return printSecrets([secret], format: output == .table ? .table : .json)
        }
        guard let artifact = try await server.client().read(kind, name: name, asBlueprint: asBlueprint) else {
            throw VampClientError(.notFound, status: 404, message: "\(kind) '\(name)' not found")
        }
        printArtifacts([artifact], kind: artifact.kind, format: output, single: true)
    }
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create (or overwrite) artifacts from a document.",
        discussion: """
            Without a kind, every document says its own (kind: breed, …) and they are sent together (POST /api/v1).
            Example: vamp create breed -f sava-1.0.yaml
                     vamp create -f Examples/sava.yaml
                     vamp generate scale --cpu 0.2 | vamp create scale --stdin
            """)

    @Argument(help: "The kind of the documents (optional when each document has a kind).") var kind: ArtifactKind?
    @OptionGroup var input: InputOptions
    @OptionGroup var server: ServerOptions
    @Flag(name: .long, help: "Check only; store nothing.") var validateOnly = false

    func run() async throws {
        let text = try input.text()
        let client = try server.client()
        guard let kind else {
            let documents: [DSLDocument]
            do { documents = try DSLReader.read(text) } catch {
                throw ValidationError(error.errors.first.map { "\($0)" } ?? "the document does not read")
            }
            try await client.apply(text, validateOnly: validateOnly)
            for document in documents {
                print("\(validateOnly ? "valid" : "created") \(document.isDeploymentRequest ? "deployment" : document.artifact.kind.rawValue) \(document.artifact.name ?? "")")
            }
            return
        }
        if kind == .secret {
            for secret in try secrets(in: text) {
                try await client.storeSecret(secret.name, certificate: secret.certificate, validateOnly: validateOnly)
                print("\(validateOnly ? "valid" : "created") secret \(secret.name)")
            }
            return
        }
        let written = try await client.create(kind, document: text, validateOnly: validateOnly)
        for artifact in written { print("\(validateOnly ? "valid" : "created") \(artifact.kind) \(artifact.name ?? "")") }
    }
}

struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace an artifact with a document.",
        discussion: "Example: vamp update breed sava:1.0 -f sava-1.0.yaml")

    @Argument(help: "The kind.") var kind: ArtifactKind
    @Argument(help: "The artifact's name (the document's name must be the same).") var name: String
    @OptionGroup var input: InputOptions
    @OptionGroup var server: ServerOptions
    @Flag(name: .long, help: "Check only; store nothing.") var validateOnly = false

    func run() async throws {
        if kind == .secret {
            let found = try secrets(in: try input.text())
            guard found.count == 1, found[0].name == name else { throw ValidationError("the document must hold one secret named '\(name)'") }
            try await server.client().storeSecret(name, certificate: found[0].certificate, validateOnly: validateOnly)
            return print("\(validateOnly ? "valid" : "updated") secret \(name)")
        }
        let written = try await server.client().update(kind, name: name, document: try input.text(), validateOnly: validateOnly)
        for artifact in written { print("\(validateOnly ? "valid" : "updated") \(artifact.kind) \(artifact.name ?? "")") }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete an artifact (deleting what is not there succeeds).",
        discussion: "Example: vamp delete breed sava:1.0\nUndeploy a deployment with vamp undeploy.",
        aliases: ["remove"])

    @Argument(help: "The kind.") var kind: ArtifactKind
    @Argument(help: "The artifact's name.") var name: String
    @OptionGroup var server: ServerOptions

    func run() async throws {
        guard kind != .deployment else { throw ValidationError("a deployment is removed with: vamp undeploy \(name)") }
        try await server.client().delete(kind, name: name)
        print("deleted \(kind) \(name)")
    }
}

struct Emit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an event.",
        discussion: "Example: vamp emit '{\"release\": \"1.1\"}' --tags release,sava --type note")

    @Argument(help: "The value: JSON, or else text.") var value: String
    @Option(name: .long, help: "Tags, comma-separated.") var tags: String
    @Option(name: .long, help: "The event's type.") var type = "event"
    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions

    func run() async throws {
        let tagList = tags.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !tagList.isEmpty else { throw ValidationError("--tags needs at least one tag") }
        let parsed = (try? JSONDecoder().decode(JSONValue.self, from: Data(value.utf8))) ?? .string(value)
        let stored = try await server.client().publish(Event(tags: tagList, value: parsed, type: type))
        printArtifacts([.event(stored)], kind: .event, format: format.output, single: true)
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the newest events, or follow them live.",
        discussion: """
            Example: vamp events --tag deployments:sava
                     vamp events --tag synchronization --follow -o json
            """)

    @Option(name: .long, help: "A tag every event carries; repeat for several (all must match).") var tag: [String] = []
    @Option(name: .long, help: "The events' type.") var type: String?
    @Option(name: .long, help: "How many (at most 30).") var limit = 30
    @Flag(name: .long, help: "Print the events published from now on as they come (server-sent events); Ctrl-C stops.") var follow = false
    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions

    func run() async throws {
        let client = try server.client()
        guard follow else {
            printArtifacts(try await client.events(tags: tag, type: type, limit: limit).map(Artifact.event), kind: .event, format: format.output)
            return
        }
        if format.output == .table { FileHandle.standardOutput.write(Data(table(Columns.header(.event), []).utf8)) }
        do {
            for try await event in client.eventStream(tags: tag, type: type) {
                // Written at once (not through print's buffer), so a pipe sees each event as it comes.
                let text = switch format.output {
                case .table: Columns.row(.event(event)).joined(separator: "   ") + "\n"
                case .json: DSLWriter.json(.event(event), pretty: false) + "\n"
                case .yaml: "---\n" + DSLWriter.yaml(.event(event))
                }
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        } catch let error as VampClientError {
            throw error
        } catch {
            throw VampClientError(.connection, message: "the event stream ended: \(error)")
        }
    }
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the server's version and the state of its parts.", discussion: "Example: vamp info -o json")
    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions

    func run() async throws {
        let info = try await server.client().info()
        switch format.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(JSONValue.object(info)), as: UTF8.self))
        case .yaml: print(yaml(.object(info)), terminator: "")
        case .table:
            print(table(["KEY", "VALUE"], info.keys.sorted().map { key in
                [key, info[key].map { if case .string(let s) = $0 { s } else { compactJSON($0) } } ?? ""]
            }), terminator: "")
        }
    }
}

struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Show the CLI's version and, when it answers, the server's.", discussion: "Example: vamp version")
    @OptionGroup var server: ServerOptions

    func run() async throws {
        print("vamp \(cliVersion)")
        if let info = try? await server.client().info(), case .string(let version)? = info["version"] {
            print("vamp-server \(version)")
        }
    }
}
