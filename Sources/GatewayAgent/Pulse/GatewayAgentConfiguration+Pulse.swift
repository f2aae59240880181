public import Foundation
public import VampPulse

extension GatewayAgentConfiguration {
    /// Pulse on the agent's side: every log line HAProxy sends to the agent's log receiver is parsed where it arrives
    /// and counted per frontend, backend and server in one-second buckets (`VampPulse.PulseAggregator`); once a second
    /// the agent reads HAProxy's own request counters (`show stat` through the master CLI), adds their growth to the
    /// bucket, closes the buckets of past seconds and hands them to ``sink`` (in-process) or ``server`` (HTTP).
    public struct Pulse: Sendable {
        /// Whether the agent aggregates its log lines (default `true`). `false`: lines are only forwarded to Logstash,
        /// the baseline Pulse's cost is measured against.
        public var enabled: Bool
        /// The agent's name in its buckets (default: the host's name); each run's buckets carry
        /// `<name>:<work directory>#<start time in ms>`, unique per agent run.
        public var name: String?
        /// Where the buckets go in-process (`vamp-server`'s embedded agent): called once a second with the buckets of
        /// the seconds past, oldest first, from the agent's Pulse loop; the next second waits for it to return.
        public var sink: (@Sendable ([PulseBucket]) async -> Void)?
        /// Where a separate agent sends its buckets: `POST <url>/api/v1/pulse`. Used when ``sink`` is nil.
        public var server: PulseServer?
        /// How many seconds of buckets wait while the server does not take them (60); older ones are dropped first
        /// and counted (`vamp_gateway_agent_pulse_buckets_dropped_total`).
        public var backlogSeconds: Int
        /// Whether HAProxy's own counters are read each second and put beside the lines (default `true`): a line lost
        /// on the way is then a difference in `/metrics` and in the server's accounting.
        public var readsHAProxyCounters: Bool
        /// The clock of the buckets' seconds and of the once-a-second loop.
        package var clock: any PulseClock = SystemPulseClock()

        /// Creates Pulse settings.
        public init(
            enabled: Bool = true, name: String? = nil, sink: (@Sendable ([PulseBucket]) async -> Void)? = nil, server: PulseServer? = nil,
            backlogSeconds: Int = 60, readsHAProxyCounters: Bool = true
        ) {
            self.enabled = enabled
            self.name = name
            self.sink = sink
            self.server = server
            self.backlogSeconds = backlogSeconds
            self.readsHAProxyCounters = readsHAProxyCounters
        }
    }

    /// The `vamp-server` a separate agent sends its buckets to.
    public struct PulseServer: Sendable {
        /// The server's base URL (`http://vamp:8080`); the buckets go to `<url>/api/v1/pulse`.
        public var url: String
        /// A token with the `agent` role, sent as `Authorization: Bearer`; wins over ``tokenFile``.
        public var token: String?
        /// A file holding the token, read before each send (so a rotated token is picked up).
        public var tokenFile: String?
        /// How long one send may take before it counts as failed and its buckets wait for the next.
        public var timeout: Duration
        /// The PEM file of the CA certificate that signed the server's (an `https://` URL): the only one trusted.
        /// `nil`: the system's trusted CAs.
        public var caFile: String?

        /// Creates a destination.
        public init(url: String, token: String? = nil, tokenFile: String? = nil, timeout: Duration = .seconds(5), caFile: String? = nil) {
            self.url = url
            self.token = token
            self.tokenFile = tokenFile
            self.timeout = timeout
            self.caFile = caFile
        }
    }

    /// The default log socket of an agent on `workDirectory`: `<work directory>/log.sock`, or nil when that path does
    /// not fit in a unix socket address (107 bytes); then use a UDP port (``logPort``) or a shorter ``logSocket``.
    public static func defaultLogSocket(workDirectory: URL) -> String? {
        let path = workDirectory.standardizedFileURL.appendingPathComponent("log.sock").path
        return path.utf8.count <= maximumSocketPathLength ? path : nil
    }

    /// The longest path of a unix socket (`sun_path` less its final NUL).
    public static let maximumSocketPathLength = 107

    /// Where HAProxy logs to, as the hosts decide it: the socket given; else the UDP port given (`0`: no receiver);
    /// else, when someone reads the lines (`needed`: Pulse on, or a Logstash configured), a UDP port on 127.0.0.1 of
    /// this agent's own (``defaultLogPort(workDirectory:)``). Not a unix datagram socket by default: Linux queues at
    /// most `net.unix.max_dgram_qlen` datagrams on one (10 by default), so a burst of requests while the agent is busy
    /// for a few milliseconds lost log lines (HAProxy drops what it cannot send); a UDP socket queues its whole
    /// receive buffer (the agent asks for 4 MB). `note` says why no receiver was set up, for the start-up log.
    public static func logReceiver(
        socket: String?, port: Int?, needed: Bool, workDirectory: URL, fallbackPort: Int? = nil
    ) -> (socket: String?, port: Int?, note: String?) {
        if let socket, !socket.isEmpty { return (socket, nil, nil) }
        if let port { return (nil, port > 0 ? port : nil, nil) }
        guard needed else { return (nil, nil, nil) }
        if let port = defaultLogPort(workDirectory: workDirectory) { return (nil, port, nil) }
        if let fallbackPort { return (nil, fallbackPort, nil) }
        return (nil, nil, "no UDP port on 127.0.0.1 could be bound for HAProxy's log lines; HAProxy logs nowhere and Pulse counts nothing: set a log port or a log socket")
    }

    /// The UDP port on 127.0.0.1 an agent on `workDirectory` has HAProxy log to by default: the one it used before
    /// (kept in `<work directory>/log-port`) while it is free, else one the kernel picks, kept there for the next
    /// start, so that a restarted agent gives HAProxy the same configuration (no reload for a new port). Nil when no
    /// port can be bound.
    public static func defaultLogPort(workDirectory: URL) -> Int? {
        let file = workDirectory.standardizedFileURL.appendingPathComponent("log-port")
        if let text = try? String(contentsOf: file, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           (1...65535).contains(port), UDPPort.bind(port) == port {
            return port
        }
        guard let port = UDPPort.bind(0) else { return nil }
        try? FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Data("\(port)\n".utf8).write(to: file, options: .atomic)
        return port
    }
}
