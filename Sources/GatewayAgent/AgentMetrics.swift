#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Metrics
import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory
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
        /// Changes of weights only, applied to the running worker without a reload.
        public var weightUpdates = 0
        /// Changes of the servers of backends (added, removed, moved; weights with them), applied to the running worker
        /// through the runtime API without a reload.
        public var serverUpdates = 0
        /// Changes the runtime API did not take (a step refused, a removed server still busy after the drain
        /// timeout), applied by a reload instead.
        public var runtimeFallbacks = 0
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
        /// The KV value HAProxy runs now (the last one applied, or found running): a server that embeds the agent
        /// compares it with what it renders to tell whether a change is live.
        public var appliedConfiguration: String?
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
        /// Why HAProxy did not start the last time it was started (its alerts), until it runs.
        public var haproxyStartError: String?
        /// The gateways of the applied text that HAProxy does not serve (a port it cannot bind, sections it
        /// refuses), with why; the other gateways are applied.
        public var leftOutGateways: [String: String] = [:]
        /// Applies tried again after one failed or left a gateway out.
        public var applyRetries = 0
        /// Take-overs of a master left running that needed no reload (it ran the file on disk).
        public var takeoversWithoutReload = 0
        /// HAProxy's own messages received on the log path (a notice such as `Proxy … stopped` after a reload), not
        /// request lines.
        public var logNotices = 0
        /// Pulse: the agent's name in its buckets while Pulse runs, nil when it is off.
        public var pulseAgent: String?
        /// Pulse: log lines read, requests and lines that did not read.
        public var pulseLines = 0
        /// Pulse: lines that were not one of HAProxy's JSON log lines (garbled, cut at `len`, not a log line).
        public var pulseUnparsed = 0
        /// Pulse: one-second buckets closed.
        public var pulseBuckets = 0
        /// Pulse: buckets handed over (taken by the in-process sink, or by `vamp-server` with a 2xx).
        public var pulseBucketsSent = 0
        /// Pulse: sends to `vamp-server` that failed; their buckets wait and are sent again.
        public var pulseSendFailures = 0
        /// Pulse: buckets dropped from the full backlog while `vamp-server` did not take them.
        public var pulseBucketsDropped = 0
        /// Pulse: buckets `vamp-server` answered it refused (a second too old or too far ahead of its clock).
        public var pulseBucketsRefused = 0
        /// Pulse: buckets waiting to be sent.
        public var pulseBacklog = 0
        /// Pulse: the last send's error, until a send succeeds.
        public var pulseSendError: String?
        /// Requests HAProxy counted (the growth of its `req_tot`, `stot` for TCP) on the frontends it serves, since
        /// the agent started.
        public var haproxyRequests = 0
        /// Pulse's lines on the same frontends over the same time.
        public var pulseCountedRequests = 0
        /// HAProxy's count less Pulse's, per frontend where they differ now (at most 20, the largest).
        public var pulseDifferences: [String: Int] = [:]
        /// Reads of HAProxy's counters that failed (the master did not answer).
        public var haproxyCounterReadFailures = 0
        /// Log lines HAProxy could not send since the agent started (its `DroppedLogs`: the log socket's queue was
        /// full), read with its counters.
        public var haproxyDroppedLines = 0
    }

    private let state = Mutex(Snapshot())
    /// The Prometheus registry `/metrics` renders; the agent's counters reach it through
    /// swift-metrics (a `PrometheusMetricsFactory` on this registry, not the global one, so two
    /// agents in one process keep their own figures).
    let registry = PrometheusCollectorRegistry()
    private let counters: [(@Sendable (Snapshot) -> Int, Counter)]
    private let floatingCounters: [(@Sendable (Snapshot) -> Double, FloatingPointCounter)]
    private let gauges: [(@Sendable (Snapshot) -> Double, Meter)]

    /// Creates zeroed counters.
    public init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        func counter(_ name: String, _ value: @escaping @Sendable (Snapshot) -> Int) -> (@Sendable (Snapshot) -> Int, Counter) {
            (value, Counter(label: "vamp_gateway_agent_" + name, factory: factory))
        }
        func gauge(_ name: String, _ value: @escaping @Sendable (Snapshot) -> Double) -> (@Sendable (Snapshot) -> Double, Meter) {
            (value, Meter(label: "vamp_gateway_agent_" + name, factory: factory))
        }
        counters = [
            counter("updates_total") { $0.updates },
            counter("unchanged_total") { $0.unchanged },
            counter("reloads_total") { $0.reloads },
            counter("weight_updates_total") { $0.weightUpdates },
            counter("server_updates_total") { $0.serverUpdates },
            counter("runtime_fallbacks_total") { $0.runtimeFallbacks },
            counter("failed_validations_total") { $0.failedValidations },
            counter("failed_reloads_total") { $0.failedReloads },
            counter("haproxy_starts_total") { $0.haproxyStarts },
            counter("log_lines_received_total") { $0.logLinesReceived },
            counter("log_lines_forwarded_total") { $0.logLinesForwarded },
            counter("log_lines_dropped_total") { $0.logLinesDropped },
            counter("log_lines_truncated_total") { $0.logLinesTruncated },
            counter("store_errors_total") { $0.storeErrors },
            counter("apply_retries_total") { $0.applyRetries },
            counter("takeovers_without_reload_total") { $0.takeoversWithoutReload },
            counter("log_notices_total") { $0.logNotices },
            counter("log_lines_parsed_total") { $0.pulseLines - $0.pulseUnparsed },
            counter("log_lines_unparsed_total") { $0.pulseUnparsed },
            counter("pulse_buckets_total") { $0.pulseBuckets },
            counter("pulse_buckets_sent_total") { $0.pulseBucketsSent },
            counter("pulse_send_failures_total") { $0.pulseSendFailures },
            counter("pulse_buckets_dropped_total") { $0.pulseBucketsDropped },
            counter("pulse_buckets_refused_total") { $0.pulseBucketsRefused },
            counter("pulse_haproxy_requests_total") { $0.haproxyRequests },
            counter("pulse_counted_requests_total") { $0.pulseCountedRequests },
            counter("pulse_counter_read_failures_total") { $0.haproxyCounterReadFailures },
            counter("pulse_haproxy_dropped_lines_total") { $0.haproxyDroppedLines },
        ]
        floatingCounters = [
            ({ @Sendable (snapshot: Snapshot) in snapshot.reloadSecondsSum }, FloatingPointCounter(label: "vamp_gateway_agent_reload_duration_seconds_sum", factory: factory)),
        ]
        gauges = [
            gauge("last_reload_duration_seconds") { $0.lastReloadSeconds },
            gauge("failed_services") { Double($0.failedServices.count) },
            gauge("store_reachable") { $0.storeReachable == true ? 1 : 0 },
            gauge("haproxy_restart_delay_seconds") { $0.lastRestartDelaySeconds },
            gauge("haproxy_up") { $0.haproxyRunning ? 1 : 0 },
            gauge("last_apply_failed") { $0.lastError == nil ? 0 : 1 },
            gauge("gateways_left_out") { Double($0.leftOutGateways.count) },
            gauge("pulse_backlog_buckets") { Double($0.pulseBacklog) },
            gauge("pulse_uncounted_requests") { Double($0.haproxyRequests - $0.pulseCountedRequests) },
        ]
        publish(from: nil, to: Snapshot())
    }

    /// The current counters.
    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { snapshot in
            let old = snapshot
            body(&snapshot)
            // Under the lock, so two updates reach the exporter in their order.
            publish(from: old, to: snapshot)
        }
    }

    /// Passes a change to swift-metrics: counters by their increase, gauges by their value.
    private func publish(from old: Snapshot?, to new: Snapshot) {
        for (value, counter) in counters {
            let increase = value(new) - (old.map { value($0) } ?? 0)
            if increase > 0 { counter.increment(by: increase) }
        }
        for (value, counter) in floatingCounters {
            let increase = value(new) - (old.map { value($0) } ?? 0)
            if increase > 0 { counter.increment(by: increase) }
        }
        for (value, meter) in gauges where old.map({ value($0) }) != value(new) || old == nil { meter.set(value(new)) }
    }

    /// Prometheus text exposition format, from the registry.
    public func prometheus() -> String { registry.emitToString() }
}
