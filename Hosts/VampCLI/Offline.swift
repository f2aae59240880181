public import ArgumentParser
import Foundation
import VampDSL
public import VampModel

extension ArtifactKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// Reads a file, or standard input for `-` (a blocking read: the CLI is one command, nothing else waits for the
/// thread); a file that cannot be read is named with why (the system's reason: no such file, permission denied).
func readInput(_ path: String) throws -> String {
    if path == "-" {
        return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw ValidationError("cannot read '\(path)': it is a folder, not a file")
    }
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else {
        throw ValidationError("cannot read '\(path)': \(String(cString: strerror(errno)).lowercased())")
    }
    close(descriptor)
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read '\(path)'")
    }
    return String(decoding: data, as: UTF8.self)
}

/// `file:line:column: error: message`, the form editors and CI logs link to.
func format(_ error: VampError, file: String) -> String {
    var location = file
    if let line = error.line {
        location += ":\(line)"
        if let column = error.column { location += ":\(column)" }
    }
    var copy = error
    copy.line = nil
    copy.column = nil
    return "\(location): error: \(copy)"
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// What `--kind` can name: an artifact kind, or one of the non-artifact documents the server
/// reads (an event query, a docker-compose file).
enum DocumentKind: ExpressibleByArgument, Equatable {
    case artifact(ArtifactKind)
    case eventQuery
    case dockerCompose

    init?(argument: String) {
        switch argument.lowercased() {
        case "event-query", "event-queries": self = .eventQuery
        case "docker-compose", "compose": self = .dockerCompose
        default:
            guard let kind = ArtifactKind(name: argument) else { return nil }
            self = .artifact(kind)
        }
    }

    static var allValueStrings: [String] { ArtifactKind.allCases.map(\.rawValue) + ["event-query", "docker-compose"] }

    var artifactKind: ArtifactKind? {
        if case .artifact(let kind) = self { return kind }
        return nil
    }
}

/// The file's name without folder and extension: the blueprint name of a converted compose file.
func baseName(_ path: String) -> String {
    let file = path.split(separator: "/").last.map(String.init) ?? path
    let stem = file.split(separator: ".").first.map(String.init) ?? file
    return path == "-" || stem.isEmpty ? "docker-compose" : stem
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check artifact files (YAML or JSON, one or many documents) and print each artifact or every error.",
        discussion: """
            Without --kind, each document's 'kind' field decides. --kind event-query and --kind docker-compose \
            check an event query body or a docker-compose file with the rules the server applies. Documents that \
            import: templates are resolved against the templates in the files given. Exits 1 when any document has an error.
            """)

    @Option(name: .long, help: "Treat documents without 'kind' as this kind (breed, blueprint, gateway, event, template, …, event-query, docker-compose).")
    var kind: DocumentKind?

    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false

    @Argument(help: "Files to check; '-' reads standard input.")
    var files: [String]

    func run() throws {
        var failures = 0
        var artifacts = 0
        var texts: [(file: String, text: String)] = []
        for file in files {
            do { texts.append((file, try readInput(file))) } catch {
                printError("\(file): error: \(error)")
                failures += 1
            }
        }
        let templates = DSLReader.templates(in: texts.map(\.text))
        func report(_ errors: [VampError], _ file: String) {
            failures += errors.count
            for error in errors { printError(format(error, file: file)) }
        }
        for (file, text) in texts {
            switch kind {
            case .eventQuery:
                do {
                    _ = try DSLReader.eventQuery(text)
                    artifacts += 1
                    if !quiet { print("ok event-query (\(file))") }
                } catch { report(error.errors, file) }
                continue
            case .dockerCompose:
                do {
                    let conversion = try DockerCompose.blueprint(from: text, name: baseName(file))
                    artifacts += 1
                    if !quiet { print("ok docker-compose → blueprint \(conversion.blueprint.name) (\(file))") }
                } catch { report(error.errors, file) }
                continue
            case .artifact, nil:
                break
            }
            let results: [Result<DSLDocument, VampErrors>]
            do {
                results = try DSLReader.readEach(text, kind: kind?.artifactKind, imports: templates)
            } catch {
                report([error], file)
                continue
            }
            if results.isEmpty {
                printError("\(file): error: the file holds no document")
                failures += 1
            }
            for result in results {
                switch result {
                case .failure(let failure):
                    report(failure.errors, file)
                case .success(let document):
                    let errors = document.validate()
                    if errors.isEmpty {
                        artifacts += 1
                        if !quiet { print("ok \(document.artifact.kind) \(document.artifact.name ?? "(anonymous)") (\(file))") }
                    } else {
                        report(errors, file)
                    }
                }
            }
        }
        if failures > 0 {
            printError("\(failures) error\(failures == 1 ? "" : "s"), \(artifacts) valid artifact\(artifacts == 1 ? "" : "s")")
            throw ExitCode(1)
        }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print artifacts in canonical expanded form (what the API returns), or convert a docker-compose file to a blueprint.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case yaml, json }
    enum Source: String, ExpressibleByArgument, CaseIterable { case vamp, dockerCompose = "docker-compose" }

    @Option(name: .long, help: "Output format.")
    var to: Format = .yaml

    @Option(name: .long, help: "Input format: vamp (artifacts) or docker-compose.")
    var from: Source = .vamp

    @Option(name: .long, help: "Blueprint name for --from docker-compose (default: the file's name).")
    var name: String?

    @Option(name: .long, help: "Treat documents without 'kind' as this kind.")
    var kind: ArtifactKind?

    @Argument(help: "Files to convert; '-' reads standard input.")
    var files: [String]

    func run() throws {
        var artifacts: [Artifact] = []
        var texts: [(file: String, text: String)] = []
        for file in files { texts.append((file, try readInput(file))) }
        let templates = DSLReader.templates(in: texts.map(\.text))
        for (file, text) in texts {
            do {
                switch from {
                case .dockerCompose:
                    let conversion = try DockerCompose.blueprint(from: text, name: name ?? baseName(file))
                    // As Vamp 0.9.5 did, the notes lead the YAML as comments; with JSON they go to stderr.
                    if to == .yaml { print(conversion.notes.map { "# \($0)" }.joined(separator: "\n")) } else {
                        for note in conversion.notes { printError("note: \(note)") }
                    }
                    artifacts.append(.blueprint(conversion.blueprint))
                case .vamp:
                    artifacts += try DSLReader.load(text, kind: kind, imports: templates).map(\.artifact)
                }
            } catch {
                for error in error.errors { printError(format(error, file: file)) }
                throw ExitCode(1)
            }
        }
        switch to {
        case .yaml: print(artifacts.count == 1 ? DSLWriter.yaml(artifacts[0]) : DSLWriter.yaml(artifacts), terminator: "")
        case .json: print(artifacts.count == 1 ? DSLWriter.json(artifacts[0]) : DSLWriter.json(artifacts))
        }
    }
}
