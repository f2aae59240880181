/// What a user reads of a set of figures over a window: rates, error rate and response-time percentiles.
public struct PulseSummary: Sendable, Hashable, Codable {
    /// The window, in seconds.
    public var window: Int64
    /// Requests (HTTP) or sessions (TCP) in the window.
    public var requests: UInt64
    /// Requests per second over the window.
    public var rate: Double
    /// Responses by status class.
    public var statuses: [String: UInt64]
    /// The share of 5xx among the responses (0 when there were none).
    public var errorRate: Double
    /// Bytes sent to the clients.
    public var bytes: UInt64
    /// Total time (`Tt`) in milliseconds: mean, p50, p95, p99, max; absent without requests.
    public var responseTime: Times?
    /// The server's response time (`Tr`), for HTTP requests that were answered.
    public var serverTime: Times?

    /// Times in milliseconds.
    public struct Times: Sendable, Hashable, Codable {
        /// Mean.
        public var mean: Double
        /// Median.
        public var p50: Double
        /// 95th percentile.
        public var p95: Double
        /// 99th percentile.
        public var p99: Double
        /// Largest.
        public var max: Double

        init?(_ histogram: LatencyHistogram) {
            guard let mean = histogram.mean, let p50 = histogram.percentile(50), let p95 = histogram.percentile(95),
                  let p99 = histogram.percentile(99), let max = histogram.maximum else { return nil }
            self.mean = (mean * 100).rounded() / 100
            self.p50 = p50
            self.p95 = p95
            self.p99 = p99
            self.max = max
        }
    }

    /// The summary of `figures` over `window` seconds.
    public init(_ figures: PulseFigures, window: Int64) {
        self.window = window
        requests = figures.requests
        rate = window > 0 ? (Double(figures.requests) / Double(window) * 100).rounded() / 100 : 0
        statuses = Dictionary(uniqueKeysWithValues: zip(["1xx", "2xx", "3xx", "4xx", "5xx"], figures.statuses))
        let responses = figures.responses
        errorRate = responses == 0 ? 0 : (Double(figures.serverErrors) / Double(responses) * 10000).rounded() / 10000
        bytes = figures.bytes
        responseTime = Times(figures.totalTime)
        serverTime = Times(figures.serverTime)
    }

    enum CodingKeys: String, CodingKey {
        case window, requests, rate, statuses, bytes
        case errorRate = "error_rate"
        case responseTime = "response_time"
        case serverTime = "server_time"
    }
}
