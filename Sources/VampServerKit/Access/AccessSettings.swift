import Foundation
import Logging
import VampAccess
import Yams

/// `vamp.http-api.auth` and the tokens the operator configures.
enum AccessKeys {
    static let auth = Setting<AccessSettings.Mode>("vamp.http-api.auth", default: "tokens", expected: "tokens or none") { text in
        AccessSettings.Mode(rawValue: text.lowercased())
    }
    /// A YAML (or JSON) list of tokens: `- {name: ci, role: write, secret: ..., namespaces: [...], expires: ...}`.
    static let tokensFile = Setting<String>.text("vamp.http-api.tokens.file", default: "")
    /// An admin token's secret, for hosts that hand it over in the environment (`VAMP_HTTP_API_TOKENS_ADMIN`).
    static let adminSecret = Setting<String>.text("vamp.http-api.tokens.admin", default: "").hidden()
    /// Where the first start writes the admin token it creates.
    static let firstStartFile = Setting<String>.text("vamp.http-api.tokens.first-start-file", default: ".vamp/admin-token")
}

extension Setting {
    /// The same setting, hidden from `GET /config`.
    func hidden() -> Setting {
        var setting = self
        setting.secret = true
        return setting
    }
}

/// Who may use the API, as configured.
struct AccessSettings: Sendable {
    enum Mode: String, Sendable {
        case tokens, none
    }

    var mode: Mode
    /// Tokens from the file and the environment, hashed in memory (their secrets are not kept).
    var configured: [AccessToken]
    /// Where the first start writes the admin token it creates (owner-only).
    var firstStartFile: URL

    init(_ reader: inout SettingsReader, interface: String) throws(SettingError) {
        mode = try reader.read(AccessKeys.auth)
        if mode == .none, !Self.isLoopback(interface) {
            throw SettingError(description: "\(AccessKeys.auth.described): none turns authentication off, which this server allows only on a loopback interface; vamp.http-api.interface is \(interface): use tokens, or listen on 127.0.0.1")
        }
        firstStartFile = URL(fileURLWithPath: try reader.read(AccessKeys.firstStartFile)).standardizedFileURL
        var tokens: [AccessToken] = []
        let admin = try reader.read(AccessKeys.adminSecret)
        if !admin.isEmpty {
            tokens.append(try Self.token(name: "admin-from-settings", role: .admin, secret: admin, namespaces: nil, expires: nil, source: AccessKeys.adminSecret.described))
        }
        let file = try reader.read(AccessKeys.tokensFile)
        if !file.isEmpty { tokens += try Self.tokens(file: file) }
        var names: Set<String> = []
        for token in tokens where !names.insert(token.name).inserted {
            throw SettingError(description: "\(AccessKeys.tokensFile.described): the token name '\(token.name)' is given twice")
        }
        configured = tokens
    }

    /// 127.0.0.0/8, `::1` and `localhost`.
    static func isLoopback(_ interface: String) -> Bool {
        interface == "localhost" || interface == "::1" || interface == "[::1]" || interface.hasPrefix("127.")
    }

    /// The configured tokens of a file: a list of `{name, role, secret, namespaces, expires}`.
    static func tokens(file path: String) throws(SettingError) -> [AccessToken] {
        struct Entry: Decodable {
            var name: String
            var role: String?
            var secret: String
            var namespaces: [String]?
            var expires: Date?
        }
        let described = AccessKeys.tokensFile.described
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingError(description: "\(described): \(path) cannot be read: \(error.localizedDescription)")
        }
        let entries: [Entry]
        do {
            entries = try YAMLDecoder().decode([Entry].self, from: text)
        } catch {
            throw SettingError(description: "\(described): \(path) is not a list of tokens ({name, role, secret, namespaces, expires}): \(error)")
        }
        var tokens: [AccessToken] = []
        for (index, entry) in entries.enumerated() {
            let source = "\(described): \(path), token \(index + 1)"
            guard let role = Role(rawValue: entry.role ?? "read") else {
                throw SettingError(description: "\(source): role '\(entry.role ?? "")' is not one of read, write, command, admin")
            }
            tokens.append(try token(name: entry.name, role: role, secret: entry.secret, namespaces: entry.namespaces, expires: entry.expires, source: source))
        }
        return tokens
    }

    static func token(name: String, role: Role, secret: String, namespaces: [String]?, expires: Date?, source: String) throws(SettingError) -> AccessToken {
        guard AccessToken.isName(name) else {
            throw SettingError(description: "\(source): the name '\(name)' is not 1 to 64 letters, digits, '.', '-' and '_'")
        }
        guard secret.count >= 24 else {
            throw SettingError(description: "\(source): the secret of '\(name)' is shorter than 24 characters; make one with openssl rand -hex 32")
        }
        let (salt, hash) = TokenSecret.hash(secret)
        return AccessToken(
            name: name, role: role, namespaces: namespaces, expires: expires, created: Date(), createdBy: "configuration",
            id: TokenSecret.id(of: secret), salt: salt, hash: hash)
    }
}

/// The first start: when no token is configured or stored, creates the `admin` token, prints its secret once on
/// standard output and writes it to an owner-only file, so that the CLI started in the same folder finds it.
struct FirstStart: Sendable {
    let file: URL
    let logger: Logger

    func run(_ registry: TokenRegistry) async throws {
        guard registry.isEmpty else { return }
        let created: (token: AccessToken, secret: String)?
        do {
            created = try await registry.create(name: "admin", role: .admin, namespaces: nil, expires: nil, by: "first start", at: Date())
        } catch {
            guard error.code == .conflict else { throw error }
            created = nil
        }
        guard let created else {
            // Another server sharing the database made it first.
            try await registry.reload()
            return
        }
        try Self.writeOwnerOnly(created.secret + "\n", to: file)
        // Written at once (not through print's buffer), so that it shows before any request needs it.
        FileHandle.standardOutput.write(Data("""
            vamp-server: created the admin token (shown once; also in \(file.path), readable by this user only):
              \(created.secret)
            Send it as Authorization: Bearer <token>; the vamp CLI started in this folder reads the file.

            """.utf8))
        logger.notice("created the admin token at first start", metadata: ["vamp.token.file": "\(file.path)"])
    }

    /// Writes `text` to `url` with mode 0600 (its folder 0700 when it is created).
    static func writeOwnerOnly(_ text: String, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? FileManager.default.removeItem(at: url)
        guard FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw SettingError(description: "the admin token could not be written to \(url.path)")
        }
    }
}
