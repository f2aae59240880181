#if canImport(Glibc)
import Glibc
#endif

/// The runtime API steps that bring HAProxy's running worker from one configuration text to another, when the two
/// differ only in the `server` lines of `backend` and `listen` sections: a server added (a service scaled out, a
/// container replaced), removed (scaled in, replaced), moved to another address, or given another weight. Every
/// other difference (and whatever HAProxy 2.6's runtime API cannot do) is nil: a reload. Pure, no I/O; the executor
/// is `HAProxyMaster.applyRuntime(_:drainTimeout:)`.
///
/// The steps keep some server serving at every moment: new servers first (`add server`, `enable health` when the
/// line has `check`, `enable server`), then new addresses, raised weights, lowered weights, and last the removed
/// servers (`set server … state maint`, which stops new requests to them and closes their idle connections, then
/// `del server` once their requests in flight are done).
///
/// What HAProxy 2.6 refuses for a server added at runtime is left to a reload: a backend whose balance algorithm is
/// not dynamic (`static-rr`, hashes without `hash-type consistent`), an address that is not an IP literal with a
/// port (a name is not resolved for a dynamic server), a `cookie` where the backend persists on cookies, settings
/// inherited from `default-server`, and keywords outside the list the runtime API takes. A `cookie` on a server of a
/// backend without a `cookie` directive has no effect (HAProxy reads it only for cookie persistence) and is left
/// out of `add server`, which refuses it.
package struct RuntimeChanges: Sendable, Equatable {
    /// One command to the running worker.
    package enum Step: Sendable, Equatable {
        /// A command HAProxy answers with nothing when it took it (`set server … weight`, `enable health`,
        /// `enable server`, `set server … state maint`).
        case plain(String)
        /// `add server B/S ADDRESS KEYWORDS…`, answered `New server registered.`
        case add(String)
        /// `set server B/S addr IP port P`, answered with what changed.
        case address(String)
        /// `del server B/S`: refused while the server has connections, so asked again until it is free.
        case delete(String)

        /// The command text.
        package var command: String {
            switch self {
            case .plain(let command), .add(let command), .address(let command), .delete(let command): command
            }
        }
    }

    /// The steps, in order.
    package var steps: [Step]

    /// The commands, in order.
    package var commands: [String] { steps.map(\.command) }

    /// More steps than this is a reload: a reload is quicker than thousands of commands, one connection each.
    static let maximumSteps = 1024

    /// The steps that turn `old` into `new`; nil when the texts differ in anything the steps cannot carry (or are
    /// equal).
    package static func plan(from old: String, to new: String) -> RuntimeChanges? {
        let before = ParsedConfiguration(old), after = ParsedConfiguration(new)
        guard before.sections.count == after.sections.count else { return nil }
        var added: [Step] = [], moved: [Step] = [], raised: [Step] = [], lowered: [Step] = [], maintenance: [Step] = [], deleted: [Step] = []
        for (index, (was, now)) in zip(before.sections, after.sections).enumerated() {
            guard was.lines == now.lines else { return nil }
            if was.servers == now.servers { continue }
            guard was.takesServers, let backend = was.name else { return nil }
            let oldServers = Dictionary(was.servers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let newServers = Dictionary(now.servers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            // Two servers of one name: HAProxy refuses the file; a reload says so.
            guard oldServers.count == was.servers.count, newServers.count == now.servers.count else { return nil }
            for server in now.servers {
                let id = "\(backend)/\(server.name)"
                guard let kept = oldServers[server.name] else {
                    guard let arguments = after.addArguments(server, section: index) else { return nil }
                    added.append(.add("add server \(id) \(arguments)"))
                    if server.keywords.contains("check") { added.append(.plain("enable health \(id)")) }
                    added.append(.plain("enable server \(id)"))
                    continue
                }
                guard kept.keywordsWithoutWeight == server.keywordsWithoutWeight else { return nil }
                if kept.address != server.address {
                    guard let (host, port) = ServerLine.ipAndPort(server.address) else { return nil }
                    moved.append(.address("set server \(id) addr \(host) port \(port)"))
                }
                if kept.weight != server.weight {
                    let weight = server.weight ?? 1
                    guard (0...256).contains(weight) else { return nil }
                    let step = Step.plain("set server \(id) weight \(weight)")
                    if weight > kept.weight ?? 1 { raised.append(step) } else { lowered.append(step) }
                }
            }
            for server in was.servers where newServers[server.name] == nil {
                maintenance.append(.plain("set server \(backend)/\(server.name) state maint"))
                deleted.append(.delete("del server \(backend)/\(server.name)"))
            }
        }
        let steps = added + moved + raised + lowered + maintenance + deleted
        guard !steps.isEmpty, steps.count <= maximumSteps else { return nil }
        return RuntimeChanges(steps: steps)
    }
}

/// A `server NAME ADDRESS KEYWORDS…` line.
struct ServerLine: Sendable, Equatable {
    var name: Substring
    var address: Substring
    /// The words after the address.
    var keywords: [Substring]

    /// The line's words after `server`, or nil when it has no address.
    init?(words: [Substring]) {
        guard words.count >= 3, words[0] == "server" else { return nil }
        name = words[1]
        address = words[2]
        keywords = Array(words[3...])
    }

    /// The `weight` (nil when the line has none: HAProxy's default, 1).
    var weight: Int? {
        guard let index = keywords.firstIndex(of: "weight"), index + 1 < keywords.count else { return nil }
        return Int(keywords[index + 1]) ?? -1
    }

    /// The keywords with the weight's value masked.
    var keywordsWithoutWeight: [Substring] {
        var words = keywords
        if let index = words.firstIndex(of: "weight"), index + 1 < words.count { words[index + 1] = "_" }
        return words
    }

    /// Keywords of `server` lines that HAProxy 2.6's `add server` takes, with no value.
    static let flags: Set<Substring> = [
        "check", "send-proxy", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "backup", "ssl", "tfo", "check-ssl",
        "check-send-proxy", "check-via-socks4", "no-ssl-reuse", "allow-0rtt", "tls-tickets", "no-tls-tickets",
    ]
    /// Keywords of `server` lines that HAProxy 2.6's `add server` takes, with one value.
    static let valued: Set<Substring> = [
        "weight", "inter", "fastinter", "downinter", "rise", "fall", "maxconn", "maxqueue", "minconn", "slowstart", "observe",
        "on-error", "on-marked-down", "on-marked-up", "error-limit", "sni", "alpn", "check-alpn", "check-proto", "check-sni", "proto",
        "verify", "verifyhost", "ca-file", "crt", "crl-file", "ciphers", "ciphersuites", "ssl-min-ver", "ssl-max-ver",
        "pool-max-conn", "pool-low-conn", "pool-purge-delay", "proxy-v2-options", "ws",
    ]

    /// The address as `set server … addr` and `add server` take it: an IPv4 or IPv6 literal and a port 1–65535
    /// (`1.2.3.4:80`, `::1:80`, `[::1]:80`); nil for names, unix sockets, port offsets and ranges.
    static func ipAndPort(_ address: Substring) -> (Substring, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = address[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, isIPLiteral(String(host)) else { return nil }
        return (host, port)
    }

    static func isIPLiteral(_ text: String) -> Bool {
        var buffer = (UInt64(0), UInt64(0))
        return [AF_INET, AF_INET6].contains { family in withUnsafeMutableBytes(of: &buffer) { inet_pton(family, text, $0.baseAddress) == 1 } }
    }
}

/// A configuration text cut into sections, each with its lines other than `server` lines (in order) and its
/// `server` lines: two texts whose sections have the same other lines differ only in servers.
struct ParsedConfiguration: Sendable {
    struct Section: Sendable, Equatable {
        /// `backend`, `frontend`, `defaults`…; nil for the lines before the first section.
        var keyword: Substring?
        /// The section's name (its second word).
        var name: Substring?
        /// Whether the header has more words than keyword and name (`backend b from d`).
        var headerHasMore = false
        /// Every line but the `server` lines of a backend or listen section, the header first.
        var lines: [Substring] = []
        /// The `server` lines of a backend or listen section.
        var servers: [ServerLine] = []

        /// Whether its `server` lines are servers of a proxy (those of `peers`, `ring` or `resolvers` sections are not).
        var takesServers: Bool { keyword == "backend" || keyword == "listen" }

        /// The words of its lines whose first word is `keyword`.
        func directives(_ keyword: Substring) -> [[Substring]] {
            lines.compactMap { line in
                let words = ParsedConfiguration.words(line)
                return words.first == keyword ? words : nil
            }
        }
    }

    static let sectionKeywords: Set<Substring> = [
        "global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "mailers", "program", "http-errors",
        "ring", "cache", "fcgi-app",
    ]

    var sections: [Section]

    init(_ text: String) {
        var sections = [Section()]
        for line in GatewaySections.lines(of: text) {
            let words = Self.words(line)
            if let first = words.first, Self.sectionKeywords.contains(first) {
                sections.append(Section(keyword: first, name: words.count > 1 ? words[1] : nil, headerHasMore: words.count > 2, lines: [line]))
                continue
            }
            if words.first == "server", sections[sections.count - 1].takesServers, let server = ServerLine(words: words) {
                sections[sections.count - 1].servers.append(server)
                continue
            }
            sections[sections.count - 1].lines.append(line)
        }
        self.sections = sections
    }

    static func words(_ line: Substring) -> [Substring] {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    }

    /// Load-balancing algorithms with which HAProxy 2.6 takes servers at runtime (the hashes only with
    /// `hash-type consistent`).
    static let dynamicAlgorithms: Set<Substring> = ["roundrobin", "leastconn", "first", "random"]
    static let hashAlgorithms: Set<Substring> = ["source", "uri", "url_param", "hdr", "rdp-cookie", "hash"]

    /// The arguments of `add server` for `server`, new in the section at `index`; nil when HAProxy 2.6 would refuse
    /// it or run it otherwise than the file does after a reload.
    func addArguments(_ server: ServerLine, section index: Int) -> String? {
        let section = sections[index]
        guard !section.headerHasMore, ServerLine.ipAndPort(server.address) != nil else { return nil }
        // The section inherits from the last `defaults` section before it.
        let defaults = sections[..<index].last { $0.keyword == "defaults" }
        func last(_ keyword: Substring) -> [Substring]? { section.directives(keyword).last ?? defaults?.directives(keyword).last }
        let algorithm = last("balance").flatMap { $0.count > 1 ? $0[1] : nil } ?? "roundrobin"
        let consistent = last("hash-type").map { $0.count > 1 && $0[1] == "consistent" } ?? false
        guard Self.dynamicAlgorithms.contains(algorithm) || (consistent && Self.hashAlgorithms.contains(where: { algorithm.hasPrefix($0) })) else { return nil }
        // `default-server` settings do not reach a server added at runtime; `init-addr` only matters for names.
        if !section.directives("default-server").isEmpty { return nil }
        for line in defaults?.directives("default-server") ?? [] {
            guard line.count == 3, line[1] == "init-addr" else { return nil }
        }
        let persists = last("cookie") != nil || section.directives("dynamic-cookie-key").isEmpty == false
        var arguments: [Substring] = [server.address]
        var words = server.keywords[...]
        while let keyword = words.popFirst() {
            if ServerLine.flags.contains(keyword) {
                arguments.append(keyword)
            } else if keyword == "cookie" {
                guard !persists, words.popFirst() != nil else { return nil }
            } else if ServerLine.valued.contains(keyword), let value = words.popFirst() {
                arguments += [keyword, value]
            } else {
                return nil
            }
        }
        return arguments.joined(separator: " ")
    }
}
