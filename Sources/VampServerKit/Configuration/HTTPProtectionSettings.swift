import Foundation
import VampAPI

extension ServerKeys {
    static let allowedOrigins = Setting<[String]>.list(
        "vamp.http-api.cors.allowed-origins", expected: "a comma-separated list of origins such as https://ui.example.com, or *"
    ) { origin in
        origin == "*" || (origin.contains("://") && URL(string: origin)?.host != nil && (URL(string: origin)?.path ?? "").count <= 1)
    }
    static let allowedHosts = Setting<[String]>.list(
        "vamp.http-api.allowed-hosts", expected: "a comma-separated list of host names such as vamp.example.com or *.example.com, or *"
    ) { name in
        name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-.*_".contains($0)) }
    }
    static let readTimeout = Setting<Duration>.seconds("vamp.http-api.read-timeout", default: "10")
    static let idleTimeout = Setting<Duration>.seconds("vamp.http-api.idle-timeout", default: "75")
    static let maximumConnectionsPerClient = Setting<Int>.number(
        "vamp.http-api.max-connections-per-client", default: "256", in: 1...Int.max, expected: "a number of connections above 0")
    static let requestsPerSecond = Setting<Double>(
        "vamp.http-api.rate-limit.requests-per-second", default: "0", expected: "a number of requests a second (0: no limit)"
    ) { text in
        Double(text.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
    }
    static let burst = Setting<Int>.number(
        "vamp.http-api.rate-limit.burst", default: "0", in: 0...Int.max, expected: "a number of requests (0: twice the rate)")
    static let maximumEventStreams = Setting<Int>.number(
        "vamp.http-api.max-event-streams-per-token", default: "64", in: 0...Int.max, expected: "a number of event streams (0: no limit)")
}

/// What protects the API from browsers and from clients that hold connections or send too much: the origins and
/// host names it answers, the read and idle timeouts, the connections per client address, the requests and event
/// streams per token.
struct HTTPProtectionSettings: Sendable {
    var allowedOrigins: [String]
    /// `vamp.http-api.allowed-hosts`, with the interface when that is a name.
    var allowedHosts: [String]
    var limits: ConnectionLimits
    var rateLimits: RateLimits

    init(_ reader: inout SettingsReader, interface: String) throws(SettingError) {
        allowedOrigins = try reader.read(ServerKeys.allowedOrigins)
        allowedHosts = try reader.read(ServerKeys.allowedHosts)
        if !interface.isEmpty, !HostPolicy.isAddress(interface), !HostPolicy.isAddress("[\(interface)]") { allowedHosts.append(interface) }
        limits = ConnectionLimits(
            readTimeout: try reader.read(ServerKeys.readTimeout), idleTimeout: try reader.read(ServerKeys.idleTimeout),
            maximumPerClient: try reader.read(ServerKeys.maximumConnectionsPerClient))
        let rate = try reader.read(ServerKeys.requestsPerSecond), burst = try reader.read(ServerKeys.burst)
        let streams = try reader.read(ServerKeys.maximumEventStreams)
        rateLimits = RateLimits(requestsPerSecond: rate > 0 ? rate : nil, burst: burst > 0 ? burst : nil, maximumEventStreams: streams > 0 ? streams : nil)
    }

    /// Sets these in the API's configuration.
    func apply(to api: inout VampAPIConfiguration) {
        api.allowedOrigins = allowedOrigins
        api.allowedHosts = allowedHosts
        api.connections = limits
        api.rateLimits = rateLimits
    }

    /// What the start-up log warns of: settings that turn a protection off.
    var warnings: [String] {
        var warnings: [String] = []
        if allowedOrigins.contains("*") {
            warnings.append("vamp.http-api.cors.allowed-origins is *: a page of any site may call the API from a browser (without credentials); list the origins instead")
        }
        if allowedHosts.contains("*") {
            warnings.append("vamp.http-api.allowed-hosts is *: requests for any host name are answered, so DNS rebinding is not stopped; list the names instead")
        }
        return warnings
    }
}
