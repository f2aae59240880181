import NIOCore
import NIOSSL

/// A TLS failure that ended a connection to ZooKeeper: the server's certificate not believed (another CA, another
/// name), or the server refusing ours (`ssl.clientAuth=need` and no client certificate). Callers see it rather than
/// ``ZKConnectionLost``, so the error says why.
struct ZKTLSFailure: Error, CustomStringConvertible {
    let underlying: any Error
    /// The host connected to, once known.
    var host: String?

    /// The failure `error` is, when it comes from TLS. A peer closing without TLS's close_notify is a lost connection,
    /// not a TLS failure (the session's handling of a server that closes during the handshake stays as it is).
    init?(_ error: any Error) {
        if let error = error as? NIOSSLError, case .uncleanShutdown = error { return nil }
        guard error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError else { return nil }
        underlying = error
    }

    var description: String {
        if let host, let error = underlying as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "TLS failed: the server's certificate does not name \(host) (\(error))"
        }
        return "TLS failed: \(underlying)"
    }

    /// The handler that puts a connection to `host` in TLS: SNI and the certificate's name check with a host name;
    /// with an IP address (which SNI cannot carry), the certificate's IP addresses are checked against the address
    /// connected to.
    static func clientHandler(_ context: NIOSSLContext, host: String) throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
    }
}
