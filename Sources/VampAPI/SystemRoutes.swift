public import Foundation
import HTTPTypes
import Hummingbird
import Persistence
import VampCore
import VampDSL
public import VampModel

/// What `GET /info` reports about the server (§3.3): the host fills it in from its configuration.
public struct ServerInformation: Sendable {
    /// The server's version.
    public var version: String
    /// This server process's id.
    public var uuid: String
    /// When it started.
    public var runningSince: Date
    /// The sections by name: `persistence`, `key_value`, `pulse`, `gateway_driver`, `container_driver`,
    /// `workflow_driver`, each an object.
    public var sections: [String: JSONValue]
    /// Sections whose content changes while the server runs, asked of the part that owns them at every request
    /// (`gateway_agent`: the embedded agent's state); they win over ``sections`` of the same name.
    public var liveSections: [String: LiveSection]

    /// A section computed when `/info` is asked.
    public typealias LiveSection = @Sendable () async -> JSONValue

    /// Creates the information.
    public init(
        version: String = "0.9.5", uuid: String = UUID().uuidString.lowercased(), runningSince: Date = Date(),
        sections: [String: JSONValue] = [:], liveSections: [String: LiveSection] = [:]
    ) {
        self.version = version
        self.uuid = uuid
        self.runningSince = runningSince
        self.sections = sections
        self.liveSections = liveSections
    }
}

/// `/health`, `/metrics`, `/info`, `/config`, `/vga` and `/docker-compose` (§3.3).
struct SystemHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    static func path(_ context: VampRequestContext) -> [String] {
        (context.parameters.getCatchAll()).map { String($0).removingPercentEncoding ?? String($0) }
    }

    // MARK: Health and metrics (§1.12)

    /// The tags of a health path, or `nil` when it names nothing (or an instance: always 404, as in 0.9.5).
    static func healthTags(_ path: [String]) -> Set<String>? {
        guard let first = path.first else { return nil }
        let rest = Array(path.dropFirst())
        switch first {
        case "gateways":
            guard !rest.isEmpty else { return nil }
            if let index = rest.lastIndex(of: "routes"), index > 0, index < rest.count - 1 {
                return ["gateways:" + rest[..<index].joined(separator: "/"), "routes:" + rest[(index + 1)...].joined(separator: "/")]
            }
            return ["gateways:" + rest.joined(separator: "/")]
        case "deployments":
            let names = ["deployments", "clusters", "services"]
            var tags: Set<String> = []
            var index = 0, level = 0
            guard !rest.isEmpty else { return nil }
            tags.insert("deployments:" + rest[0]); index = 1; level = 1
            while index < rest.count {
                guard level < names.count, rest[index] == names[level], index + 1 < rest.count else { return nil }
                tags.insert("\(names[level]):\(rest[index + 1])")
                index += 2; level += 1
            }
            return tags
        default:
            return nil
        }
    }

    /// The tags of a metrics path (§1.12), or `nil`.
    static func metricTags(_ path: [String]) -> Set<String>? {
        guard path.count >= 3, let metric = path.last else { return nil }
        let body = Array(path.dropFirst().dropLast())
        switch path[0] {
        case "gateways":
            if let index = body.lastIndex(of: "routes"), index > 0, index < body.count - 1 {
                return ["gateways:" + body[..<index].joined(separator: "/"), "routes:" + body[(index + 1)...].joined(separator: "/"), "metrics:\(metric)"]
            }
            return ["gateways:" + body.joined(separator: "/"), "metrics:\(metric)"]
        case "deployments":
            // D/clusters/C/ports/P or D/clusters/C/services/S/ports/P
            if body.count == 5, body[1] == "clusters", body[3] == "ports" {
                return ["gateways:\(body[0])/\(body[2])/\(body[4])", "metrics:\(metric)"]
            }
            if body.count == 7, body[1] == "clusters", body[3] == "services", body[5] == "ports" {
                return ["gateways:\(body[0])/\(body[2])/\(body[6])", "routes:\(body[0])/\(body[2])/\(body[4])/\(body[6])", "metrics:\(metric)"]
            }
            return nil
        default:
            return nil
        }
    }

    func health(_ context: VampRequestContext) async throws -> Response {
        guard let tags = Self.healthTags(Self.path(context)), let value = try await vamp.health(tags) else { return Response(status: .notFound) }
        return Self.value(value)
    }

    func metric(_ context: VampRequestContext) async throws -> Response {
        guard let tags = Self.metricTags(Self.path(context)), let value = try await vamp.metric(tags) else { return Response(status: .notFound) }
        return Self.value(value)
    }

    /// A bare value: a number as the event carried it (`0.98`), anything else as JSON.
    static func value(_ value: JSONValue) -> Response {
        if case .number(let text) = value { return APIAnswer.json(text: text) }
        let data = (try? JSONEncoder().encode(value)) ?? Data("null".utf8)
        return APIAnswer.json(text: String(decoding: data, as: UTF8.self))
    }

    // MARK: Info and config

    func info(_ request: Request) async -> Response {
        let information = configuration.information
        let asked = Set(request.uri.queryParameters.getAll("on").map { String($0) })
        var object: [String: JSONValue] = [
            "message": .string("Hi, I'm Vamp! How are you?"),
            "version": .string(information.version),
            "uuid": .string(information.uuid),
            "running_since": .string(ISO8601DateFormatter().string(from: information.runningSince)),
        ]
        func wanted(_ name: String) -> Bool {
            asked.isEmpty || asked.contains(name) || asked.contains(name.replacingOccurrences(of: "_", with: "-"))
        }
        for (name, section) in information.sections where wanted(name) { object[name] = section }
        for (name, section) in information.liveSections where wanted(name) { object[name] = await section() }
        return Self.encoded(.object(object))
    }

    func config(_ request: Request, key: String?) -> Response {
        let settings = configuration.settings
        if let key {
            if let value = settings[key] { return Self.encoded(.string(value)) }
            let below = settings.filter { $0.key.hasPrefix(key + ".") }
            guard !below.isEmpty else { return Response(status: .notFound) }
            return Self.encoded(Self.nested(below, dropping: key + "."))
        }
        if request.uri.queryParameters.get("flatten")?.lowercased() == "true" {
            return Self.encoded(.object(settings.mapValues(JSONValue.string)))
        }
        return Self.encoded(Self.nested(settings, dropping: ""))
    }

    /// `a.b.c = v` as `{"a": {"b": {"c": "v"}}}`.
    static func nested(_ settings: [String: String], dropping prefix: String) -> JSONValue {
        var root: [String: JSONValue] = [:]
        func insert(_ path: ArraySlice<Substring>, _ value: String, into object: inout [String: JSONValue]) {
            guard let head = path.first.map(String.init) else { return }
            if path.count == 1 {
                object[head] = .string(value)
                return
            }
            var child: [String: JSONValue] = if case .object(let existing)? = object[head] { existing } else { [:] }
            insert(path.dropFirst(), value, into: &child)
            object[head] = .object(child)
        }
        for (key, value) in settings {
            insert(key.dropFirst(prefix.count).split(separator: ".")[...], value, into: &root)
        }
        return .object(root)
    }

    static func encoded(_ value: JSONValue) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return APIAnswer.json(text: String(decoding: data, as: UTF8.self))
    }

    // MARK: VGA

    func known(_ context: VampRequestContext) -> Bool {
        context.parameters.get("type") == "haproxy" && configuration.haproxyVersions.contains(context.parameters.get("version") ?? "")
    }

    func vgaConfiguration(_ context: VampRequestContext) async throws -> Response {
        guard known(context) else { return Response(status: .notFound) }
        return APIAnswer.text(try await vamp.gatewayConfiguration().text)
    }

    func vgaTemplate(_ context: VampRequestContext) -> Response {
        guard known(context) else { return Response(status: .notFound) }
        return APIAnswer.text(configuration.haproxyTemplate)
    }

    // MARK: docker-compose

    /// `POST /docker-compose?name=N`: converts the compose file to blueprint `N`, stores it and answers its YAML
    /// with the conversion's notes as `#` comments.
    func dockerCompose(_ request: Request) async throws -> Response {
        guard let name = request.uri.queryParameters.get("name"), !name.isEmpty else {
            throw OperationError(.invalid, "name the blueprint: POST /api/v1/docker-compose?name=<blueprint>")
        }
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send a docker-compose file")
        }
        let conversion: DockerComposeConversion
        do {
            conversion = try DockerCompose.blueprint(from: text, name: name)
        } catch {
            throw OperationError(.invalid, "\(error)", cause: error)
        }
        let yaml = conversion.yaml
        let documents: [DSLDocument]
        do {
            documents = try DSLReader.read(DSLWriter.yaml(.blueprint(conversion.blueprint)), kind: .blueprint)
        } catch {
            throw OperationError(.invalid, "the converted blueprint does not read back: \(error)", cause: error)
        }
        let validateOnly = request.uri.queryParameters.get("validate_only")?.lowercased() == "true"
        _ = try await vamp.apply(documents, validateOnly: validateOnly, requestBody: text)
        return Response(status: .created, headers: [.contentType: BodyFormat.yaml.mediaType], body: .init(byteBuffer: ByteBuffer(string: yaml)))
    }
}
