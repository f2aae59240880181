/// Key validation and Vamp's key layout.
public enum KeyPath {
    /// Vamp's base path for a namespace: `/vamp/<namespace>`.
    public static func base(namespace: String) -> String { "/vamp/\(namespace)" }

    /// The key holding the JSON list of all gateways: `/vamp/<namespace>/gateways`.
    public static func gateways(namespace: String) -> String { base(namespace: namespace) + "/gateways" }

    /// The key holding the rendered HAProxy configuration that gateway agents watch:
    /// `/vamp/<namespace>/gateways/haproxy/<version>/configuration`.
    public static func haproxyConfiguration(namespace: String, version: String) -> String {
        gateways(namespace: namespace) + "/haproxy/\(version)/configuration"
    }

    /// Checks that `key` is an absolute path (`/a/b`) with no empty, `.` or `..` component and
    /// no control characters. `/` itself is valid only when `allowRoot` is true.
    /// Checks that `key` can be used with every store: an absolute `/`-separated path without empty, `.` or
    /// `..` components or control characters. Throws `invalidKey` saying which rule it breaks.
    public static func validate(_ key: String) throws(KeyValueStoreError) {
        try validate(key, server: "configuration")
    }

    static func validate(_ key: String, server: String, allowRoot: Bool = false) throws(KeyValueStoreError) {
        func fail(_ why: String) -> KeyValueStoreError {
            KeyValueStoreError(
                .invalidKey, "\(why); keys look like /vamp/<namespace>/gateways", server: server, key: key)
        }
        if key == "/" {
            if allowRoot { return }
            throw fail("the root / cannot hold a value")
        }
        guard key.hasPrefix("/") else { throw fail("a key must start with /") }
        guard !key.hasSuffix("/") else { throw fail("a key must not end with /") }
        for part in key.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty { throw fail("a key must not contain an empty component (//)") }
            if part == "." || part == ".." { throw fail("a key must not contain . or .. components") }
        }
        if key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw fail("a key must not contain control characters")
        }
    }

    /// The direct children names of `parent` among `keys` (full keys), sorted and unique.
    static func childNames<S: Sequence<String>>(of parent: String, in keys: S) -> [String] {
        let prefix = parent == "/" ? "/" : parent + "/"
        var names = Set<String>()
        for key in keys where key.hasPrefix(prefix) && key.count > prefix.count {
            let rest = key.dropFirst(prefix.count)
            names.insert(String(rest.split(separator: "/", maxSplits: 1)[0]))
        }
        return names.sorted()
    }

    /// The parent paths of `key`, outermost first: `/a/b/c` → `/a`, `/a/b`.
    static func parents(of key: String) -> [String] {
        var result: [String] = []
        var path = ""
        let parts = key.dropFirst().split(separator: "/")
        for part in parts.dropLast() {
            path += "/" + part
            result.append(path)
        }
        return result
    }
}

/// The largest values the stores accept with their servers' default settings.
enum ValueLimit {
    /// etcd's `--max-request-bytes` default (1.5 MiB), less room for the key and the request's framing.
    static func etcd(key: String) -> Int { 1_572_864 - key.utf8.count - 1024 }
    /// ZooKeeper's `jute.maxbuffer` default (1 MiB − 1), less room for the path and the packet's framing.
    static func zooKeeper(key: String) -> Int { 1_048_575 - key.utf8.count - 1024 }
    /// Consul's limit on one KV value (512 KiB).
    static let consul = 524_288

    /// Throws `valueTooLarge` naming the size, the limit and what to do, before the value is sent: the
    /// servers' own answers to an oversized request (a dropped connection, `EOF`, a gRPC error) do not say so.
    static func check(_ value: [UInt8], limit: Int, store: String, server: String, key: String) throws(KeyValueStoreError) {
        guard value.count > limit else { return }
        throw KeyValueStoreError(
            .valueTooLarge,
            "the value is \(value.count) bytes; \(store) accepts at most \(limit) bytes under this key. Fewer gateways per key, or a store with a larger limit (see Documentation/kvstores.md)",
            server: server, key: key)
    }
}

