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
