import VampModel

/// The `io.vamp*` keys with which the drivers mark what they start as Vamp's, and whose it is (the original's labels,
/// §1.1 and §1.2): Docker container labels, Kubernetes labels and annotations, Marathon app labels.
package enum OwnershipLabel {
    /// The "this is ours" marker: ``serviceValue``, ``workflowValue``, ``gatewayValue`` or ``gatewayAgentValue``.
    package static let owner = "io.vamp"
    /// The value of ``owner`` on a deployment's service.
    package static let serviceValue = "deployment-service"
    /// The value of ``owner`` on a workflow's daemon.
    package static let workflowValue = "workflow"
    /// The value of ``owner`` on a gateway's Kubernetes Service.
    package static let gatewayValue = "gateway"
    /// The value of ``owner`` on the gateway agents' pods, which the gateway Services select.
    package static let gatewayAgentValue = "vamp-gateway-agent"

    /// A service's deployment.
    package static let deployment = "io.vamp.deployment"
    /// A service's cluster.
    package static let cluster = "io.vamp.cluster"
    /// A service's breed name.
    package static let service = "io.vamp.service"
    /// A workflow's name (on Kubernetes: its Deployment's name, the selector of its pods).
    package static let workflow = "io.vamp.workflow"
    /// A workflow's breed name.
    package static let breed = "io.vamp.breed"
    /// `service` or `workflow`: the exact ``ServiceIdentity/Kind`` (a Kubernetes annotation).
    package static let kind = "io.vamp.kind"
    /// The ``ServiceSpecification/digest`` of what runs.
    package static let digest = "io.vamp.digest"
    /// The breed's ports: `name=number` comma-separated (Docker, Kubernetes), or the names in the app's port order
    /// (Marathon).
    package static let ports = "io.vamp.ports"
    /// A Docker container's instance number.
    package static let instance = "io.vamp.instance"
    /// The number of instances asked for when a Docker container was created.
    package static let scale = "io.vamp.scale"
    /// The Vamp namespace whose driver created it: each namespace's driver sees only its own.
    package static let namespace = "io.vamp.namespace"
    /// `io.vamp.deployment-service=<Deployment name>`: the selector of a service's pods on Kubernetes.
    package static let deploymentService = "io.vamp.deployment-service"
    /// The run id of a workflow's one-off run (``JobSpecification/run``), on its Docker container: such a container
    /// is no daemon's instance (it has no ``instance`` label) and is left alone by discovery.
    package static let run = "io.vamp.run"
    /// A gateway's name, on its Kubernetes Service.
    package static let gateway = "io.vamp.gateway"
    /// A gateway's lookup name, on its Kubernetes Service.
    package static let lookupName = "io.vamp.lookup_name"

    /// The labels naming `id` exactly: `io.vamp=deployment-service` with `io.vamp.deployment`, `.cluster` and
    /// `.service` for a service; `io.vamp=workflow` with `io.vamp.workflow` and `io.vamp.breed` for a workflow.
    package static func identityLabels(_ id: ServiceIdentity) -> [String: String] {
        switch id.kind {
        case .service: [owner: serviceValue, deployment: id.deployment, cluster: id.cluster, service: id.service]
        case .workflow: [owner: workflowValue, workflow: id.deployment, breed: id.service]
        }
    }

    /// The identity ``identityLabels(_:)`` wrote, or nil when `labels` are not a complete set of a service's or a
    /// workflow's labels.
    package static func identity(_ labels: [String: String]) -> ServiceIdentity? {
        switch labels[Self.owner] {
        case Self.serviceValue:
            guard let deployment = labels[Self.deployment], let cluster = labels[Self.cluster], let service = labels[Self.service]
            else { return nil }
            return ServiceIdentity(deployment: deployment, cluster: cluster, service: service)
        case Self.workflowValue:
            guard let workflow = labels[Self.workflow], let breed = labels[Self.breed] else { return nil }
            return .workflow(workflow, breed: breed)
        default:
            return nil
        }
    }
}
