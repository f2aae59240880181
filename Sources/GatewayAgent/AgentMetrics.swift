import Foundation
import Synchronization

/// Counters of a gateway agent, exported as Prometheus text on `/metrics`.
public final class AgentMetrics: Sendable {
    /// A snapshot of the counters.
    public struct Snapshot: Sendable {
        /// Configurations received from the KV store.
        public var updates = 0
        /// Updates whose composed text equalled the running one (no reload).
        public var unchanged = 0
        /// Successful reloads.
        public var reloads = 0
        /// Configurations `haproxy -c` refused.
        public var failedValidations = 0
        /// Reloads whose new worker did not come up (rolled back).
        public var failedReloads = 0
        /// Times HAProxy was (re)started after it died.
        public var haproxyStarts = 0
        /// Sum and count of reload durations (KV value → new worker serving), seconds.
        public var reloadSecondsSum = 0.0
        /// Duration of the last reload, seconds.
        public var lastReloadSeconds = 0.0
        /// Log lines received from HAProxy.
        public var logLinesReceived = 0
        /// Log lines sent to Logstash.
        public var logLinesForwarded = 0
        /// Log lines dropped (buffer full or Logstash unreachable).
        public var logLinesDropped = 0
        /// The last error (validation or reload), if the last apply failed.
        public var lastError: String?
        /// Whether HAProxy is running.
        public var haproxyRunning = false
        /// Optional parts (log forwarder, status server) that failed, with their error.
        public var failedServices: [String: String] = [:]
        /// Whether the store's watch of the key ended (the agent then stops with an error).
        public var watchEnded = false
        /// Datagrams HAProxy truncated (no complete JSON line): counted, not forwarded.
        public var logLinesTruncated = 0
        /// Failed attempts to reach the KV store (each is followed by a retry with backoff).
        public var storeErrors = 0
        /// Whether the KV store answered the watch's last attempt; nil before the first attempt ended.
        public var storeReachable: Bool?
        /// The store's last error while it is unreachable.
        public var storeError: String?
        /// Failed attempts since the store was last reachable.
        public var outageFailures = 0
        /// The wait before the last restart of HAProxy, seconds.
        public var lastRestartDelaySeconds = 0.0
    }

    private let state = Mutex(Snapshot())

    /// Creates zeroed counters.
    public init() {}

    /// The current counters.
    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ body: (inout Snapshot) -> Void) { state.withLock { body(&$0) } }

    /// Prometheus text exposition format.
    public func prometheus() -> String {
        let s = snapshot
        let rows: [(String, String, String, Double)] = [
            ("vamp_gateway_agent_updates_total", "counter", "configurations received from the KV store", Double(s.updates)),
            ("vamp_gateway_agent_unchanged_total", "counter", "updates equal to the running configuration", Double(s.unchanged)),
            ("vamp_gateway_agent_reloads_total", "counter", "successful HAProxy reloads", Double(s.reloads)),
            ("vamp_gateway_agent_failed_validations_total", "counter", "configurations refused by haproxy -c", Double(s.failedValidations)),
            ("vamp_gateway_agent_failed_reloads_total", "counter", "reloads rolled back because the new worker did not start", Double(s.failedReloads)),
            ("vamp_gateway_agent_haproxy_starts_total", "counter", "HAProxy starts, including restarts after it died", Double(s.haproxyStarts)),
            ("vamp_gateway_agent_reload_duration_seconds_sum", "counter", "total time from update to new worker", s.reloadSecondsSum),
            ("vamp_gateway_agent_last_reload_duration_seconds", "gauge", "time from update to new worker of the last reload", s.lastReloadSeconds),
            ("vamp_gateway_agent_log_lines_received_total", "counter", "log lines received from HAProxy", Double(s.logLinesReceived)),
            ("vamp_gateway_agent_log_lines_forwarded_total", "counter", "log lines sent to Logstash", Double(s.logLinesForwarded)),
            ("vamp_gateway_agent_log_lines_dropped_total", "counter", "log lines dropped (buffer full or Logstash away)", Double(s.logLinesDropped)),
            ("vamp_gateway_agent_log_lines_truncated_total", "counter", "log lines HAProxy truncated (not forwarded)", Double(s.logLinesTruncated)),
            ("vamp_gateway_agent_failed_services", "gauge", "optional parts (log forwarder, status server) that failed", Double(s.failedServices.count)),
            ("vamp_gateway_agent_store_errors_total", "counter", "failed attempts to reach the KV store", Double(s.storeErrors)),
            ("vamp_gateway_agent_store_reachable", "gauge", "1 when the KV store answered the last attempt", s.storeReachable == true ? 1 : 0),
            ("vamp_gateway_agent_haproxy_restart_delay_seconds", "gauge", "wait before the last HAProxy restart", s.lastRestartDelaySeconds),
            ("vamp_gateway_agent_haproxy_up", "gauge", "1 when HAProxy runs", s.haproxyRunning ? 1 : 0),
            ("vamp_gateway_agent_last_apply_failed", "gauge", "1 when the last configuration could not be applied", s.lastError == nil ? 0 : 1),
        ]
        return rows.map { name, type, help, value in
            "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value == value.rounded() ? String(Int64(value)) : String(value))\n"
        }.joined()
    }
}
