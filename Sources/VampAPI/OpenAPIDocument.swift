import Foundation
import Hummingbird
import VampCore
import Yams

/// The API's OpenAPI 3.0 document, served at `/api/v1/openapi.yaml` (and converted, at `/api/v1/openapi.json`).
///
/// The one copy is this target's resource `Resources/openapi.yaml`; `Documentation/openapi.yaml` is a relative
/// symlink to it, so the repository and the server cannot disagree.
enum OpenAPIDocument {
    /// The document's bytes as stored; `nil` only when the resource is missing from the build.
    static let yaml: Data? = Bundle.module.url(forResource: "openapi", withExtension: "yaml").flatMap { try? Data(contentsOf: $0) }

    /// The document as JSON (keys sorted), converted once from the YAML.
    static let json: Data? = yaml.flatMap { data in
        guard let text = String(data: data, encoding: .utf8), let value = try? Yams.load(yaml: text) else { return nil }
        return try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
    }

    static func addRoutes(to api: RouterGroup<VampRequestContext>) {
        api.get("openapi.yaml") { _, _ in try answer(yaml, mediaType: BodyFormat.yaml.mediaType) }
        api.get("openapi.json") { _, _ in try answer(json, mediaType: BodyFormat.json.mediaType) }
    }

    static func answer(_ data: Data?, mediaType: String) throws(OperationError) -> Response {
        guard let data else {
            throw OperationError(.unavailable, "the OpenAPI document is missing from the VampAPI bundle; rebuild the package")
        }
        return Response(status: .ok, headers: [.contentType: mediaType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
