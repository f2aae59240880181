/// The sections the gateway agent puts before the generated gateways: `global`, `defaults`
/// and a stats/health listener. No `nbproc` (fatal since HAProxy 2.5), no `daemon` (the agent
/// runs HAProxy in master-worker mode).
public struct HAProxyBaseConfiguration: Sendable, Hashable {
    /// Where HAProxy sends its log lines: `/path/log.sock` (unix datagram) or `host:port` (UDP);
    /// `nil` for no logging.
    public var logTarget: String?
    /// Runtime API socket (`stats socket`), or `nil` for none.
    public var statsSocket: String?
    /// `host:port` of the stats page with `/health` as monitor URI, or `nil` for none.
    public var statsAddress: String?
    /// The port of the stats page by default (`127.0.0.1:1988`), which no gateway may take.
    public static let defaultStatsPort = 1988
    /// `maxconn` of the process.
    public var maxConnections: Int
    /// How long old workers may finish their connections (websockets, long streams) after a
    /// reload, in seconds; `nil` for no limit (old workers stay until their last connection ends).
    public var hardStopAfterSeconds: Int?

    /// Creates a base configuration.
    public init(
        logTarget: String? = nil, statsSocket: String? = nil, statsAddress: String? = "127.0.0.1:\(defaultStatsPort)",
        maxConnections: Int = 4096, hardStopAfterSeconds: Int? = 30
    ) {
        self.logTarget = logTarget
        self.statsSocket = statsSocket
        self.statsAddress = statsAddress
        self.maxConnections = maxConnections
        self.hardStopAfterSeconds = hardStopAfterSeconds
    }

    /// The text, or an error when a setting could reach the file unsafely. The `defaults` section carries
    /// Vamp's JSON log format for HTTP, which the generated frontends rely on. `option redispatch 1` sends every retry
    /// of a failed connection to another server: an instance that stopped (scaled down, replaced, crashed) before
    /// HAProxy learnt it costs its requests a retry, not a 503. `retry-on conn-failure empty-response` also retries a
    /// request whose server closed the connection without answering anything: an instance that stops while HAProxy
    /// reuses an idle keep-alive connection to it (seen as a 502 in the SLA test's scale-down) never saw that request.
    /// The price: a server that crashed in the middle of a request without answering may have acted on it before it
    /// is sent again (HAProxy retries only a request it still holds whole).
    public func render() throws(HAProxyConfigError) -> String {
        guard (hardStopAfterSeconds ?? 1) > 0 else {
            throw HAProxyConfigError(code: .unsafeValue, message: "hard-stop-after must be nil (no limit) or a number of seconds above 0, not \(hardStopAfterSeconds ?? 0)")
        }
        for value in [logTarget, statsSocket, statsAddress].compactMap({ $0 }) where !Self.isSafeSetting(value) {
            throw HAProxyConfigError(code: .unsafeValue, message: "the setting '\(HAProxyText.comment(value))' may contain only letters, digits and '/:._-@'")
        }
        var out = "global\n"
        if let logTarget { out += "  log \(logTarget) len 8192 local0\n" }
        out += "  maxconn \(maxConnections)\n"
        if let statsSocket { out += "  stats socket \(statsSocket) mode 600 level admin expose-fd listeners\n" }
        if let hardStopAfterSeconds { out += "  hard-stop-after \(hardStopAfterSeconds)s\n" }
        out += """

        defaults
          log global
          mode http
          option httplog
          log-format \(LogFormat.http)
          option dontlognull
          option redispatch 1
          retry-on conn-failure empty-response
          option clitcpka
          option srvtcpka
          retries 3
          timeout http-request 5s
          timeout connect 5s
          timeout client 50s
          timeout server 50s
          timeout check 5s
          default-server init-addr last,libc,none

        """
        if let statsAddress {
            out += """

            listen stats
              bind \(statsAddress)
              mode http
              no log
              monitor-uri /health
              stats enable
              stats uri /
              stats refresh 5s

            """
        }
        return out
    }

    static func isSafeSetting(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 200
            && value.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || "/:._-@".utf8.contains($0) }
    }
}
