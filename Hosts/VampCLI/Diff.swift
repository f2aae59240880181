import ArgumentParser
import Foundation
import VampClient
import VampDSL
import VampModel

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what applying a file would change, before anything is applied.",
        discussion: """
            Reads the current artifacts from the server and prints each of the file's artifacts as added (+), \
            changed (~, with a line diff of the canonical YAML) or unchanged (=); for gateways the weight and \
            condition changes, for a deployment the services a merge adds. The file is first checked by the server \
            (validate_only=true): a refusal is printed with its field and line, and nothing is ever stored. With \
            --offline OTHER the file is compared with OTHER instead of the server (and artifacts only in OTHER are \
            removed (-)).
            Example: vamp diff -f canary.yaml
                     vamp diff -f new.yaml --offline old.yaml
            """)

    @OptionGroup var input: InputOptions
    @Option(name: .long, help: ArgumentHelp("Compare with this file instead of the server.", valueName: "file")) var offline: String?
    @Option(name: .long, help: "The kind of documents without 'kind'.") var kind: ArtifactKind?
    @OptionGroup var server: ServerOptions

    func run() async throws {
        let text = try input.text()
        let source = input.file ?? "-"
        let documents = try Self.documents(text, kind: kind, file: source)
        var current: (Key) async throws -> Artifact?
        var removed: [Artifact] = []
        if let offline {
            let others = try Self.documents(try readInput(offline), kind: kind, file: offline)
            var byKey: [Key: Artifact] = [:]
            for document in others { byKey[Key(document)] = document.artifact }
            let keys = Set(documents.map(Key.init))
            removed = others.filter { !keys.contains(Key($0)) }.map(\.artifact)
            current = { byKey[$0] }
        } else {
            let client = try server.client()
            try await Self.validate(text, documents: documents, kind: kind, client: client)
            current = { key in
                if key.kind == .deployment { return try await client.deploymentBlueprint(key.name).map(Artifact.blueprint) }
                return try await client.read(key.kind, name: key.name)
            }
        }
        var counts = (added: 0, changed: 0, unchanged: 0)
        for document in documents {
            let key = Key(document)
            let label = "\(key.kind) \(key.name)"
            guard let old = try await current(key) else {
                counts.added += 1
                print("+ \(label) (added)")
                for line in Self.lines(document.artifact) { print("  + \(line)") }
                continue
            }
            let details = key.kind == .deployment
                ? Self.mergeChanges(old, document.artifact)
                : Self.gatewayChanges(old, document.artifact) + Self.lineDiff(Self.lines(Self.withoutRuntime(old)), Self.lines(document.artifact))
            if details.isEmpty {
                counts.unchanged += 1
                print("= \(label) (unchanged)")
            } else {
                counts.changed += 1
                print("~ \(label) (changed)")
                for line in details { print("  \(line)") }
            }
        }
        for artifact in removed {
            print("- \(artifact.kind) \(artifact.name ?? "") (removed)")
            for line in Self.lines(artifact) { print("  - \(line)") }
        }
        print("\(counts.added) added, \(counts.changed) changed, \(removed.count) removed, \(counts.unchanged) unchanged\(offline == nil ? "; nothing was applied" : "")")
    }

    /// An artifact's identity: a `kind: deployment` document (a blueprint to deploy) is the deployment it names.
    struct Key: Hashable {
        var kind: ArtifactKind
        var name: String

        init(_ document: DSLDocument) {
            kind = document.isDeploymentRequest ? .deployment : document.artifact.kind
            name = document.artifact.name ?? ""
        }
    }

    static func documents(_ text: String, kind: ArtifactKind?, file: String) throws -> [DSLDocument] {
        do {
            return try DSLReader.load(text, kind: kind)
        } catch {
            for error in error.errors { printError(format(error, file: file)) }
            throw ExitCode(1)
        }
    }

    /// The server's checks (`validate_only=true`), which store nothing.
    static func validate(_ text: String, documents: [DSLDocument], kind: ArtifactKind?, client: VampClient) async throws {
        switch kind {
        case nil: try await client.apply(text, validateOnly: true)
        case .deployment?:
            for document in documents {
                try await client.deploy(DSLWriter.json(document.artifact, pretty: false), as: document.artifact.name ?? "", validateOnly: true)
            }
        case let kind?: try await client.create(kind, document: text, validateOnly: true)
        }
    }

    static func lines(_ artifact: Artifact) -> [String] {
        DSLWriter.yaml(artifact).split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }

    /// A stored gateway without what the server computes (targets, deployed, the service), so that only what a file
    /// can say is compared.
    static func withoutRuntime(_ artifact: Artifact) -> Artifact {
        guard case .gateway(var gateway) = artifact else { return artifact }
        gateway.deployed = nil
        gateway.service = nil
        for index in gateway.routes.indices { gateway.routes[index].targets = [] }
        return .gateway(gateway)
    }

    /// Weight and condition changes of the routes of the gateways in `old` and `new`.
    static func gatewayChanges(_ old: Artifact, _ new: Artifact) -> [String] {
        func gateways(_ artifact: Artifact) -> [String: Gateway] {
            var found: [String: Gateway] = [:]
            switch artifact {
            case .gateway(let g): found[g.name] = g
            case .blueprint(let b):
                for g in b.gateways { found[g.name] = g }
                for cluster in b.clusters { for g in cluster.gateways { found["\(cluster.name)/\(g.name)"] = g } }
            default: break
            }
            return found
        }
        let before = gateways(old)
        var changes: [String] = []
        for (name, gateway) in gateways(new).sorted(by: { $0.key < $1.key }) {
            guard let previous = before[name] else { continue }
            for route in gateway.routes {
                let key = routeKey(route)
                let was = previous.routes.first { routeKey($0) == key }
                let label: String = if case .gateway = new { "route \(key)" } else { "gateway \(name) route \(key)" }
                if was?.weight != route.weight {
                    changes.append("\(label): weight \(was?.weight?.description ?? "none") → \(route.weight?.description ?? "none")")
                }
                let oldCondition = was?.condition.map(conditionText), newCondition = route.condition.map(conditionText)
                if oldCondition != newCondition || (newCondition != nil && was?.conditionStrength != route.conditionStrength) {
                    func shown(_ c: String?, _ s: Percentage?) -> String { c.map { "\"\($0)\" (\(s?.description ?? "100%"))" } ?? "none" }
                    changes.append("\(label): condition \(shown(oldCondition, was?.conditionStrength)) → \(shown(newCondition, route.conditionStrength))")
                }
            }
        }
        return changes
    }

    /// `d/c/s/p` routes by their service (breed), others by path.
    static func routeKey(_ route: Route) -> String {
        let segments = route.path.split(separator: "/").map(String.init)
        return segments.count == 4 ? segments[2] : route.path
    }

    /// What merging the blueprint `new` into the deployment (read as the blueprint `old`) changes: services added,
    /// and the cluster gateways' weights and conditions. A merge removes nothing.
    static func mergeChanges(_ old: Artifact, _ new: Artifact) -> [String] {
        guard case .blueprint(let before) = old, case .blueprint(let after) = new else { return [] }
        var changes: [String] = []
        for cluster in after.clusters {
            let existing = Set(before.clusters.first { $0.name == cluster.name }?.services.map(\.breed.breedName) ?? [])
            for service in cluster.services where !existing.contains(service.breed.breedName) {
                changes.append("cluster \(cluster.name): + service \(service.breed.breedName)")
            }
        }
        return changes + gatewayChanges(old, new)
    }

    /// A line diff (longest common subsequence) with two lines of context around each change.
    static func lineDiff(_ a: [String], _ b: [String]) -> [String] {
        guard a != b else { return [] }
        var lcs = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var marked: [(Character, String)] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                marked.append((" ", a[i])); i += 1; j += 1
            } else if i < a.count, j == b.count || lcs[i + 1][j] >= lcs[i][j + 1] {
                marked.append(("-", a[i])); i += 1
            } else {
                marked.append(("+", b[j])); j += 1
            }
        }
        let changed = marked.indices.filter { marked[$0].0 != " " }
        var shown: [String] = []
        var last = -1
        for index in marked.indices where changed.contains(where: { abs($0 - index) <= 2 }) {
            if last >= 0, index > last + 1 { shown.append("  …") }
            shown.append("\(marked[index].0) \(marked[index].1)")
            last = index
        }
        return shown
    }
}
