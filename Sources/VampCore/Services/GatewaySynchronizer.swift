import Foundation
import Synchronization
public import KVStores
public import Logging
import Persistence
public import ServiceLifecycle
import VampDSL
import VampConcurrency
import VampModel

/// Keeps the gateway agents' configuration in the KV store equal to the stored gateways (§4.4).
///
/// Every gateway change wakes it at once (no tick): it renders all gateways with `HAProxyConfigGen`, writes the
/// text to the key the agents watch only when the bytes differ (an agent reloads HAProxy for every change), and
/// then publishes the `marshaller:configuration` event. A periodic resync repairs a store that lost the key or
/// was written by someone else; a failed write is retried after `retryDelay`, doubling up to the resync interval.
public struct GatewaySynchronizer: ServiceLifecycle.Service, Sendable {
    /// Settings of the synchroniser.
    public struct Configuration: Sendable {
        /// The key holding the HAProxy text (default: what `vamp-gateway-agent` watches by default,
        /// `/vamp/vamp/gateways/haproxy/2.6/configuration`).
        public var configurationKey: String
        /// The marshaller's version in the `marshaller` event's `name:` tag.
        public var haproxyVersion: String
        /// Time between two resyncs when nothing changed.
        public var resyncInterval: Duration
        /// The first wait after a failed synchronisation.
        public var retryDelay: Duration

        /// Creates the settings; the keys follow Vamp's layout for `namespace`.
        public init(
            namespace: String = "vamp", haproxyVersion: String = "2.6",
            resyncInterval: Duration = .seconds(5), retryDelay: Duration = .milliseconds(250)
        ) {
            self.configurationKey = KeyPath.haproxyConfiguration(namespace: namespace, version: haproxyVersion)
            self.haproxyVersion = haproxyVersion
            self.resyncInterval = resyncInterval
            self.retryDelay = retryDelay
        }
    }

    /// What one pass did.
    public enum Outcome: Sendable, Equatable {
        /// The text differed and was written.
        case written
        /// The store already held these bytes.
        case unchanged
        /// The gateways could not be rendered or the store could not be written; retried later.
        case failed(String)
    }

    let vamp: Vamp
    let store: any KeyValueStore
    let configuration: Configuration
    let logger: Logger

    /// Creates the synchroniser of `vamp`'s gateways into `store`.
    public init(vamp: Vamp, store: any KeyValueStore, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "vamp.gateway-sync")) {
        self.vamp = vamp
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// The gateways served at the last pass.
    let served = ServedGateways()
    /// The gateways left out at the last pass, with why.
    let excluded = ExcludedGateways()

    /// Synchronises once now, then after every gateway change and every resync interval, until graceful
    /// shutdown or cancellation.
    public func run() async throws {
        let interval = configuration.resyncInterval
        let vamp = self.vamp
        do {
            try await cancelWhenGracefulShutdown { try await loop(vamp: vamp, interval: interval) }
        } catch is CancellationError {
            // Graceful shutdown (or the group's cancellation): the last pass finished or was abandoned; the KV
            // store keeps what it has, and the next start resynchronises.
        }
    }

    func loop(vamp: Vamp, interval: Duration) async throws {
        let clock = vamp.clock
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // Gateways render from the gateways, the deployments' instances and the secrets: a change of any wakes a pass.
        let changes = vamp.changes.changes(after: try? await vamp.changes.position(), of: [.gateway, .deployment, .secret])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in changes { wake.yield() }
            }
            group.addTask {
                while true {
                    try await clock.sleep(for: interval)
                    wake.yield()
                }
            }
            group.addTask {
                var delay = configuration.retryDelay
                var iterator = wakes.makeAsyncIterator()
                var outcome = await synchronise()
                while true {
                    if case .failed = outcome {
                        try await clock.sleep(for: delay)
                        delay = min(delay * 2, interval)
                        outcome = await synchronise()
                        continue
                    }
                    delay = configuration.retryDelay
                    guard await iterator.next() != nil else { return }
                    try Task.checkCancellation()
                    outcome = await synchronise()
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// `gateways:<name>` with `deployed` or `undeployed` (§5.1) for every gateway that is served now and was not at the
    /// last pass, or the other way round. The first pass after a start only takes note: what it finds served was
    /// deployed before.
    func publishDeployedChanges(_ names: [String]) async {
        let now = Set(names)
        let before = served.names.withLock { previous in
            defer { previous = now }
            return previous
        }
        guard let before, before != now else { return }
        var events: [Event] = []
        for name in now.subtracting(before).sorted() { events.append(Event(tags: ["gateways:\(name)", "deployed"])) }
        for name in before.subtracting(now).sorted() { events.append(Event(tags: ["gateways:\(name)", "undeployed"])) }
        _ = try? await vamp.publish(events)
    }

    /// `gateways:<name>` with `excluded` (the reason as the event's value) for every gateway the generator refuses now
    /// and did not at the last pass, logged as an error: it is left out of HAProxy's text, and every other gateway is
    /// served. The same for the first pass after a start: an operator must see it once per start.
    func publishExcluded(_ excluded: [String: String]) async {
        let before = self.excluded.reasons.withLock { previous in
            defer { previous = excluded }
            return previous
        }
        var events: [Event] = []
        for (name, reason) in excluded.sorted(by: { $0.key < $1.key }) where before[name] != reason {
            logger.error("a gateway cannot be rendered; it is left out of the HAProxy configuration and every other gateway is served", metadata: [
                "vamp.gateway": "\(name)", "vamp.error": "\(reason)",
            ])
            events.append(Event(tags: ["gateways:\(name)", "excluded"], value: .string(reason)))
        }
        if !events.isEmpty { _ = try? await vamp.publish(events) }
    }

    /// One pass: render every gateway, write what differs, publish the event. Never throws: a failure is
    /// logged and returned.
    @discardableResult
    public func synchronise() async -> Outcome {
        let rendered: GatewayConfiguration
        do {
            rendered = try await vamp.gatewayConfiguration()
        } catch {
            logger.error("the stored gateways cannot be rendered; the KV store keeps its configuration", metadata: ["vamp.error": "\(error.message)"])
            return .failed(error.message)
        }
        do {
            let written = try await store.setIfChanged(configuration.configurationKey, string: rendered.stored)
            await publishExcluded(rendered.excluded)
            await publishDeployedChanges(rendered.servedGateways)
            guard written else { return .unchanged }
            logger.info("wrote the HAProxy configuration", metadata: [
                "vamp.kv.key": "\(configuration.configurationKey)", "vamp.gateways": "\(rendered.servedGateways.count)",
                "vamp.bytes": "\(rendered.text.utf8.count)", "vamp.certificates": "\(rendered.certificates.count)",
            ])
            let event = Event(tags: ["marshaller:configuration", "type:haproxy", "name:\(configuration.haproxyVersion)"])
            _ = try? await vamp.publish([event])
            return .written
        } catch {
            logger.warning("the KV store could not be written; retrying", metadata: [
                "vamp.kv.key": "\(configuration.configurationKey)", "vamp.error": "\(error)",
            ])
            return .failed("\(error)")
        }
    }
}

/// The names of the gateways the synchroniser served at its last pass (`nil` before the first).
final class ServedGateways: Sendable {
    let names = Mutex<Set<String>?>(nil)
}

/// The gateways the synchroniser left out at its last pass, with why.
final class ExcludedGateways: Sendable {
    let reasons = Mutex<[String: String]>([:])
}
