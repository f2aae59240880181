import Foundation
import Testing
import VampDSL
import VampModel

/// Runs the built `vamp` executable as a user would.
@Suite("vamp CLI (offline commands)")
struct VampCLITests {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("vamp")
    }

    func run(_ arguments: [String], stdin: String? = nil) throws -> Output {
        let binary = Self.executable
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build the CLI first: swift build --build-tests (looked for \(binary.path))")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = Self.repository
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    @Test("vamp validate accepts every example")
    func validateExamples() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("Examples").path).filter { $0.hasSuffix(".yaml") }.sorted().map { "Examples/\($0)" }
        let result = try run(["validate"] + files)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok blueprint catalog-canary (Examples/canary.yaml)"))
        #expect(result.stdout.split(separator: "\n").count >= 13)
    }

    @Test("vamp validate prints file:line:column errors and exits 1")
    func validateErrors() throws {
        let result = try run(["validate", "-"], stdin: "kind: gateway\nname: g\nport: 80\nroutes:\n  a: {weight: 60%}\n  b: {weight: 30%, condition: \"has cookie\"}\n")
        #expect(result.status == 1)
        #expect(result.stderr.contains("-:6:31: error: gateway 'g', field routes.b.condition: the condition 'has cookie' does not parse"), "\(result.stderr)")
        #expect(result.stderr.contains("-:4:1: error: gateway 'g', field routes: total route weight is 90%"), "\(result.stderr)")
        #expect(result.stderr.contains("2 errors, 0 valid artifacts"))
    }

    @Test("a document without kind needs --kind")
    func kindRequired() throws {
        let without = try run(["validate", "-"], stdin: "name: s\ncpu: 1\nmemory: 1GB\n")
        #expect(without.status == 1)
        #expect(without.stderr.contains("give the kind (vamp validate --kind KIND)"))
        let with = try run(["validate", "--kind", "scale", "-"], stdin: "name: s\ncpu: 1\nmemory: 1GB\n")
        #expect(with.status == 0)
        #expect(with.stdout == "ok scale s (-)\n")
    }

    @Test("a missing file or a folder is an error saying why, not a crash")
    func missingFile() throws {
        let result = try run(["validate", "Examples/nope.yaml"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot read 'Examples/nope.yaml': no such file or directory"), "\(result.stderr)")
        let folder = try run(["validate", "Examples"])
        #expect(folder.status == 1)
        #expect(folder.stderr.contains("cannot read 'Examples': it is a folder, not a file"), "\(folder.stderr)")
    }

    @Test("vamp convert prints the canonical form, which reads back to the same model")
    func convert() throws {
        let yaml = try run(["convert", "Examples/dependencies.yaml"])
        #expect(yaml.status == 0, "\(yaml.stderr)")
        let json = try run(["convert", "--to", "json", "Examples/dependencies.yaml"])
        #expect(json.status == 0)
        #expect(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) is [String: Any])
        let original = try DSLReader.read(String(contentsOf: Self.repository.appendingPathComponent("Examples/dependencies.yaml"), encoding: .utf8)).map(\.artifact)
        #expect(try DSLReader.read(yaml.stdout).map(\.artifact) == original)
        #expect(try DSLReader.read(json.stdout).map(\.artifact) == original)
    }

    @Test("vamp generate prints valid skeletons", arguments: [
        ["generate", "breed", "--name", "catalog:2.1", "--deployable", "acme/catalog:2.1", "--port", "api=9000/tcp"],
        ["generate", "blueprint", "--cluster", "web", "--breed", "catalog:2.1", "--gateway", "9050"],
        ["generate", "scale", "--cpu", "250m", "--memory", "0.5GB", "--instances", "3"],
        ["generate", "sla", "--escalation", "scale-out"],
        ["generate", "escalation", "--type", "scale_cpu", "--minimum", "0.5", "--maximum", "4", "--scale-by", "0.5"],
        ["generate", "breed", "--json"],
    ])
    func generate(arguments: [String]) throws {
        let generated = try run(arguments)
        #expect(generated.status == 0, "\(generated.stderr)")
        let validated = try run(["validate", "-"], stdin: generated.stdout)
        #expect(validated.status == 0, "\(validated.stderr)\n\(generated.stdout)")
        #expect(validated.stdout.hasPrefix("ok \(arguments[1])"))
    }

    @Test("vamp generate refuses bad options with a message")
    func generateErrors() throws {
        let result = try run(["generate", "scale", "--memory", "512"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--memory needs a unit"))
    }

    static let kinds = "Tests/VampDSLTests/Fixtures/kinds"

    @Test("vamp validate --kind event|event-query|template|docker-compose accepts the good files", arguments: [
        ["--kind", "event", "\(kinds)/event/accepted/events.yaml"],
        ["--kind", "event-query", "\(kinds)/event-query/accepted/date-math.yaml", "\(kinds)/event-query/accepted/absolute.yaml"],
        ["--kind", "template", "\(kinds)/template/accepted/template.yaml"],
        ["\(kinds)/template/accepted/import.yaml"],
        ["--kind", "docker-compose", "\(kinds)/docker-compose/accepted/shop.yaml"],
    ])
    func validateKinds(arguments: [String]) throws {
        let result = try run(["validate"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok "), "\(result.stdout)")
    }

    @Test("vamp validate --kind lists every error of a refused file with its line", arguments: [
        ("event", "every-error.yaml", 4, ":7:12: error: event, field timestamp"),
        ("event-query", "every-error.yaml", 4, ":6:17: error: event-query, field timestamp.lt"),
        ("docker-compose", "every-error.yaml", 3, ":7:13: error: docker-compose 'every-error', field services.dns.ports[0]"),
    ])
    func validateKindErrors(kind: String, file: String, count: Int, fragment: String) throws {
        let result = try run(["validate", "--kind", kind, "\(Self.kinds)/\(kind)/refused/\(file)"])
        #expect(result.status == 1)
        #expect(result.stderr.contains(fragment), "\(result.stderr)")
        #expect(result.stderr.contains("\(count) errors, 0 valid artifacts"), "\(result.stderr)")
    }

    @Test("an import names a template that is not given")
    func unresolvedImport() throws {
        let result = try run(["validate", "-"], stdin: "kind: blueprint\nname: b\nimport: base\nclusters: {web: a:1}\n")
        #expect(result.status == 1)
        #expect(result.stderr.contains("-:3:1: error: blueprint 'b', field import: the import of template 'base' is not found"), "\(result.stderr)")
    }

    @Test("vamp convert --from docker-compose prints the notes and a blueprint that validates")
    func convertCompose() throws {
        let result = try run(["convert", "--from", "docker-compose", "--name", "shop", "\(Self.kinds)/docker-compose/accepted/shop.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("# Compose version: 2.\n"))
        #expect(result.stdout.contains("# Ignored host port: 8080 of 'web'."))
        let documents = try DSLReader.load(result.stdout)
        #expect(documents.map(\.artifact.name) == ["shop"])
        let validated = try run(["validate", "-"], stdin: result.stdout)
        #expect(validated.stdout == "ok blueprint shop (-)\n", "\(validated.stderr)")
        let refused = try run(["convert", "--from", "docker-compose", "\(Self.kinds)/docker-compose/refused/every-error.yaml"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("the port protocol 'udp' is not supported"))
    }

    @Test("cpu in millicores and memory in kilobytes survive vamp convert")
    func precision() throws {
        let result = try run(["convert", "--kind", "scale", "-"], stdin: "name: s\ncpu: 125m\nmemory: 100KB\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("cpu: \"125m\""), "\(result.stdout)")
        #expect(result.stdout.contains("memory: \"100KB\""), "\(result.stdout)")
        let back = try DSLReader.load(result.stdout)
        #expect(back.first?.artifact == .scale(Scale(name: "s", cpu: CPU(cores: 0.125)!, memory: Memory(megabytes: 100.0 / 1024)!)))
    }
}
