import Foundation
import HAProxyConfigGen
import VampModel
import VampTesting

/// Builders for gateways with resolved targets.
enum Fixtures {
    static func route(_ path: String, weight: Int?, condition: String? = nil, strength: Int? = nil, targets: [RouteTarget] = [],
                      rewrites: [Rewrite] = [], balance: String? = nil) -> Route {
        Route(path: path, weight: weight.flatMap(Percentage.init), condition: condition.map { .inline(Condition(definition: $0)) },
              conditionStrength: strength.flatMap(Percentage.init), rewrites: rewrites.map { .inline($0) }, balance: balance, targets: targets)
    }

    static func target(_ name: String, port: Int, host: String = "127.0.0.1") -> RouteTarget { .instance(name: name, host: host, port: port) }

    /// The base sections used by the tests: no stats page unless asked, logs where asked.
    static func base(logPort: Int? = nil, statsPort: Int? = nil) throws -> String {
        try HAProxyBaseConfiguration(logTarget: logPort.map { "127.0.0.1:\($0)" }, statsAddress: statsPort.map { "127.0.0.1:\($0)" }).render()
    }
}
