public import Foundation
public import VampModel

/// The environment a workflow's run gets: what Vamp 0.9.5's workflow driver handed its workflow agent (reference
/// §4.2: `VAMP_URL`, `VAMP_NAMESPACE`, `VAMP_KEY_VALUE_STORE_*`, `VAMP_WORKFLOW_EXECUTION_PERIOD` and `_TIMEOUT`),
/// with `VAMP_WORKFLOW_NAME`, a token of the workflow's own (`VAMP_API_TOKEN`), the CA file of an HTTPS API
/// (`VAMP_CA_FILE`) and, for an event run, the event
/// (`VAMP_WORKFLOW_EVENT`, JSON). The breed's variables with values come first, the workflow's
/// `environment_variables` override them, and Vamp's own come last, so a workflow cannot point another workflow's
/// token or name at itself. A pure function.
public enum WorkflowEnvironment {
    /// What the server knows that every run gets.
    public struct Server: Sendable, Hashable {
        /// The API's address, as workflows reach it (`http://127.0.0.1:8080`).
        public var url: String
        /// The namespace.
        public var namespace: String
        /// `VAMP_KEY_VALUE_STORE_TYPE`, `_CONNECTION`, `_PATH`, when the server has a KV store.
        public var keyValueStore: KeyValueStore?
        /// `VAMP_CA_FILE`: the CA certificate a workflow verifies the API's TLS certificate with, when the API is
        /// served over HTTPS with a certificate of a private CA.
        public var caFile: String?

        public init(url: String, namespace: String, keyValueStore: KeyValueStore? = nil, caFile: String? = nil) {
            self.url = url
            self.namespace = namespace
            self.keyValueStore = keyValueStore
            self.caFile = caFile
        }
    }

    /// The server's key-value store, as workflows reach it; each workflow's path is `<path>/workflows/<name>`.
    public struct KeyValueStore: Sendable, Hashable {
        public var type: String
        public var connection: String
        public var path: String

        public init(type: String, connection: String, path: String) {
            self.type = type
            self.connection = connection
            self.path = path
        }
    }

    /// The variables of one run.
    /// - Parameters:
    ///   - workflow: the workflow, whose `environment_variables` override the breed's.
    ///   - breed: its breed, whose variables with values come first.
    ///   - server: what the server says of itself.
    ///   - period: the `time` schedule's period in seconds (0 for daemon and event workflows, as the original's
    ///     "run once").
    ///   - timeout: the run's timeout in seconds.
    ///   - token: the workflow's token, when the server has one for it.
    ///   - event: the event that started the run, as JSON.
    public static func make(
        workflow: Workflow, breed: Breed, server: Server, period: Int, timeout: Int, token: String?, event: String?
    ) -> [String: String] {
        var environment: [String: String] = [:]
        for variable in breed.environmentVariables {
            if let value = variable.value { environment[variable.name] = substitute(value, workflow: workflow.name) }
        }
        for variable in workflow.environmentVariables {
            if let value = variable.value { environment[variable.name] = substitute(value, workflow: workflow.name) }
        }
        environment["VAMP_URL"] = server.url
        environment["VAMP_NAMESPACE"] = server.namespace
        environment["VAMP_WORKFLOW_NAME"] = workflow.name
        environment["VAMP_WORKFLOW_EXECUTION_PERIOD"] = String(period)
        environment["VAMP_WORKFLOW_EXECUTION_TIMEOUT"] = String(timeout)
        if let store = server.keyValueStore {
            environment["VAMP_KEY_VALUE_STORE_TYPE"] = store.type
            environment["VAMP_KEY_VALUE_STORE_CONNECTION"] = store.connection
            environment["VAMP_KEY_VALUE_STORE_PATH"] = store.path + "/workflows/" + workflow.name
        }
        environment["VAMP_CA_FILE"] = server.caFile
        environment["VAMP_API_TOKEN"] = token
        environment["VAMP_WORKFLOW_EVENT"] = event
        return environment
    }

    /// The timeout of a run: the workflow's `VAMP_WORKFLOW_EXECUTION_TIMEOUT` (seconds, as the original's examples
    /// set it), else `fallback`.
    public static func timeout(of workflow: Workflow, fallback: Int) -> Int {
        guard let text = workflow.environmentVariables.first(where: { $0.name == "VAMP_WORKFLOW_EXECUTION_TIMEOUT" })?.value,
              let seconds = Int(text.trimmingCharacters(in: .whitespaces)), seconds > 0
        else { return fallback }
        return seconds
    }

    /// `$workflow` (and `${workflow}`) in a value becomes the workflow's name, as in the original.
    static func substitute(_ value: String, workflow: String) -> String {
        value.replacingOccurrences(of: "${workflow}", with: workflow).replacingOccurrences(of: "$workflow", with: workflow)
    }
}
