import Foundation
import HTTPTypes
import Hummingbird
import Persistence
import VampCore
import VampDSL
import VampModel

/// `POST|PUT|DELETE /api/v1` with documents of several kinds (§3.3): one request, one transaction.
extension ArtifactHandlers {
    func multiple(_ request: Request, _ context: VampRequestContext, _ method: Method) async throws -> Response {
        let (documents, text) = try await documents(request, kind: nil)
        let validateOnly = Self.flag(request, "validate_only")
        // `kind: deployment` documents are created or merged (POST, PUT) or sliced (DELETE), with the others in
        // one transaction.
        switch method {
        case .post, .put:
            let stored = try await vamp.apply(documents, intent: method == .put ? .replace : .create, validateOnly: validateOnly, requestBody: text)
            return try written(stored, request, validateOnly: false, status: .accepted)
        case .delete:
            let isDeployment = { (document: DSLDocument) in document.isDeploymentRequest || document.artifact.kind == .deployment }
            let others = documents.filter { !isDeployment($0) }.map { ($0.artifact.kind, $0.artifact.name ?? "") }
            let slices = documents.filter(isDeployment).map { document in
                (name: document.artifact.name ?? "", request: DeploymentRequest.of(document))
            }
            try await vamp.delete(others, slicing: slices, validateOnly: validateOnly)
            return Response(status: .accepted)
        }
    }

}
