import ArgumentParser
import Foundation
import VampClient
import VampDSL
import VampModel

/// `vamp store-secret NAME FILE`: a certificate, its chain and key as a secret HTTPS gateways name
/// (`tls: {secret: NAME}`).
struct StoreSecret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-secret",
        abstract: "Store a PEM file (certificate, chain, unencrypted key) as a secret for HTTPS gateways.",
        discussion: """
            A gateway then names it: tls: {secret: NAME}. Storing it again replaces the certificate on every gateway \
            that names it. The server never shows the PEM text again: vamp list secrets shows what the certificate says.
            Example: vamp store-secret shop-cert shop.pem
            """)

    @Argument(help: "The secret's name: letters, digits, '.', '_' and '-'.") var name: String
    @Argument(help: "The PEM file, or - for standard input.") var file: String
    @OptionGroup var server: ServerOptions
    @Flag(name: .long, help: "Check only; store nothing.") var validateOnly = false

    func run() async throws {
        let pem = try readInput(file)
        let stored = try await server.client().storeSecret(name, certificate: pem, validateOnly: validateOnly)
        let names = stored.certificate?.names.joined(separator: ",") ?? "-"
        print("\(validateOnly ? "valid" : "stored") secret \(stored.name) (for \(names), until \(stored.certificate?.notAfter ?? "-"))")
    }
}

/// The secrets of a `kind: secret` document (`vamp create secret -f`, `vamp update secret`): sent through
/// `PUT /secrets/{name}`, since the server answers a secret with what its certificate says, not as an artifact.
func secrets(in text: String) throws -> [Secret] {
    let documents: [DSLDocument]
    do { documents = try DSLReader.read(text, kind: .secret) } catch {
        throw ValidationError(error.errors.first.map { "\($0)" } ?? "the document does not read")
    }
    return documents.compactMap { if case .secret(let secret) = $0.artifact { secret } else { nil } }
}

/// `vamp list secrets`: what each certificate says, never its text.
func printSecrets(_ secrets: [SecretSummary], format: OutputFormat) {
    let rows = secrets.map { secret in
        [
            secret.name, secret.certificate?.names.joined(separator: ",") ?? "-",
            secret.certificate.map { $0.expired ? "\($0.notAfter) (expired)" : $0.notAfter } ?? (secret.error ?? "-"),
            secret.gateways.isEmpty ? "-" : secret.gateways.joined(separator: ","),
        ]
    }
    switch format {
    case .table: print(table(["NAME", "NAMES", "NOT AFTER", "GATEWAYS"], rows), terminator: "")
    case .json, .yaml:
        // JSON is YAML too; the PEM text is not in it (the server never sends it).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: (try? encoder.encode(secrets)) ?? Data("[]".utf8), as: UTF8.self))
    }
}
