public import Foundation
public import Logging
public import Persistence
public import ServiceLifecycle
import Crypto
import Synchronization

/// The tokens a server knows: those configured (a file, `VAMP_*`) and those created through the API, which are kept
/// in the artifact store (kind `tokens`, one record per token, holding no secret). ``authenticate(_:at:)`` answers
/// from memory; ``run()`` loads the stored tokens at start and follows the store's changes, so that a token created
/// or revoked on another server sharing the database counts here within the store's notice delay.
public final class TokenRegistry: Service, Sendable {
    /// The store kind the tokens are kept under.
    public static let kind = "tokens"

    struct State {
        var stored: [String: AccessToken] = [:]
        var byID: [String: AccessToken] = [:]
        var loaded = false
        /// Secrets checked already, by their SHA-256 (never the secret itself): a repeated token costs a hash and a
        /// lookup instead of the keyed hash of its record. Emptied whenever the tokens change; bounded.
        var verified: [SHA256Digest: AccessToken] = [:]
    }

    /// How many verified secrets are kept (one per client token in use, in practice).
    static let verifiedLimit = 4096

    let store: any ArtifactStore
    /// Tokens from the configuration: never stored, not revocable through the API.
    public let configured: [AccessToken]
    let state = Mutex(State())
    let logger: Logger
    let readyWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    let pollInterval: Duration
    let firstLoad: (@Sendable (TokenRegistry) async throws -> Void)?

    /// A registry over `store` with the configured tokens. `firstLoad` runs once the stored tokens are loaded and
    /// before any request is decided (the server's first start creates its admin token there).
    public init(
        store: any ArtifactStore, configured: [AccessToken], pollInterval: Duration = .seconds(1), logger: Logger,
        firstLoad: (@Sendable (TokenRegistry) async throws -> Void)? = nil
    ) {
        self.store = store
        self.configured = configured
        self.pollInterval = pollInterval
        self.logger = logger
        self.firstLoad = firstLoad
    }

    /// The token a presented secret belongs to, if it is known and has not expired. Constant-time comparison of
    /// the keyed hashes; the secret is never kept.
    public func authenticate(_ secret: String, at now: Date) -> AccessToken? {
        let digest = SHA256.hash(data: Data(secret.utf8))
        if let known = state.withLock({ $0.verified[digest] }) {
            return known.hasExpired(at: now) ? nil : known
        }
        let found: AccessToken?
        if let id = TokenSecret.id(of: secret), let token = state.withLock({ $0.byID[id] }) {
            found = TokenSecret.matches(secret, salt: token.salt, hash: token.hash) ? token : nil
        } else {
            found = configured.first { TokenSecret.matches(secret, salt: $0.salt, hash: $0.hash) }
        }
        guard let found else { return nil }
        state.withLock { state in
            // A token revoked while this check ran is not cached: its record is gone from the state.
            guard configured.contains(found) || state.stored[found.name] == found else { return }
            if state.verified.count >= Self.verifiedLimit { state.verified.removeAll(keepingCapacity: true) }
            state.verified[digest] = found
        }
        return found.hasExpired(at: now) ? nil : found
    }

    /// Every token, configured first, then stored ones by name.
    public func all() -> [AccessToken] {
        configured + state.withLock { $0.stored.values.sorted { $0.name < $1.name } }
    }

    /// True when no token is known at all (the first start).
    public var isEmpty: Bool { configured.isEmpty && state.withLock { $0.stored.isEmpty } }

    /// Creates a token and stores its record; returns the record and the secret, which is shown once and kept
    /// nowhere. Fails when the name is taken.
    public func create(
        name: String, role: Role, namespaces: [String]?, expires: Date?, by creator: String, at now: Date
    ) async throws(TokenError) -> (token: AccessToken, secret: String) {
        guard AccessToken.isName(name) else {
            throw TokenError(.invalid, "token name '\(name.prefix(80))': use 1 to 64 letters, digits, '.', '-' and '_'")
        }
        guard !configured.contains(where: { $0.name == name }) else {
            throw TokenError(.conflict, "token '\(name)' is configured (not created through the API); choose another name")
        }
        let (secret, id) = TokenSecret.make()
        let (salt, hash) = TokenSecret.hash(secret)
        let token = AccessToken(
            name: name, role: role, namespaces: namespaces, expires: expires, created: now, createdBy: creator, id: id, salt: salt, hash: hash)
        do {
            _ = try await store.create(kind: Self.kind, name: name, body: try JSONEncoder.tokens.encode(token))
        } catch let error as PersistenceError where error.code == .alreadyExists {
            throw TokenError(.conflict, "token '\(name)' exists; revoke it first (DELETE /api/v1/tokens/\(name)) or choose another name")
        } catch {
            throw TokenError(.unavailable, "token '\(name)' could not be stored: \(error)")
        }
        remember(token)
        return (token, secret)
    }

    /// Removes a stored token: it stops working at once here, and on servers sharing the store once they see the
    /// change.
    public func revoke(name: String) async throws(TokenError) {
        if configured.contains(where: { $0.name == name }) {
            throw TokenError(.conflict, "token '\(name)' is configured; remove it from the configuration and restart the server")
        }
        do {
            try await store.delete(kind: Self.kind, name: name, expectedVersion: nil)
        } catch let error as PersistenceError where error.code == .notFound {
            throw TokenError(.notFound, "no token '\(name)'")
        } catch {
            throw TokenError(.unavailable, "token '\(name)' could not be removed: \(error)")
        }
        forget(name)
    }

    /// Waits until the stored tokens are loaded (requests arriving before that wait instead of being refused).
    public func ready() async {
        if state.withLock({ $0.loaded }) { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.loaded { return true }
                readyWaiters.withLock { $0.append(continuation) }
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Loads the stored tokens, then follows the store's changes until cancelled.
    public func run() async throws {
        var last = try await store.lastChangeSequence()
        try await reload()
        try await firstLoad?(self)
        markLoaded()
        for try await change in store.followChanges(after: last, pollInterval: pollInterval).cancelOnGracefulShutdown() {
            last = change.sequence
            guard change.kind == Self.kind else { continue }
            try await reload()
        }
    }

    /// Reads every stored token again.
    public func reload() async throws {
        var tokens: [String: AccessToken] = [:]
        var page = 1
        while true {
            let records = try await store.list(kind: Self.kind, page: PageRequest(page: page, perPage: 500))
            for record in records.items {
                do {
                    let token = try JSONDecoder.tokens.decode(AccessToken.self, from: record.body)
                    tokens[token.name] = token
                } catch {
                    logger.error("a stored token record does not read; it is ignored", metadata: ["vamp.token": "\(record.name)", "vamp.error": "\(error)"])
                }
            }
            if records.items.count < 500 { break }
            page += 1
        }
        state.withLock { state in
            state.verified = [:]
            state.stored = tokens
            state.byID = Dictionary(tokens.values.compactMap { token in token.id.map { ($0, token) } }, uniquingKeysWith: { first, _ in first })
        }
    }

    func markLoaded() {
        state.withLock { $0.loaded = true }
        for waiter in readyWaiters.withLock({ waiters in defer { waiters = [] }; return waiters }) { waiter.resume() }
    }

    func remember(_ token: AccessToken) {
        state.withLock { state in
            state.verified = [:]
            state.stored[token.name] = token
            if let id = token.id { state.byID[id] = token }
        }
    }

    func forget(_ name: String) {
        state.withLock { state in
            state.verified = [:]
            if let id = state.stored.removeValue(forKey: name)?.id { state.byID[id] = nil }
        }
    }
}

/// Why a token operation failed.
public struct TokenError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, for the status of an answer.
    public enum Code: Sendable { case invalid, conflict, notFound, unavailable }
    /// The kind of failure.
    public let code: Code
    /// What is wrong, naming the token.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension JSONEncoder {
    static var tokens: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}

extension JSONDecoder {
    static var tokens: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
