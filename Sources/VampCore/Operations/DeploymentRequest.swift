import Foundation
public import VampDSL
public import VampModel

/// What a `POST /deployments`, `PUT /deployments/{name}` or `DELETE /deployments/{name}` body asks for.
public enum DeploymentRequest: Sendable {
    /// A blueprint (or a deployment, taken as its blueprint), inline.
    case blueprint(Blueprint)
    /// The name of a stored blueprint (`sava:1.0`, `{name: sava:1.0}` or `{reference: sava:1.0}`).
    case reference(String)

    /// The name a body of one bare word holds (`sava:1.0`, `"sava:1.0"`): how a stored artifact is referred to in a
    /// request body instead of being sent inline. `nil` for anything else.
    public static func bareName(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.contains("\n"), !trimmed.hasPrefix("{"), !trimmed.hasPrefix("["), !trimmed.contains(": ") else { return nil }
        let name = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        return name.isEmpty ? nil : name
    }

    /// Reads a request body: a blueprint, a deployment, or the name of a stored blueprint.
    public static func read(_ text: String) throws(OperationError) -> DeploymentRequest {
        if let name = bareName(text) { return .reference(name) }
        let blueprintError: VampErrors
        do {
            let documents = try DSLReader.read(text, kind: .blueprint)
            guard documents.count == 1 else { throw OperationError(.invalid, "send one blueprint or deployment, not \(documents.count) documents") }
            switch documents[0].artifact {
            case .blueprint(let blueprint):
                if blueprint.clusters.isEmpty, blueprint.gateways.isEmpty { return .reference(blueprint.name) }
                let problems = documents[0].validate()
                guard problems.isEmpty else { throw OperationError(.invalid, problems.map(\.description).joined(separator: "\n")) }
                return .blueprint(blueprint)
            case .deployment(let deployment):
                return .blueprint(DeploymentPlanning.blueprint(of: deployment))
            default:
                throw OperationError(.invalid, "a deployment is made from a blueprint; this body is a \(documents[0].artifact.kind)")
            }
        } catch let error as VampErrors {
            blueprintError = error
        } catch let error as OperationError {
            throw error
        } catch {
            throw OperationError(.invalid, "\(error)", cause: error)
        }
        if let documents = try? DSLReader.read(text, kind: .deployment), documents.count == 1, case .deployment(let deployment) = documents[0].artifact {
            return .blueprint(DeploymentPlanning.blueprint(of: deployment))
        }
        throw OperationError(.invalid, blueprintError.description, cause: blueprintError)
    }
}

extension DeploymentRequest {
    /// What a `kind: deployment` document of a multi-document request asks to deploy (or slice).
    public static func of(_ document: DSLDocument) -> DeploymentRequest {
        switch document.artifact {
        case .blueprint(let blueprint): .blueprint(blueprint)
        case .deployment(let deployment): .blueprint(DeploymentPlanning.blueprint(of: deployment))
        default: .reference(document.artifact.name ?? "")
        }
    }
}
