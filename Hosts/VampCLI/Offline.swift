import ArgumentParser
import Foundation
import VampDSL
import VampModel

extension ArtifactKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// Reads a file, or standard input for `-`.
func readInput(_ path: String) throws -> String {
    if path == "-" {
        return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read '\(path)': no such file or not readable")
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

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check artifact files (YAML or JSON, one or many documents) and print each artifact or the precise errors.",
        discussion: "Without --kind, each document's 'kind' field decides. Exits 1 when any document has an error.")

    @Option(name: .long, help: "Treat documents without 'kind' as this kind (breed, blueprint, gateway, sla, …).")
    var kind: ArtifactKind?

    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false

    @Argument(help: "Files to check; '-' reads standard input.")
    var files: [String]

    func run() throws {
        var failures = 0
        var artifacts = 0
        for file in files {
            let text: String
            do { text = try readInput(file) } catch {
                printError("\(file): error: \(error)")
                failures += 1
                continue
            }
            let results: [Result<DSLDocument, VampErrors>]
            do {
                results = try DSLReader.readEach(text, kind: kind)
            } catch {
                printError(format(error, file: file))
                failures += 1
                continue
            }
            if results.isEmpty {
                printError("\(file): error: the file holds no document")
                failures += 1
            }
            for result in results {
                switch result {
                case .failure(let failure):
                    for error in failure.errors { printError(format(error, file: file)) }
                    failures += failure.errors.count
                case .success(let document):
                    let errors = document.validate()
                    if errors.isEmpty {
                        artifacts += 1
                        if !quiet { print("ok \(document.artifact.kind) \(document.artifact.name ?? "(anonymous)") (\(file))") }
                    } else {
                        failures += errors.count
                        for error in errors { printError(format(error, file: file)) }
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
        abstract: "Print artifacts in canonical expanded form (what the API returns).")

    enum Format: String, ExpressibleByArgument, CaseIterable { case yaml, json }

    @Option(name: .long, help: "Output format.")
    var to: Format = .yaml

    @Option(name: .long, help: "Treat documents without 'kind' as this kind.")
    var kind: ArtifactKind?

    @Argument(help: "Files to convert; '-' reads standard input.")
    var files: [String]

    func run() throws {
        var artifacts: [Artifact] = []
        for file in files {
            do {
                for document in try DSLReader.read(try readInput(file), kind: kind) {
                    let errors = document.validate()
                    if !errors.isEmpty {
                        for error in errors { printError(format(error, file: file)) }
                        throw ExitCode(1)
                    }
                    artifacts.append(document.artifact)
                }
            } catch let failure as VampErrors {
                for error in failure.errors { printError(format(error, file: file)) }
                throw ExitCode(1)
            }
        }
        switch to {
        case .yaml: print(artifacts.count == 1 ? DSLWriter.yaml(artifacts[0]) : DSLWriter.yaml(artifacts), terminator: "")
        case .json: print(artifacts.count == 1 ? DSLWriter.json(artifacts[0]) : DSLWriter.json(artifacts))
        }
    }
}
