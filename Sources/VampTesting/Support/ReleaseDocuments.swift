/// Release documents for the tests' deployment `sava` (its cluster `web` and port `web`, so the gateway
/// `sava/web/web`), as the end-to-end, CLI, client and UI tests write them.
public enum ReleaseDocuments {
    /// `kind: release` named `name`, `canary` against `baseline`, followed by `lines` (steps, step, checks, ...).
    public static func sava(_ name: String, baseline: String = "sava:1.0", canary: String = "sava:1.1", _ lines: String) -> String {
        """
        kind: release
        name: \(name)
        deployment: sava
        cluster: web
        port: web
        baseline: \(baseline)
        canary: \(canary)
        \(lines)
        """
    }
}
