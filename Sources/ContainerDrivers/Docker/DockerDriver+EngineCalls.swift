import Foundation
import Logging
import NIOHTTP1
import VampModel

/// The engine calls of ``DockerDriver``'s deploy and undeploy: the image made present, containers created, started and
/// removed.
extension DockerDriver {
    func ensureImage(_ image: String) async throws(ContainerDriverError) {
        let escaped = image.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#"))) ?? image
        let present = try await engine.http.call(.GET, "/images/\(escaped)/json")
        if present.status == 200 { return }
        guard present.status == 404 else {
            throw ContainerDriverError("Docker engine: looking for image \(image) answered \(present.status): \(DockerEngineClient.message(present))")
        }
        let reference = DockerPlan.imageReference(image)
        logger.info("pulling image", metadata: ["vamp.image": "\(image)"])
        var query = [("fromImage", reference.name)]
        if !reference.tag.isEmpty { query.append(("tag", reference.tag)) }
        var headers = HTTPHeaders()
        if let credentials = configuration.credentials, credentials.applies(to: image) { headers.add(name: "X-Registry-Auth", value: credentials.header) }
        let pull = try await engine.http.call(.POST, "/images/create", query: query, headers: headers, timeout: configuration.pullTimeout)
        let failure = (200..<300).contains(pull.status) ? DockerPlan.pullError(pull.text) : DockerEngineClient.message(pull)
        if let failure {
            let hint = DockerPlan.isAuthenticationFailure(failure)
                ? headers.isEmpty
                    ? " (the registry wants credentials: set vamp.container-driver.docker.repository.username and .password)"
                    : " (the registry refused the credentials of vamp.container-driver.docker.repository.username \(configuration.credentials?.username ?? ""))"
                : ""
            throw ContainerDriverError("cannot pull image \(image): \(failure)\(hint)", permanent: true)
        }
        let pulled = try await engine.http.call(.GET, "/images/\(escaped)/json")
        guard pulled.status == 200 else {
            throw ContainerDriverError("cannot pull image \(image): the engine does not have it after the pull", permanent: true)
        }
    }

    /// Creates and starts instance `index`'s container under its one name (``DockerPlan/containerName(_:index:namespace:)``).
    /// When the engine has a container of that name already (409: created by a deploy beside this one, or by a server
    /// killed before it saw the answer), that one is taken: started when it runs the wanted digest, else removed and
    /// created again. An instance never gets two containers.
    func create(_ service: ServiceSpecification, index: Int) async throws(ContainerDriverError) {
        let name = DockerPlan.containerName(service.id, index: index, namespace: configuration.namespace)
        let body = DockerPlan.createBody(service, index: index, namespace: configuration.namespace)
        var created = try await engine.http.call(.POST, "/containers/create", query: [("name", name)], json: body)
        if created.status == 409 {
            let existing = try await engine.http.call(.GET, "/containers/\(name)/json")
            let object = (try? JSONSerialization.jsonObject(with: existing.body) as? [String: Any]) ?? [:]
            let labels = (object["Config"] as? [String: Any])?["Labels"] as? [String: String] ?? [:]
            let state = (object["State"] as? [String: Any])?["Status"] as? String ?? ""
            if existing.status == 200, let id = object["Id"] as? String, labels[OwnershipLabel.digest] == service.digest,
                state == "created" || state == "running"
            {
                logger.info("container of this instance found: taken, not created again", metadata: ["vamp.container": "\(id.prefix(12))"])
                return try await start(id, of: service.id, index: index)
            }
            try await remove(name)
            created = try await engine.http.call(.POST, "/containers/create", query: [("name", name)], json: body)
        }
        guard created.status == 201,
            let object = try? JSONSerialization.jsonObject(with: created.body) as? [String: Any], let id = object["Id"] as? String
        else {
            throw ContainerDriverError(
                "Docker engine refused the container of \(service.id) (image \(service.breed.deployable?.definition ?? "")): "
                    + DockerEngineClient.message(created),
                permanent: created.status == 400)
        }
        configuration.crashPoint?(.created)
        try await start(id, of: service.id, index: index)
    }

    /// Starts a container of the service (304: it runs already); one the engine refuses to start is removed.
    func start(_ id: String, of service: ServiceIdentity, index: Int?) async throws(ContainerDriverError) {
        do {
            try await engine.http.expect(.POST, "/containers/\(id)/start", accepting: [304])
        } catch {
            try? await remove(id)
            throw error
        }
        logger.info(
            "container started",
            metadata: ["vamp.service": "\(service)", "vamp.instance": "\(index.map(String.init) ?? "?")", "vamp.container": "\(id.prefix(12))"])
    }

    nonisolated func remove(_ id: String) async throws(ContainerDriverError) {
        // 409: not running; 404: already gone. Both fine: the delete below settles it.
        try await engine.http.expect(.POST, "/containers/\(id)/kill", accepting: [404, 409])
        try await engine.http.expect(.DELETE, "/containers/\(id)", query: [("force", "true")], accepting: [404])
    }

    func metadata(_ container: DockerPlan.Container) -> Logger.Metadata {
        ["vamp.service": "\(container.service)", "vamp.instance": "\(container.index)", "vamp.container": "\(container.id.prefix(12))"]
    }
}
