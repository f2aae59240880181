/// A deployable service and its traits (reference §1.1).
public struct Breed: Sendable, Hashable {
    /// Unique name, often `name:version` (`catalog:2.1`).
    public var name: String
    /// What to run; `nil` for a breed that only groups traits.
    public var deployable: Deployable?
    /// Named ports.
    public var ports: [BreedPort]
    /// Environment variables (a `nil` value is a placeholder a blueprint must fill).
    public var environmentVariables: [EnvironmentVariable]
    /// Constants: never injected, referencable by dependents.
    public var constants: [Constant]
    /// Run arguments (`privileged: true`).
    public var arguments: [RunArgument]
    /// Alias → breed this breed depends on.
    public var dependencies: [Dependency]
    /// Health checks; `nil` when not given.
    public var healthChecks: [HealthCheck]?
    /// Free metadata.
    public var metadata: [String: JSONValue]

    /// Creates a breed.
    public init(
        name: String, deployable: Deployable? = nil, ports: [BreedPort] = [], environmentVariables: [EnvironmentVariable] = [],
        constants: [Constant] = [], arguments: [RunArgument] = [], dependencies: [Dependency] = [],
        healthChecks: [HealthCheck]? = nil, metadata: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.deployable = deployable
        self.ports = ports
        self.environmentVariables = environmentVariables
        self.constants = constants
        self.arguments = arguments
        self.dependencies = dependencies
        self.healthChecks = healthChecks
        self.metadata = metadata
    }

    /// The stable lookup name.
    public var lookupName: String { Names.lookupName(kind: "breed", name: name) }
}

/// What a breed runs: a type (`container/docker` by default) and its definition (an image).
public struct Deployable: Sendable, Hashable {
    /// The default deployable type.
    public static let defaultType = "container/docker"
    /// `container/docker`, `application/javascript`, `cmd`, …
    public var type: String
    /// The image, script or command.
    public var definition: String

    /// Creates a deployable.
    public init(type: String = Deployable.defaultType, definition: String) {
        self.type = type
        self.definition = definition
    }
}

/// A named port of a breed: `web: 8080/http`.
public struct BreedPort: Sendable, Hashable {
    /// Transport of a port.
    public enum PortType: String, Sendable, Hashable, CaseIterable { case http, tcp }
    /// BreedPort name (a trait name: no `.`).
    public var name: String
    /// BreedPort number, `nil` for a placeholder filled at deployment.
    public var number: Int?
    /// `http` (default) or `tcp`.
    public var type: PortType
    /// A value reference instead of a number (`${db.constants.port}`), resolved against the
    /// dependency when the service is deployed; written in the canonical `${…}` form.
    public var reference: String?

    /// Creates a port.
    public init(name: String, number: Int?, type: PortType = .http, reference: String? = nil) {
        self.name = name
        self.number = number
        self.type = type
        self.reference = reference
    }

    /// Parses `"8080"`, `"8080/http"`, `"9100/tcp"` into number and type. The number is written as
    /// ``parseNumber(_:)`` takes it: `+8080` and `08080` are no ports.
    public static func parseValue(_ text: String) -> (number: Int, type: PortType)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let number = parseNumber(parts[0]) else { return nil }
        if parts.count == 1 { return (number, .http) }
        guard let type = PortType(rawValue: parts[1].lowercased()) else { return nil }
        return (number, type)
    }

    /// A port number as Vamp reads it everywhere (breed ports, gateway ports, blueprint gateway keys, targets):
    /// plain decimal digits, without a sign, spaces or a leading zero, from 0 to 65535. `0` is the gateway port
    /// "assign one"; everything else that reaches HAProxy must be 1-65535, which the validation checks.
    /// `+9835` and `09834` are refused: Swift's `Int` and HAProxy would read them as 9835 and 9834 (or as octal),
    /// so the text written and the port served would differ.
    public static func parseNumber(_ text: some StringProtocol) -> Int? {
        let digits = text.utf8
        guard let first = digits.first, digits.count <= 5, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        if first == 0x30 && digits.count > 1 { return nil }
        let number = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        return number <= 65535 ? number : nil
    }

    /// `"8080/http"`, the reference (`"${db.constants.port}/http"`), or `nil` for neither.
    public var value: String? {
        if let reference { return "\(reference)/\(type.rawValue)" }
        return number.map { "\($0)/\(type.rawValue)" }
    }
}

/// An environment variable; `alias` is the name injected into the container (`log_level[LOG_LEVEL]`).
public struct EnvironmentVariable: Sendable, Hashable {
    /// Name as written (for blueprint-level variables: `cluster.VAR`).
    public var name: String
    /// The injected name, when different.
    public var alias: String?
    /// Value; `nil` = placeholder that a higher scope must fill.
    public var value: String?

    /// Creates a variable.
    public init(name: String, alias: String? = nil, value: String?) {
        self.name = name
        self.alias = alias
        self.value = value
    }

    /// The key as written in the DSL: `name` or `name[ALIAS]`.
    public var key: String { alias.map { "\(name)[\($0)]" } ?? name }
}

/// A breed constant: like an environment variable but never injected, and always with a value.
public struct Constant: Sendable, Hashable {
    /// Name.
    public var name: String
    /// Value.
    public var value: String

    /// Creates a constant.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A run argument (`privileged: true`), passed to the container driver.
public struct RunArgument: Sendable, Hashable {
    /// Key.
    public var key: String
    /// Value, as text.
    public var value: String

    /// Creates an argument.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// A breed dependency under an alias: `db: postgres:9.*`.
public struct Dependency: Sendable, Hashable {
    /// The alias used in references (`$db.host`).
    public var alias: String
    /// The breed depended upon; a reference may end in `*` (prefix wildcard).
    public var breed: ArtifactReference<Breed>

    /// Creates a dependency.
    public init(alias: String, breed: ArtifactReference<Breed>) {
        self.alias = alias
        self.breed = breed
    }

    /// The name the dependency refers to (reference or inline breed's name).
    public var breedName: String {
        switch breed {
        case .reference(let name): name
        case .inline(let breed): breed.name
        }
    }
}

/// A health check of a breed, cluster or service.
public struct HealthCheck: Sendable, Hashable {
    /// HTTP or HTTPS.
    public enum CheckProtocol: String, Sendable, Hashable, CaseIterable { case http = "HTTP", https = "HTTPS" }
    /// Path to request (default `/`).
    public var path: String
    /// The breed port **name** to check.
    public var port: String
    /// Wait before the first check.
    public var initialDelay: TimeValue
    /// Timeout of one check.
    public var timeout: TimeValue
    /// Time between checks.
    public var interval: TimeValue
    /// Failures before the instance counts as unhealthy.
    public var failures: Int
    /// Protocol.
    public var `protocol`: CheckProtocol

    /// Creates a health check.
    public init(
        path: String = "/", port: String, initialDelay: TimeValue, timeout: TimeValue, interval: TimeValue,
        failures: Int, protocol: CheckProtocol = .http
    ) {
        self.path = path
        self.port = port
        self.initialDelay = initialDelay
        self.timeout = timeout
        self.interval = interval
        self.failures = failures
        self.protocol = `protocol`
    }
}
