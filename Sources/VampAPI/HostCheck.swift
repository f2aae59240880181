#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import HTTPTypes
import Hummingbird

/// Which `Host` a request may name: what stops DNS rebinding, where a page of `evil.example` has its name resolve
/// to 127.0.0.1 and then calls the API as its own origin. The browser still sends `Host: evil.example`, so only
/// names the operator chose are answered. Own are:
///
/// - IP literals, v4 (`127.0.0.1`, `10.0.0.5`) and v6 (`[::1]`): a browser names an address only when the page's
///   origin is that address, so a rebinding page can never send one;
/// - `localhost`, which browsers resolve to loopback themselves;
/// - the machine's host name (`gethostname`);
/// - the names in `allowedHosts` (`vamp.http-api.allowed-hosts`; `vamp-server` adds its interface when that is a
///   name): exact (`vamp.example.com`), every name under a domain (`*.example.com`), or `*` for any name (the check off).
///
/// Names compare without case, a trailing dot and the port. A request without `Host` (HTTP/1.0, or a router called
/// in-process) is let through: browsers always send one, so it is no rebinding.
package struct HostPolicy: Sendable {
    let names: Set<String>
    let domains: [String]
    let anyName: Bool

    /// A policy allowing the server's own addresses and `allowedHosts`.
    package init(allowedHosts: [String]) {
        let entries = allowedHosts.map(Self.normalized).filter { !$0.isEmpty }
        anyName = entries.contains("*")
        domains = entries.filter { $0.hasPrefix("*.") }.map { String($0.dropFirst()) }
        names = Set(entries.filter { !$0.hasPrefix("*") } + ["localhost", Self.normalized(Self.machineName)])
    }

    /// Whether a request naming `authority` (the `Host` header: `name`, `name:port`, `[v6]:port`) is answered.
    package func allows(_ authority: String?) -> Bool {
        guard let authority, !authority.isEmpty else { return true }
        guard let host = Self.host(of: authority) else { return false }
        if Self.isAddress(host) || anyName || names.contains(host) { return true }
        return domains.contains { host.hasSuffix($0) && host.count > $0.count }
    }

    /// The host part of a `Host` value, lower case, without a trailing dot; `nil` when it does not read.
    static func host(of authority: String) -> String? {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let rest = authority[authority.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.utf8.dropFirst().allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })) else { return nil }
            return String(authority[...close]).lowercased()
        }
        var host = Substring(authority)
        if let colon = authority.firstIndex(of: ":") {
            let port = authority[authority.index(after: colon)...]
            guard port.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            host = authority[..<colon]
        }
        if host.last == ".", host.count > 1 { host.removeLast() }
        return host.lowercased()
    }

    /// Whether `host` is an IPv4 address in dotted form (`127.0.0.1`) or a bracketed IPv6 address (`[::1]`).
    package static func isAddress(_ host: String) -> Bool {
        var buffer = in6_addr()
        if host.hasPrefix("["), host.hasSuffix("]") {
            return inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &buffer) == 1
        }
        return inet_pton(AF_INET, host, &buffer) == 1
    }

    static func normalized(_ name: String) -> String {
        var name = name.trimmingCharacters(in: .whitespaces).lowercased()
        if name.hasSuffix("."), name.count > 1 { name.removeLast() }
        return name
    }

    static let machineName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}

/// Refuses a request whose `Host` the ``HostPolicy`` does not allow: 421 Misdirected Request with a message naming
/// the host and the setting, before any route runs.
struct HostCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: HostPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority
        guard policy.allows(host) else {
            let message = "this server does not answer for the host '\(host ?? "")' (a page of another site may be calling it through its own DNS name); "
                + "call it by an address, localhost or a name in vamp.http-api.allowed-hosts, or add the name there"
            return .refusal(.misdirectedRequest, message)
        }
        return try await next(request, context)
    }
}

extension Response {
    /// An answer `{"message": ...}` that no cache keeps, for refusals made before the routes.
    static func refusal(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: ["message": message], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
