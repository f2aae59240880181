/// The `pulse` part of the agent's `/health`: what Pulse read, handed over and could not, and HAProxy's count of
/// requests beside the lines counted (in total since the agent started, and per frontend where they differ now).
/// Informational: it never makes `/health` 503 (Pulse is optional, HAProxy serves without it).
struct PulseHealth: Encodable {
    var agent: String
    var lines: Int
    var unparsed: Int
    var truncated: Int
    var buckets: Int
    var sent: Int
    var sendFailures: Int
    var dropped: Int
    var refused: Int
    var backlog: Int
    var sendError: String?
    var haproxyRequests: Int
    var countedRequests: Int
    var uncounted: Int
    var uncountedByFrontend: [String: Int]
    var haproxyDroppedLines: Int

    init?(_ snapshot: AgentMetrics.Snapshot) {
        guard let agent = snapshot.pulseAgent else { return nil }
        self.agent = agent
        lines = snapshot.pulseLines
        unparsed = snapshot.pulseUnparsed
        truncated = snapshot.logLinesTruncated
        buckets = snapshot.pulseBuckets
        sent = snapshot.pulseBucketsSent
        sendFailures = snapshot.pulseSendFailures
        dropped = snapshot.pulseBucketsDropped
        refused = snapshot.pulseBucketsRefused
        backlog = snapshot.pulseBacklog
        sendError = snapshot.pulseSendError
        haproxyRequests = snapshot.haproxyRequests
        countedRequests = snapshot.pulseCountedRequests
        uncounted = snapshot.haproxyRequests - snapshot.pulseCountedRequests
        uncountedByFrontend = snapshot.pulseDifferences
        haproxyDroppedLines = snapshot.haproxyDroppedLines
    }

    enum CodingKeys: String, CodingKey {
        case agent, lines, unparsed, truncated, buckets, sent, dropped, refused, backlog, uncounted
        case sendFailures = "send_failures"
        case sendError = "send_error"
        case haproxyRequests = "haproxy_requests"
        case countedRequests = "counted_requests"
        case uncountedByFrontend = "uncounted_by_frontend"
        case haproxyDroppedLines = "haproxy_dropped_lines"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agent, forKey: .agent)
        try container.encode(lines, forKey: .lines)
        try container.encode(unparsed, forKey: .unparsed)
        try container.encode(truncated, forKey: .truncated)
        try container.encode(buckets, forKey: .buckets)
        try container.encode(sent, forKey: .sent)
        try container.encode(sendFailures, forKey: .sendFailures)
        try container.encode(dropped, forKey: .dropped)
        try container.encode(refused, forKey: .refused)
        try container.encode(backlog, forKey: .backlog)
        try container.encode(sendError, forKey: .sendError)
        try container.encode(haproxyRequests, forKey: .haproxyRequests)
        try container.encode(countedRequests, forKey: .countedRequests)
        try container.encode(uncounted, forKey: .uncounted)
        try container.encode(uncountedByFrontend, forKey: .uncountedByFrontend)
        try container.encode(haproxyDroppedLines, forKey: .haproxyDroppedLines)
    }
}
