#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import HAProxyConfigGen

/// Settings of a gateway agent. Every field has a default that works on one machine.
public struct GatewayAgentConfiguration: Sendable {
    /// The KV key holding the generated HAProxy configuration.
    public var key: String
    /// Folder for `haproxy.cfg` (the last good configuration), the master CLI socket and the
    /// gateways' unix sockets (`run/`); HAProxy runs in it. Created owner-only (0700).
    public var workDirectory: URL
    /// The HAProxy binary.
    public var haproxyExecutable: String
    /// The base sections (global, defaults, stats) put before the generated text. `nil` uses
    /// ``defaultBaseConfiguration(logPort:logSocket:statsAddress:hardStopAfter:)``.
    public var baseConfiguration: String?
    /// A folder of user fragments (`*.cfg`, applied in name order) put between the base and
    /// the generated text, validated together with them.
    public var fragmentsDirectory: URL?
    /// How long to wait after a change for more changes before applying. Zero by default: a change
    /// is applied at once, and changes arriving during an apply become one apply of the newest.
    public var coalesceWindow: Duration
    /// How long a new worker may take to come up after a reload before the agent goes back to
    /// the previous configuration.
    public var reloadTimeout: Duration
    /// Where HAProxy's own output goes (`nil`: the agent's standard error).
    public var haproxyOutput: URL?
    /// Syslog receiver: UDP port on 127.0.0.1 that HAProxy logs to (`nil`: none). With neither this nor
    /// ``logSocket`` HAProxy logs nowhere: no Logstash forwarding, no Pulse. The hosts pick one with
    /// ``logReceiver(socket:port:needed:workDirectory:fallbackPort:)``.
    public var logPort: Int?
    /// Syslog receiver: a unix datagram socket the agent creates at this path and HAProxy logs to
    /// (`log <path> len 8192 local0` in the default base, in place of the UDP port); `nil`: none.
    /// The folder must exist; the path must be shorter than 108 bytes.
    public var logSocket: String?
    /// Logstash `host:port` that log lines are sent to over UDP (`nil`: lines are only counted).
    public var logstash: (host: String, port: Int)?
    /// Most log lines held while Logstash is slow or away; older lines are dropped first.
    public var logBufferCapacity: Int
    /// Pause after a Logstash error before sending again.
    public var retryTimeout: Duration
    /// `host:port` of the agent's `/health` and `/metrics` endpoint (`nil`: none).
    public var statusAddress: (host: String, port: Int)?
    /// KV key the agent writes its status to after each apply (JSON: state, error, time), so
    /// the server can show failed reloads. `nil`: not written.
    public var statusKey: String?
    /// HAProxy's `hard-stop-after`: how long the old worker may finish its connections
    /// (websockets, long streams) after a reload before it is stopped. `nil`: no limit.
    public var hardStopAfter: Duration?
    /// Longest wait between two restarts of a HAProxy that keeps exiting.
    public var restartBackoffLimit: Duration
    /// Wait before the first restart of HAProxy after it exited; doubled after each further exit.
    public var restartBackoffInitial: Duration = .milliseconds(200)
    /// How long a master must have run for its exit to count as new (the wait starts over).
    public var restartBackoffReset: Duration = .seconds(10)
    /// Wait before an apply that failed, or left out a gateway that may yet be served (its port busy), is tried again
    /// with the same text; doubled after each further try, at most ``applyRetryLimit``. A successful apply starts the
    /// waits over.
    public var applyRetryInitial: Duration = .seconds(1)
    /// Longest wait between two tries of the same text.
    public var applyRetryLimit: Duration = .seconds(30)
    /// How long the servers a change removes may take to finish their requests in flight before the runtime API
    /// deletes them (they take no new request from the start); past it, the change is applied by a reload, whose old
    /// worker finishes them.
    public var serverDrainTimeout: Duration = .seconds(2)
    /// Whether the agent leaves HAProxy serving when it stops (its task is cancelled), for the next agent
    /// on the same work directory to take over, so that restarting the agent never stops the traffic.
    /// `false` (the default, and `vamp-gateway-agent`'s): HAProxy stops with the agent. `vamp-server`'s
    /// embedded agent sets it.
    public var leavesHAProxyRunning = false
    /// Pulse: HAProxy's log lines counted per second and handed to `vamp-server` (on by default; see
    /// ``GatewayAgentConfiguration/Pulse``). It needs a log receiver (``logSocket`` or ``logPort``).
    public var pulse = Pulse()

    /// Creates a configuration.
    public init(
        key: String,
        workDirectory: URL,
        haproxyExecutable: String = "/usr/sbin/haproxy",
        baseConfiguration: String? = nil,
        fragmentsDirectory: URL? = nil,
        coalesceWindow: Duration = .zero,
        reloadTimeout: Duration = .seconds(5),
        haproxyOutput: URL? = nil,
        logPort: Int? = nil,
        logSocket: String? = nil,
        logstash: (host: String, port: Int)? = nil,
        logBufferCapacity: Int = 4096,
        retryTimeout: Duration = .seconds(1),
        statusAddress: (host: String, port: Int)? = nil,
        statusKey: String? = nil,
        hardStopAfter: Duration? = .seconds(30),
        restartBackoffLimit: Duration = .seconds(10),
        socketDirectory: URL? = nil
    ) {
        self.socketDirectory = socketDirectory ?? Self.socketDirectory(workDirectory: workDirectory)
        self.hardStopAfter = hardStopAfter
        self.restartBackoffLimit = restartBackoffLimit
        self.key = key
        self.workDirectory = workDirectory
        self.haproxyExecutable = haproxyExecutable
        self.baseConfiguration = baseConfiguration
        self.fragmentsDirectory = fragmentsDirectory
        self.coalesceWindow = coalesceWindow
        self.reloadTimeout = reloadTimeout
        self.haproxyOutput = haproxyOutput
        self.logPort = logPort
        self.logSocket = logSocket
        self.logstash = logstash
        self.logBufferCapacity = logBufferCapacity
        self.retryTimeout = retryTimeout
        self.statusAddress = statusAddress
        self.statusKey = statusKey
    }

    /// The folder of the gateways' unix sockets, which the generator writing for this agent must use. By default
    /// `<work directory>/run`: the generator's default socket directory is the relative `run`
    /// (`HAProxyConfigurationGenerator.Options.defaultSocketDirectory`), which HAProxy, started in the work
    /// directory, resolves there; so every agent keeps the sockets in its own work directory, and an agent and a
    /// generator that are both left at their defaults agree. The agent creates it (0700) and removes the stale
    /// sockets in it before it starts a new HAProxy master.
    public var socketDirectory: URL

    /// The default ``socketDirectory`` of an agent on `workDirectory`: the generator's relative default resolved
    /// against it.
    public static func socketDirectory(workDirectory: URL) -> URL {
        let relative = HAProxyConfigurationGenerator.Options.defaultSocketDirectory
        return workDirectory.appendingPathComponent(relative, isDirectory: true).standardizedFileURL
    }

    /// A base configuration for this agent: logs to the receiver (the unix socket `logSocket` when
    /// given, else UDP `logPort` on 127.0.0.1), stats on `statsAddress`. Empty when `logSocket` holds
    /// characters other than letters, digits and `/:._-@`.
    public static func defaultBaseConfiguration(
        logPort: Int?, logSocket: String? = nil, statsAddress: String? = "127.0.0.1:1988", hardStopAfter: Duration? = .seconds(30)
    ) -> String {
        (try? HAProxyBaseConfiguration(
            logTarget: logSocket ?? logPort.map { "127.0.0.1:\($0)" }, statsAddress: statsAddress,
            hardStopAfterSeconds: hardStopAfter.map { Int($0.components.seconds) }
        ).render()) ?? ""
    }
}
