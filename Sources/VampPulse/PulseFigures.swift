/// Where HAProxy counted requests: a frontend, the backend it chose and the server of that backend, as HAProxy
/// names them in the log (`ft`, `b`, `s`). For Vamp's configuration, frontend `G` (a gateway's lookup name) counts
/// the gateway's requests, frontend `R` (a route's) the route's, and within it server `T` an instance's.
public struct PulseKey: Sendable, Hashable, Codable, Comparable {
    /// `ft`.
    public var frontend: String
    /// `b`.
    public var backend: String
    /// `s`.
    public var server: String

    /// Creates a key.
    public init(frontend: String, backend: String, server: String) {
        self.frontend = frontend
        self.backend = backend
        self.server = server
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case frontend = "ft", backend = "b", server = "s"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try AnyKey.refuseUnknown(in: container, known: CodingKeys.allCases.map(\.rawValue))
        let keyed = try decoder.container(keyedBy: CodingKeys.self)
        frontend = try AnyKey.name(keyed, .frontend)
        backend = try AnyKey.name(keyed, .backend)
        server = try AnyKey.name(keyed, .server)
    }

    public static func < (lhs: PulseKey, rhs: PulseKey) -> Bool {
        (lhs.frontend, lhs.backend, lhs.server) < (rhs.frontend, rhs.backend, rhs.server)
    }
}

/// The figures of a set of requests: counts by status class, bytes, and their times as histograms. Figures merge
/// exactly (``add(_:)``): counts add, histograms add.
public struct PulseFigures: Sendable, Hashable, Codable {
    /// Requests (HTTP) or sessions (TCP).
    public var requests: UInt64 = 0
    /// Responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`; TCP sessions and statuses outside 100–599 (HAProxy's
    /// `-1` for no answer) are in none of them.
    public var statuses: [UInt64] = [0, 0, 0, 0, 0]
    /// Bytes sent to the clients.
    public var bytes: UInt64 = 0
    /// `Tt`, total time of each request (or session), in milliseconds.
    public var totalTime = LatencyHistogram()
    /// `Tr`, the server's response time of each HTTP request that got an answer, in milliseconds.
    public var serverTime = LatencyHistogram()

    /// No requests.
    public init() {}

    /// Counts one request.
    public mutating func record(_ record: LogRecord) {
        requests += 1
        if let status = record.status, (100...599).contains(status) { statuses[status / 100 - 1] += 1 }
        bytes += UInt64(max(0, record.bytes))
        totalTime.record(milliseconds: record.totalTime)
        if let serverTime = record.serverTime { self.serverTime.record(milliseconds: serverTime) }
    }

    /// Adds every request of `other`.
    public mutating func add(_ other: PulseFigures) {
        requests += other.requests
        for index in 0..<min(statuses.count, other.statuses.count) { statuses[index] += other.statuses[index] }
        bytes += other.bytes
        totalTime.add(other.totalTime)
        serverTime.add(other.serverTime)
    }

    /// Responses with a 5xx status.
    public var serverErrors: UInt64 { statuses.count == 5 ? statuses[4] : 0 }

    /// Responses with any status (HTTP), the denominator of the error rate.
    public var responses: UInt64 { statuses.reduce(0, +) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case requests, statuses, bytes
        case totalTime = "Tt", serverTime = "Tr"
    }

    /// The largest count one bucket's figures may carry (requests, a status class, bytes, a histogram entry): one
    /// agent's second never comes near it, and sums over a window of many agents stay far from overflowing.
    public static let maximumCount = UInt64(UInt32.max)

    public init(from decoder: any Decoder) throws {
        try AnyKey.refuseUnknown(in: try decoder.container(keyedBy: AnyKey.self), known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requests = try container.decode(UInt64.self, forKey: .requests)
        statuses = try container.decode([UInt64].self, forKey: .statuses)
        guard statuses.count == 5 else {
            throw DecodingError.dataCorruptedError(forKey: .statuses, in: container, debugDescription: "statuses are five counts: 1xx to 5xx")
        }
        bytes = try container.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
        for (key, value) in [(CodingKeys.requests, requests), (.bytes, bytes)] + statuses.map({ (CodingKeys.statuses, $0) }) where value > Self.maximumCount {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "a count is at most \(Self.maximumCount)")
        }
        totalTime = try container.decodeIfPresent(LatencyHistogram.self, forKey: .totalTime) ?? LatencyHistogram()
        serverTime = try container.decodeIfPresent(LatencyHistogram.self, forKey: .serverTime) ?? LatencyHistogram()
    }
}

/// What one agent counted in one second: the figures per ``PulseKey``, the lines it could not read, and how many
/// requests HAProxy itself counted per frontend over the same time (`show stat`), so a line lost between HAProxy and
/// the agent shows up as a difference. What the agents send to `vamp-server`.
public struct PulseBucket: Sendable, Hashable, Codable {
    /// The agent that counted, unique among the agents of a namespace (its name, host and work directory).
    public var agent: String
    /// The second the bucket covers, as seconds since 1970 (UTC) on the agent's clock.
    public var second: Int64
    /// The figures per key, sorted by key.
    public var entries: [Entry]
    /// Lines received that were not one of HAProxy's JSON log lines (cut, garbled, unknown format).
    public var unparsed: UInt64
    /// Requests HAProxy counted per frontend in this second (its `req_tot`, or `stot` for TCP), when the agent reads
    /// HAProxy's counters; `nil` when it does not.
    public var haproxyCounts: [String: UInt64]?

    /// Figures under a key.
    public struct Entry: Sendable, Hashable, Codable {
        /// Where the requests were counted.
        public var key: PulseKey
        /// Their figures.
        public var figures: PulseFigures

        enum CodingKeys: String, CodingKey, CaseIterable { case key, figures }

        public init(from decoder: any Decoder) throws {
            try AnyKey.refuseUnknown(in: try decoder.container(keyedBy: AnyKey.self), known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            key = try container.decode(PulseKey.self, forKey: .key)
            figures = try container.decode(PulseFigures.self, forKey: .figures)
        }

        /// Creates an entry.
        public init(key: PulseKey, figures: PulseFigures) {
            self.key = key
            self.figures = figures
        }
    }

    /// Creates a bucket.
    public init(agent: String, second: Int64, entries: [Entry], unparsed: UInt64 = 0, haproxyCounts: [String: UInt64]? = nil) {
        self.agent = agent
        self.second = second
        self.entries = entries
        self.unparsed = unparsed
        self.haproxyCounts = haproxyCounts
    }

    /// Requests in every entry.
    public var requests: UInt64 { entries.reduce(0) { $0 + $1.figures.requests } }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case agent, second, entries, unparsed
        case haproxyCounts = "haproxy_counts"
    }

    public init(from decoder: any Decoder) throws {
        try AnyKey.refuseUnknown(in: try decoder.container(keyedBy: AnyKey.self), known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        agent = try AnyKey.name(container, .agent)
        second = try container.decode(Int64.self, forKey: .second)
        entries = try container.decode([Entry].self, forKey: .entries)
        unparsed = try container.decode(UInt64.self, forKey: .unparsed)
        haproxyCounts = try container.decodeIfPresent([String: UInt64].self, forKey: .haproxyCounts)
        if unparsed > PulseFigures.maximumCount || (haproxyCounts?.values.contains { $0 > PulseFigures.maximumCount } ?? false) {
            throw DecodingError.dataCorruptedError(forKey: .unparsed, in: container, debugDescription: "a count is at most \(PulseFigures.maximumCount)")
        }
    }
}

/// Any key of a JSON object, to refuse the ones a type does not know: what an agent sends is read strictly, so a
/// misspelt or foreign field is an error naming it, never a figure quietly lost.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    /// The longest name: HAProxy's names are 40-character hashes, an agent's name a host and a folder.
    static let maximumNameLength = 512

    /// A name of printable ASCII, at most ``maximumNameLength`` bytes.
    static func name<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> String {
        let name = try container.decode(String.self, forKey: key)
        guard name.utf8.count <= maximumNameLength, name.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "a name is printable ASCII of at most \(maximumNameLength) bytes")
        }
        return name
    }

    static func refuseUnknown(in container: KeyedDecodingContainer<AnyKey>, known: [String]) throws {
        if let unknown = container.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(
                forKey: unknown, in: container, debugDescription: "unknown field '\(unknown.stringValue)'; the fields are \(known.joined(separator: ", "))")
        }
    }
}
