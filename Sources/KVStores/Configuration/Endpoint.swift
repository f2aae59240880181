#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A server address: a host name or IP literal (IPv4 or IPv6) and a TCP port.
///
/// Parses what operators write: `etcd:2379`, `10.0.0.5`, `[::1]:2379`, `::1`, and URLs such as
/// `http://[fd00::5]:8500/`. A host without a port gets the default port of the store.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The host name or IP address, IPv6 without brackets (`::1`).
    public var host: String
    /// The TCP port, 1 to 65535.
    public var port: Int

    /// Creates an endpoint from its parts.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 literal, or a URL
    /// (`scheme://host:port/path`; the scheme and path are ignored).
    /// - Throws: ``KeyValueStoreError`` with code `invalidConfiguration` saying what is wrong.
    public init(parsing text: String, defaultPort: Int) throws(KeyValueStoreError) {
        func fail(_ why: String) -> KeyValueStoreError {
            KeyValueStoreError(
                .invalidConfiguration,
                "'\(text)' is not a server address: \(why); write host:port, [ipv6]:port or http://host:port",
                server: text)
        }
        var rest = text.trimmingWhitespace[...]
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<slash] }
        guard !rest.isEmpty else { throw fail("the host is missing") }

        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 literal needs a closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("only :port may follow ]") }
                portText = after.dropFirst()
            }
            guard host.contains(":") else { throw fail("brackets are for IPv6 literals only") }
        } else if rest.filter({ $0 == ":" }).count > 1 {
            // A bare IPv6 literal: it cannot carry a port without brackets.
            host = rest
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw fail("the host is missing") }
        guard !host.contains(where: { $0.isWhitespace || $0 == "," }) else {
            throw fail("the host contains a space or a comma")
        }
        if host.contains(":"), !host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" }) {
            throw fail("'\(host)' is not an IPv6 literal")
        }
        var port = defaultPort
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw fail("the port '\(portText)' is not a number from 1 to 65535")
            }
            port = parsed
        }
        self.init(host: String(host), port: port)
    }

    /// Parses a comma-separated list of addresses (`zk1:2181,zk2:2181`), skipping empty items.
    public static func list(parsing text: String, defaultPort: Int) throws(KeyValueStoreError) -> [Endpoint] {
        var result: [Endpoint] = []
        for item in text.split(separator: ",") where !item.trimmingWhitespace.isEmpty {
            result.append(try Endpoint(parsing: String(item), defaultPort: defaultPort))
        }
        return result
    }

    /// The host as it appears in a URL or `host:port`: IPv6 literals in brackets.
    public var uriHost: String { host.contains(":") ? "[\(host)]" : host }

    /// `host:port`, with an IPv6 host in brackets (`[::1]:2379`).
    public var description: String { "\(uriHost):\(port)" }

    /// An HTTP(S) base URL for this endpoint: `http://[::1]:2379`.
    public func url(tls: Bool = false) -> String { "\(tls ? "https" : "http")://\(description)" }
}
