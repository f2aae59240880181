import Logging

/// The PostgreSQL client's log (postgres-nio's pool), with one line changed: the pool logs a connection that failed
/// at info and tries again for ever, which hides a server whose certificate is not trusted (it will never work). That
/// line, when the cause is `CERTIFICATE_VERIFY_FAILED`, is an error naming the setting to fix
/// (`vamp.persistence.database.postgres.sslrootcert`); every other line is as the pool logs it.
struct PostgresConnectionLogHandler: LogHandler {
    var wrapped: any LogHandler

    /// The client's logger, writing to `logger`'s handler.
    static func logger(writingTo logger: Logger) -> Logger {
        Logger(label: logger.label) { _ in PostgresConnectionLogHandler(wrapped: logger.handler) }
    }

    static let message = "PostgreSQL's TLS certificate is not trusted (CERTIFICATE_VERIFY_FAILED): give the CA certificate that signed it "
        + "in vamp.persistence.database.postgres.sslrootcert (sslrootcert= in the URL); trying again"

    func log(event: LogEvent) {
        var event = event
        if event.level < .error, event.message.description == "Connection creation failed",
           event.metadata?.values.contains(where: { "\($0)".contains("CERTIFICATE_VERIFY_FAILED") }) == true {
            event.level = .error
            event.message = "\(Self.message)"
        }
        // The level asked of the pool's logger is at most info, so that the failure reaches this handler.
        guard event.level >= wrapped.logLevel else { return }
        wrapped.log(event: event)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    var logLevel: Logger.Level {
        get { min(wrapped.logLevel, .info) }
        set { wrapped.logLevel = newValue }
    }
}
