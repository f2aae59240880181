import Foundation

/// One request of Vamp 0.9.5's `/websocket` API, read from a frame: `{"api":"v1","path":"/deployments/sava",
/// "action":"PEEK","accept":"JSON","content":"JSON","transaction":"17","data":"<body>","parameters":{...}}`.
struct WebSocketRequest: Sendable, Equatable {
    /// What the request does: GET, PUT or POST, DELETE.
    enum Action: String, Sendable, CaseIterable {
        case peek = "PEEK"
        case put = "PUT"
        case remove = "REMOVE"
    }

    /// The formats a request names in `accept` and `content`.
    enum Format: String, Sendable, CaseIterable {
        case json = "JSON"
        case yaml = "YAML"
        case plaintext = "PLAINTEXT"
        case javascript = "JAVASCRIPT"

        var mediaType: String {
            switch self {
            case .json: "application/json"
            case .yaml: "application/x-yaml"
            case .plaintext: "text/plain"
            case .javascript: "application/javascript"
            }
        }
    }

    /// The path under `/api/v1`, with its leading `/` (added when missing), without a query.
    var path: String
    var action: Action
    var accept: Format
    var content: Format
    /// Echoed in the answer, so that a client can match answers to requests.
    var transaction: String?
    /// The request body.
    var data: String?
    /// The query: a name and its values (a list in the request repeats the name), sorted by name.
    var parameters: [(name: String, values: [String])]

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.path == rhs.path && lhs.action == rhs.action && lhs.accept == rhs.accept && lhs.content == rhs.content
            && lhs.transaction == rhs.transaction && lhs.data == rhs.data
            && lhs.parameters.map(\.name) == rhs.parameters.map(\.name) && lhs.parameters.map(\.values) == rhs.parameters.map(\.values)
    }

    /// The HTTP method the REST API serves this request with: PUT on a collection (`/deployments`) creates, as POST.
    var method: String {
        switch action {
        case .peek: "GET"
        case .remove: "DELETE"
        case .put: path.unicodeScalars.split(separator: "/").count == 1 ? "POST" : "PUT"
        }
    }

    /// Whether this request subscribes to events (a PEEK of `.../events/stream`) rather than asking once.
    var isEventSubscription: Bool { action == .peek && (path == "/events/stream" || path.hasSuffix("/events/stream")) }

    /// The path and its query as the REST API sees them, under `prefix` (`/api/v1` or `/<namespace>/api/v1`).
    func target(under prefix: String) -> String {
        var query: [String] = []
        for (name, values) in parameters {
            for value in values { query.append("\(Self.percentEncoded(name))=\(Self.percentEncoded(value))") }
        }
        return prefix + path + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Why a frame or one of its requests cannot be served; answered as `{"status":"ERROR","error":...}`.
struct WebSocketMessageError: Error, Equatable, Sendable {
    let message: String
    /// The request's transaction, when the frame got as far as naming one.
    var transaction: String?
}

/// Reads the frames of the `/websocket` API and writes its answers.
enum WebSocketMessage {
    /// The longest `path` accepted.
    static let maximumPathLength = 2048

    /// The requests of a text frame: one JSON or YAML object, or a list of them. A request that cannot be read is
    /// an error in its place, so that the others are still answered.
    static func requests(in text: String) -> [Result<WebSocketRequest, WebSocketMessageError>] {
        let value: Any?
        do {
            value = try parse(text)
        } catch {
            return [.failure(error)]
        }
        if let list = value as? [Any] {
            guard !list.isEmpty else { return [.failure(WebSocketMessageError(message: "the frame holds an empty list: send a request object or a list of them"))] }
            return list.map(request)
        }
        return [request(value as Any)]
    }

    static func parse(_ text: String) throws(WebSocketMessageError) -> Any {
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.first == "{" || trimmed.first == "[" {
            do {
                return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            } catch {
                let detail = (error as NSError).userInfo["NSDebugDescription"].map { "\($0)" } ?? "\(error)"
                throw WebSocketMessageError(message: "the frame is not valid JSON: \(detail)")
            }
        }
        do {
            guard let value = try YAMLValues.load(text) else { throw WebSocketMessageError(message: "the frame is empty: send a request object") }
            return value
        } catch let error as WebSocketMessageError {
            throw error
        } catch {
            throw WebSocketMessageError(message: "the frame is neither JSON nor YAML: \(error)")
        }
    }

    /// One request object, field by field.
    static func request(_ value: Any) -> Result<WebSocketRequest, WebSocketMessageError> {
        guard let object = value as? [String: Any] else {
            return .failure(WebSocketMessageError(message: "a request is an object with api, path and action, not \(kind(of: value))"))
        }
        let transaction = scalar(object["transaction"])
        func failure(_ message: String) -> Result<WebSocketRequest, WebSocketMessageError> {
            .failure(WebSocketMessageError(message: message, transaction: transaction))
        }
        let known: Set<String> = ["api", "path", "action", "accept", "content", "transaction", "data", "parameters"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            return failure("unknown field '\(shown(unknown))' in the request; the fields are \(known.sorted().joined(separator: ", "))")
        }
        if let api = object["api"], scalar(api) != "v1" {
            return failure("api '\(shown(scalar(api) ?? kind(of: api)))' is not served: the only api is v1")
        }
        guard let rawPath = object["path"] as? String, !rawPath.isEmpty else { return failure("path is missing: name what to ask, such as /deployments") }
        guard let actionText = object["action"] as? String, let action = WebSocketRequest.Action(rawValue: actionText.uppercased()) else {
            return failure("action '\(shown(scalar(object["action"]) ?? ""))' is not one of PEEK, PUT, REMOVE")
        }
        var formats: [WebSocketRequest.Format] = []
        for field in ["accept", "content"] {
            guard let raw = object[field] else { formats.append(.json); continue }
            guard let text = raw as? String, let format = WebSocketRequest.Format(rawValue: text.uppercased()) else {
                return failure("\(field) '\(shown(scalar(raw) ?? kind(of: raw)))' is not one of JSON, YAML, PLAINTEXT, JAVASCRIPT")
            }
            formats.append(format)
        }
        // Scalar by scalar, as the REST API reads the bytes: a '/' or '?' followed by a combining mark is one character
        // with it, so a character-wise split missed it (found by fuzzing).
        var path = rawPath
        var parameters: [String: [String]] = [:]
        if let mark = path.unicodeScalars.firstIndex(of: "?") {
            for pair in split(String(path.unicodeScalars[path.unicodeScalars.index(after: mark)...]), "&") where !pair.isEmpty {
                let parts = split(pair, "=", maxSplits: 1).map { $0.removingPercentEncoding ?? $0 }
                parameters[parts[0], default: []].append(parts.count > 1 ? parts[1] : "")
            }
            path = String(path.unicodeScalars[..<mark])
        }
        if path.unicodeScalars.first != "/" { path = "/" + path }
        if let problem = pathProblem(path) { return failure("path '\(shown(rawPath))' \(problem)") }
        if let given = object["parameters"] {
            guard let map = given as? [String: Any] else { return failure("parameters is an object of names and values, not \(kind(of: given))") }
            for (name, value) in map {
                if let list = value as? [Any] {
                    let values = list.compactMap(scalar)
                    guard values.count == list.count else { return failure("parameters.\(shown(name)) holds a value that is not a string, number or boolean") }
                    parameters[name, default: []].append(contentsOf: values)
                } else if let single = scalar(value) {
                    parameters[name, default: []].append(single)
                } else {
                    return failure("parameters.\(shown(name)) is \(kind(of: value)); give a string, number, boolean or a list of them")
                }
            }
        }
        var data: String?
        switch object["data"] {
        case nil, is NSNull: data = nil
        case let text as String: data = text
        case let structured?:
            // A client that sends the body as an object rather than a string gets it as JSON.
            guard JSONSerialization.isValidJSONObject(structured),
                  let encoded = try? JSONSerialization.data(withJSONObject: structured, options: [.sortedKeys]) else {
                return failure("data is the request body: a string (or a JSON object)")
            }
            data = String(decoding: encoded, as: UTF8.self)
        }
        return .success(WebSocketRequest(
            path: path, action: action, accept: formats[0], content: formats[1], transaction: transaction, data: data,
            parameters: parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    }

    /// Why a path cannot be asked for, if it cannot: it must stay under the API.
    static func pathProblem(_ path: String) -> String? {
        if path.utf8.count > maximumPathLength { return "is longer than \(maximumPathLength) bytes" }
        if path.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f || $0 == "#" || $0 == "\\" }) {
            return "holds a space, a control character, '#' or '\\'"
        }
        // Segments as the REST API sees them: split on the '/' scalar, not on characters ('/' and a combining mark after
        // it are one character, so "/../\u{301}" hid its '..' segment; found by fuzzing).
        let segments = split(path, "/").dropFirst()
        if segments.contains(where: { $0 == ".." || $0 == "." }) { return "holds '.' or '..' segments" }
        if segments.dropLast().contains(where: \.isEmpty) { return "holds an empty segment ('//')" }
        return nil
    }

    /// `text` split on a scalar (not on characters), empty parts kept.
    static func split(_ text: String, _ separator: Unicode.Scalar, maxSplits: Int = .max) -> [String] {
        text.unicodeScalars.split(separator: separator, maxSplits: maxSplits, omittingEmptySubsequences: false).map { String($0) }
    }

    /// The answer to a request: `status` from the HTTP status (OK, ACCEPTED, NOCONTENT, ERROR), `content` the
    /// request's `accept`, the body in `data` (left out when empty), the response headers in `parameters`.
    static func answer(to request: WebSocketRequest, status: Int, body: String, headers: [String: String]) -> String {
        var object: [String: Any] = [
            "api": "v1", "path": request.path, "action": request.action.rawValue, "status": statusName(status),
            "content": request.accept.rawValue, "parameters": headers,
        ]
        if let transaction = request.transaction { object["transaction"] = transaction }
        if !body.isEmpty { object["data"] = body }
        return encoded(object)
    }

    /// An event pushed to a subscriber: the subscription's envelope with the event's JSON as `data`.
    static func event(_ eventJSON: String, for subscription: WebSocketRequest) -> String {
        var object: [String: Any] = [
            "api": "v1", "path": subscription.path, "action": subscription.action.rawValue, "status": "OK",
            "content": WebSocketRequest.Format.json.rawValue, "data": eventJSON, "parameters": [String: String](),
        ]
        if let transaction = subscription.transaction { object["transaction"] = transaction }
        return encoded(object)
    }

    /// `{"status":"ERROR","error":...}`, with the transaction when the request named one.
    static func error(_ error: WebSocketMessageError) -> String {
        var object: [String: Any] = ["status": "ERROR", "error": error.message]
        if let transaction = error.transaction { object["transaction"] = transaction }
        return encoded(object)
    }

    static func statusName(_ status: Int) -> String {
        switch status {
        case 200, 201: "OK"
        case 202: "ACCEPTED"
        case 204: "NOCONTENT"
        default: "ERROR"
        }
    }

    static func encoded(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A string, number or boolean as text; `nil` for anything else.
    static func scalar(_ value: Any?) -> String? {
        guard let value else { return nil }
        // Yams gives Swift values; JSONSerialization gives NSNumber, whose booleans are of their own class.
        if type(of: value) == Bool.self, let flag = value as? Bool { return flag ? "true" : "false" }
        if type(of: value) == Int.self, let number = value as? Int { return String(number) }
        if type(of: value) == Double.self, let number = value as? Double { return String(number) }
        switch value {
        case let text as String: return text
        case let number as NSNumber:
            if String(describing: type(of: number)).contains("Boolean") { return number.boolValue ? "true" : "false" }
            return number.stringValue
        default: return nil
        }
    }

    static func kind(of value: Any) -> String {
        switch value {
        case is [Any]: "a list"
        case is [String: Any]: "an object"
        case is String: "a string"
        case is NSNumber, is Int, is Double, is Bool: "a number"
        default: "null"
        }
    }

    /// At most 80 characters of user text in a message, control characters escaped.
    static func shown(_ text: String) -> String {
        let cut = text.count > 80 ? String(text.prefix(80)) + "…" : text
        return String(cut.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
    }
}
