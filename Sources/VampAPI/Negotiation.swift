import Foundation

/// The two formats of Vamp's API.
public enum BodyFormat: Sendable, Hashable {
    case json, yaml

    /// The media type answers carry.
    public var mediaType: String { self == .json ? "application/json" : "application/x-yaml" }

    /// The format of a request body from its `Content-Type`; `nil` when the type is neither JSON nor YAML.
    public static func ofRequest(contentType: String?) -> BodyFormat? {
        guard let contentType else { return nil }
        let type = mediaType(contentType)
        if type == "application/json" || type.hasSuffix("+json") { return .json }
        if ["application/x-yaml", "application/yaml", "text/yaml", "text/x-yaml"].contains(type) { return .yaml }
        return nil
    }

    /// The format of the answer from `Accept`: YAML when YAML is asked for before JSON, JSON otherwise.
    public static func ofResponse(accept: String?) -> BodyFormat {
        guard let accept else { return .json }
        for part in accept.split(separator: ",") {
            let type = mediaType(String(part))
            if type.contains("yaml") { return .yaml }
            if type.contains("json") { return .json }
        }
        return .json
    }

    /// The error message for a body of another type (Vamp's wording).
    static let unsupportedMessage = "Only the following media types are supported: application/json, application/x-yaml"

    static func mediaType(_ header: String) -> String {
        header.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }
}
