import Configuration
import Foundation
import Logging
import NIOSSL
@testable import Persistence
import PostgresNIO
import ServiceLifecycle
import Testing
import VampTesting

/// PostgreSQL with TLS on (a certificate of the test's own CA), reached as `sslmode=verify-full` asks: the server's
/// certificate checked against the CA file and its name against the host. `verify-full` fails against a server that
/// does not offer TLS, so a working store proves an encrypted session.
/// The lines of a logger (at `level` and up), with their metadata as text.
final class RecordingLogHandler: LogHandler, @unchecked Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: String
    }

    private let lock = NSLock()
    private var recorded: [Line] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(level: Logger.Level) {
        logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let line = Line(level: event.level, message: event.message.description, metadata: "\(event.metadata ?? [:])")
        lock.withLock { recorded.append(line) }
    }

    var lines: [Line] { lock.withLock { recorded } }
}

extension InMemoryProvider {
    /// The settings of a PostgreSQL store at `url`.
    static func postgres(_ url: String) -> InMemoryProvider {
        InMemoryProvider(values: [
            "vamp.persistence.database.type": "postgres", "vamp.persistence.database.postgres.url": .init(.string(url), isSecret: true),
        ])
    }
}

@Suite("PostgreSQL over TLS (sslmode)", .serialized)
struct PostgresTLSTests {
    /// Runs the stores of `url` until they are ready and an artifact is written and read back; the error otherwise.
    static func roundTrip(_ url: String, within limit: Duration = .seconds(15)) async throws {
        let stores = try PersistenceConfiguration(config: ConfigReader(provider: InMemoryProvider.postgres(url))).makeStores()
        let group = ServiceGroup(configuration: .init(services: [.init(service: stores)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await withThrowingTaskGroup(of: Void.self) { deadline in
                deadline.addTask { try await stores.ready() }
                deadline.addTask {
                    try await Task.sleep(for: limit)
                    throw FixtureError("the stores were not ready in \(limit)")
                }
                try await deadline.next()
                deadline.cancelAll()
            }
            let name = "tls-" + UUID().uuidString.prefix(6).lowercased()
            let created = try await stores.artifacts.create(kind: "breeds", name: name, body: Data("{}".utf8))
            #expect(try await stores.artifacts.read(kind: "breeds", name: name) == created)
            await group.triggerGracefulShutdown()
        }
    }

    @Test("verify-full with the CA: stores and reads; require without a CA: too; verify-full trusting another CA: refused; a bad sslrootcert or sslmode: refused at start, named")
    func verifyFull() async throws {
        let folder = try TemporaryDirectory(prefix: "postgres-tls")
        defer { folder.remove() }
        let ca = try await TestCertificateAuthority(in: folder.url)
        let certificate = try await ca.issue("postgres", serial: "9051")
        let otherFolder = folder.url.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherFolder, withIntermediateDirectories: true)
        let other = try await TestCertificateAuthority(in: otherFolder, name: "Another CA")
        let server = try await PostgresServer.start(tls: (certificate.certificate, certificate.key))
        defer { server.stop() }
        let base = "postgres://\(server.username)@\(server.host):\(server.port)/\(server.database)"

        try await Self.roundTrip("\(base)?sslmode=verify-full&sslrootcert=\(ca.caFile.path)")
        try await Self.roundTrip("\(base)?sslmode=require")

        // Another CA's certificate is not believed: the handshake fails, and says so. (The server's stores would retry,
        // logging this, as for a database that is down: one connection shows the cause at once.)
        let distrusting = try PersistenceConfiguration.Postgres(url: "\(base)?sslmode=verify-full&sslrootcert=\(other.caFile.path)")
        let tls = try #require(try distrusting.clientTLSConfiguration())
        let refused = await #expect(throws: (any Error).self) {
            let connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.next(),
                configuration: .init(
                    host: server.host, port: server.port, username: server.username, password: nil, database: server.database,
                    tls: .require(try NIOSSLContext(configuration: tls))),
                id: 1, logger: Logger(label: "test")).get()
            try await connection.close()
        }
        let cause = refused.map { String(reflecting: $0) } ?? ""
        #expect(cause.contains("CERTIFICATE_VERIFY_FAILED"), "\(cause)")

        // The stores themselves retry for ever; each failed attempt is an error naming the setting, even in a log
        // that shows notices and up only (the pool logs it at info).
        let log = RecordingLogHandler(level: .notice)
        let stores = try PersistenceConfiguration(config: ConfigReader(provider: InMemoryProvider.postgres(
            "\(base)?sslmode=verify-full&sslrootcert=\(other.caFile.path)"))).makeStores(logger: Logger(label: "test") { _ in log })
        let group = ServiceGroup(configuration: .init(services: [.init(service: stores)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await waitUntil(timeout: .seconds(15), "an error naming sslrootcert: \(log.lines)") {
                log.lines.contains { $0.level == .error && $0.message.contains("vamp.persistence.database.postgres.sslrootcert") }
            }
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
        }
        let error = try #require(log.lines.first { $0.level == .error })
        #expect(error.metadata.contains("CERTIFICATE_VERIFY_FAILED"), "the pool's error stays in the metadata: \(error)")

        let missing = await #expect(throws: PersistenceError.self) {
            try await Self.roundTrip("\(base)?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
        }
        #expect(missing?.message.contains("sslrootcert '/nonexistent/ca.pem'") == true, "\(missing?.message ?? "")")
        let mode = await #expect(throws: PersistenceError.self) { try await Self.roundTrip("\(base)?sslmode=verify-ca") }
        #expect(mode?.message.contains("sslmode 'verify-ca' is not one of disable, require, verify-full") == true, "\(mode?.message ?? "")")
    }
}
