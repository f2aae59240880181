#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
package import Subprocess

/// The environment a child process gets: built for it, never the parent's whole environment, so that settings given as
/// `VAMP_*` variables (a Kubernetes bearer token, a Marathon password, a registry password, API tokens) stay in the
/// process that read them.
public enum ChildEnvironment {
    /// The variables a child keeps from its parent: where programs are (`PATH`), the home folder (`HOME`), the
    /// language and time zone (`LANG`, `LANGUAGE`, `LC_*`, `TZ`). Nothing else: no `VAMP_*`, no `DOCKER_HOST`, no
    /// `KUBERNETES_*`, no credentials another tool left.
    public static func base(from parent: [String: String]) -> [String: String] {
        parent.filter { key, _ in keeps(key) }
    }

    /// ``base(from:)`` of this process's environment.
    public static var base: [String: String] { base(from: ProcessInfo.processInfo.environment) }

    /// Whether a child keeps the parent's variable `name`.
    public static func keeps(_ name: String) -> Bool {
        ["PATH", "HOME", "LANG", "LANGUAGE", "TZ"].contains(name) || name.hasPrefix("LC_")
    }
}

extension ChildEnvironment {
    /// ``base`` as swift-subprocess takes it.
    package static var subprocess: Subprocess.Environment {
        .custom(Dictionary(uniqueKeysWithValues: base.compactMap { key, value in Subprocess.Environment.Key(rawValue: key).map { ($0, value) } }))
    }
}
