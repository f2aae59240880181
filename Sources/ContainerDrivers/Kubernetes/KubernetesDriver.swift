import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import VampConcurrency
import VampModel

/// Runs breeds of deployable type `container/docker` (alias `docker`) on Kubernetes: one apps/v1 Deployment per
/// service (`<deployment>-<breed>`) or workflow daemon (`vamp-workflow-<name>`), `scale.instances` replicas, in the
/// Kubernetes namespace named after the Vamp namespace (created when missing).
///
/// The Deployment and its pods carry the selector labels `io.vamp=deployment-service` (or `workflow`) and
/// `io.vamp.deployment-service=<name>` (or `io.vamp.workflow=<name>`), the legalised identity labels
/// `io.vamp.deployment`, `.cluster`, `.service`, and annotations with the exact identity, the
/// ``ServiceSpecification/digest`` and the breed's ports, so that ``services()`` reads back what an earlier server
/// started. An instance is a pod: its name, its pod IP, the container ports by breed port name; it is deployed when its
/// phase is `Running` and its `Ready` condition `True` (the first health check becomes the container's readiness
/// probe, so Kubernetes itself runs the check).
///
/// `rkt` is not accepted: Kubernetes removed its rkt runtime (rktnetes) long ago, and an image of another type would be
/// run by whatever container runtime the cluster has.
///
/// The change notices come from a poll of the pods and Deployments every second (``Configuration/pollInterval``), not
/// from a watch: one list of each per second per namespace is cheap, and needs no reconnecting or re-listing on
/// `410 Gone`. The poll runs in ``run()`` (the driver is a `Service`); deploy, undeploy and discovery call the API
/// directly, with or without it.
///
/// Gateways become Kubernetes Services through ``synchronizeGateways(_:)`` (``synchronizeGatewayServices(_:)`` also
/// says where each is reachable).
public actor KubernetesDriver: ContainerDriver {
    /// The service account's token file in a pod.
    public static let serviceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    /// The service account's CA certificate in a pod.
    public static let serviceAccountCAFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

    /// The type of the gateways' Services.
    public enum ServiceType: String, Sendable, Hashable, CaseIterable {
        /// `NodePort`: the gateway's port on every node (the default).
        case nodePort = "NodePort"
        /// `LoadBalancer`: a load balancer of the cloud.
        case loadBalancer = "LoadBalancer"
    }

    /// The driver's settings.
    public struct Configuration: Sendable {
        /// The API server: `https://host:port`.
        public var url: String
        /// A fixed bearer token; wins over ``tokenFile``.
        public var bearer: String?
        /// A file holding the bearer token, re-read every minute and after a 401 (service-account tokens rotate).
        public var tokenFile: String?
        /// The PEM CA certificate(s) the API server's certificate is checked against (the system's roots when nil).
        public var caCertificateFile: String?
        /// The Vamp namespace; the Kubernetes namespace is the same name (``KubernetesDriver/kubernetesNamespace``).
        public var namespace: String
        /// The type of the gateways' Services.
        public var serviceType: ServiceType
        /// How often the pods are looked at for the change notices (``KubernetesDriver/changeNotices()``).
        public var pollInterval: Duration

        /// Creates a configuration.
        /// - Parameters:
        ///   - url: The API server; default ``defaultURL(environment:)``.
        ///   - bearer: A fixed token.
        ///   - tokenFile: A token file; default the service account's when it exists.
        ///   - caCertificateFile: The CA certificate; default the service account's when it exists.
        ///   - namespace: The Vamp namespace.
        ///   - serviceType: The gateways' Service type.
        ///   - pollInterval: How often changes are looked for.
        public init(
            url: String? = nil, bearer: String? = nil, tokenFile: String? = nil, caCertificateFile: String? = nil,
            namespace: String = "default", serviceType: ServiceType = .nodePort, pollInterval: Duration = .seconds(1)
        ) {
            self.url = url ?? Self.defaultURL(environment: ProcessInfo.processInfo.environment)
            self.bearer = bearer
            let exists = { (path: String) in FileManager.default.fileExists(atPath: path) ? path : nil }
            self.tokenFile = tokenFile ?? (bearer == nil ? exists(KubernetesDriver.serviceAccountTokenFile) : nil)
            self.caCertificateFile = caCertificateFile ?? exists(KubernetesDriver.serviceAccountCAFile)
            self.namespace = namespace
            self.serviceType = serviceType
            self.pollInterval = pollInterval
        }

        /// In a pod, `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`; else `https://kubernetes.default.svc`.
        public static func defaultURL(environment: [String: String]) -> String {
            if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty {
                let port = environment["KUBERNETES_SERVICE_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "443"
                return "https://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            }
            return "https://kubernetes.default.svc"
        }
    }

    /// Where a gateway's Service is reachable.
    public struct GatewayServiceAddress: Sendable, Hashable {
        /// The gateway's lookup name.
        public var lookupName: String
        /// The Service's cluster IP, once assigned.
        public var clusterIP: String?
        /// The port on every node (`NodePort` and `LoadBalancer` Services), once assigned.
        public var nodePort: Int?
    }

    /// `container/docker`; the original's `docker` is accepted as its alias (``ContainerDriver/runs(_:)``).
    public nonisolated let deployableTypes: Set<String> = ["container/docker"]
    /// The Kubernetes namespace the driver works in.
    public nonisolated let kubernetesNamespace: String

    private let notices = Broadcast<Void>()
    private let api: KubernetesAPIClient
    private let configuration: Configuration
    private let logger: Logger
    private var namespaceReady = false

    /// Creates the driver; nothing is called until it is used or run.
    /// - Throws: A permanent ``ContainerDriverError`` for a URL that is not `https://` or `http://`, or a CA
    ///   certificate file that cannot be read.
    public init(configuration: Configuration = Configuration(), logger: Logger) throws(ContainerDriverError) {
        var base = configuration.url
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), ["https", "http"].contains(url.scheme ?? ""), url.host != nil else {
            throw ContainerDriverError(
                "the Kubernetes API url '\(configuration.url)' (vamp.container-driver.kubernetes.url) is not https://host[:port]", permanent: true)
        }
        let token = KubernetesAPIClient.TokenSource(fixed: configuration.bearer.flatMap { $0.isEmpty ? nil : $0 }, file: configuration.tokenFile)
        self.api = try KubernetesAPIClient.make(base: base, caFile: configuration.caCertificateFile, token: token)
        self.configuration = configuration
        self.logger = logger
        self.kubernetesNamespace = KubernetesPlan.namespaceName(configuration.namespace)
    }

    /// Polls the namespace's Deployments and pods every ``Configuration/pollInterval`` for the change notices, until
    /// cancelled or shut down gracefully; then the notices' streams end. The Deployments keep running.
    public nonisolated func run() async throws {
        let api = self.api, namespace = kubernetesNamespace, interval = configuration.pollInterval, notices = self.notices
        await cancelWhenGracefulShutdown {
            await PollingWatcher(interval: interval) {
                guard let (deployments, pods) = try? await Self.list(api, namespace: namespace) else { return nil }
                return KubernetesPlan.fingerprint(deployments: deployments, pods: pods)
            }.run { notices.signal() }
        }
        notices.finish()
    }

    /// A new subscription: a notice when a pod or a Deployment of the namespace appears, disappears or changes phase
    /// or readiness (while ``run()`` runs), and after each deploy and undeploy.
    public nonisolated func changeNotices() -> AsyncStream<Void> { notices.subscribe() }

    private var deploymentsPath: String { "/apis/apps/v1/namespaces/\(kubernetesNamespace)/deployments" }
    private var podsPath: String { "/api/v1/namespaces/\(kubernetesNamespace)/pods" }
    private var servicesPath: String { "/api/v1/namespaces/\(kubernetesNamespace)/services" }

    // MARK: - ContainerDriver

    /// Type `kubernetes`; the API's address, the namespace, the server's `gitVersion` (`GET /version`).
    public func info() async throws(ContainerDriverError) -> ContainerDriverInfo {
        let version = try await api.expect(.GET, "/version").json
        return ContainerDriverInfo(type: "kubernetes", details: [
            "url": .string(api.base),
            "namespace": .string(kubernetesNamespace),
            "version": .string(version.value(atPath: "gitVersion")?.stringValue ?? "unknown"),
            "platform": .string(version.value(atPath: "platform")?.stringValue ?? "unknown"),
            "service_type": .string(configuration.serviceType.rawValue),
        ])
    }

    /// Every Deployment of the namespace with Vamp's labels and annotations, its pods as instances.
    public func services() async throws(ContainerDriverError) -> [RuntimeService] {
        let (deployments, pods) = try await Self.list(api, namespace: kubernetesNamespace)
        return KubernetesPlan.services(deployments: deployments, pods: pods)
    }

    /// Creates the Deployment (`update == false`; when it exists already, it is replaced) or replaces it
    /// (`update == true`) with the `resourceVersion` just read, re-reading and retrying on `409 Conflict`. Kubernetes
    /// scales it, and rolls its pods when the template (the digest) changed.
    /// - Throws: A permanent ``ContainerDriverError`` for a breed that is not a Docker image, a body the API rejects
    ///   as Invalid, or credentials it refuses; a transient one when it cannot be reached.
    public func deploy(_ service: ServiceSpecification, update: Bool) async throws(ContainerDriverError) {
        guard let deployable = service.breed.deployable, runs(deployable), !deployable.definition.isEmpty else {
            throw ContainerDriverError(
                "breed \(service.breed.name) is not a Docker image (deployable type container/docker): the Kubernetes driver runs images",
                permanent: true)
        }
        try await ensureNamespace()
        let body = KubernetesPlan.deploymentBody(service, namespace: kubernetesNamespace)
        let name = KubernetesPlan.deploymentName(service.id)
        if !update {
            let created = try await api.call(.POST, deploymentsPath, json: body)
            if (200..<300).contains(created.status) {
                logger.info("deployment created", metadata: ["vamp.service": "\(service.id)", "kubernetes.deployment": "\(name)"])
                notices.signal()
                return
            }
            guard created.status == 409, created.reason == "AlreadyExists" else { throw api.failure(.POST, deploymentsPath, created) }
        }
        try await replace(name: name, body: body, id: service.id)
        notices.signal()
    }

    /// GET, then PUT with its `resourceVersion`; a `409 Conflict` (someone wrote in between) is retried with a fresh
    /// read, a few times; a Deployment that is gone is created.
    private func replace(name: String, body: JSONValue, id: ServiceIdentity) async throws(ContainerDriverError) {
        let path = "\(deploymentsPath)/\(name)"
        for attempt in 1...5 {
            let current = try await api.expect(.GET, path, accepting: [404])
            if current.status == 404 {
                try await api.expect(.POST, deploymentsPath, json: body)
                logger.info("deployment created", metadata: ["vamp.service": "\(id)", "kubernetes.deployment": "\(name)"])
                return
            }
            guard let version = current.json.value(atPath: "metadata.resourceVersion")?.stringValue else {
                throw ContainerDriverError("Kubernetes API: GET \(path) answered a Deployment without metadata.resourceVersion")
            }
            var replaced = body
            if case .object(var object) = replaced, case .object(var metadata) = object["metadata"] ?? .null {
                metadata["resourceVersion"] = .string(version)
                object["metadata"] = .object(metadata)
                replaced = .object(object)
            }
            let put = try await api.call(.PUT, path, json: replaced)
            if (200..<300).contains(put.status) {
                logger.info("deployment replaced", metadata: ["vamp.service": "\(id)", "kubernetes.deployment": "\(name)"])
                return
            }
            guard put.status == 409, attempt < 5 else { throw api.failure(.PUT, path, put) }
            logger.debug("deployment changed in between: read again", metadata: ["kubernetes.deployment": "\(name)"])
        }
    }

    /// Deletes the Deployment with `propagationPolicy: Background` (Kubernetes removes its ReplicaSets and pods); one
    /// that does not exist is fine.
    public func undeploy(_ service: ServiceIdentity) async throws(ContainerDriverError) {
        let path = "\(deploymentsPath)/\(KubernetesPlan.deploymentName(service))"
        let options: JSONValue = .object(["kind": .string("DeleteOptions"), "apiVersion": .string("v1"), "propagationPolicy": .string("Background")])
        try await api.expect(.DELETE, path, json: options, accepting: [404])
        logger.info("deployment deleted", metadata: ["vamp.service": "\(service)"])
        notices.signal()
    }

    // MARK: - Gateways

    /// Makes the namespace's gateway Services exactly one per gateway (``synchronizeGatewayServices(_:)``).
    public func synchronizeGateways(_ gateways: [DriverGateway]) async throws(ContainerDriverError) {
        try await synchronizeGatewayServices(gateways)
    }

    /// Makes the namespace's gateway Services (label `io.vamp=gateway`) exactly one per gateway: a Service of the
    /// configured type named `vamp-gateway-<lookup name>`, selecting the gateway agents' pods
    /// (`io.vamp=vamp-gateway-agent`) on the gateway's port; a changed port or type is replaced (keeping its cluster
    /// IP), Services of gateways no longer given are deleted.
    /// - Returns: Where each gateway's Service is reachable.
    @discardableResult
    public func synchronizeGatewayServices(_ gateways: [DriverGateway]) async throws(ContainerDriverError) -> [GatewayServiceAddress] {
        try await ensureNamespace()
        let selector = "\(OwnershipLabel.owner)=\(OwnershipLabel.gatewayValue)"
        let existing = try await api.items(servicesPath, selector: selector)
        let type = configuration.serviceType.rawValue
        for action in KubernetesPlan.gatewayActions(gateways, existing: existing, type: type) {
            switch action {
            case .create(let gateway):
                try await api.expect(.POST, servicesPath, json: KubernetesPlan.gatewayServiceBody(gateway, type: type, namespace: kubernetesNamespace))
                logger.info("gateway service created", metadata: ["vamp.gateway": "\(gateway.name)"])
            case .replace(let gateway):
                let path = "\(servicesPath)/\(KubernetesPlan.gatewayServiceName(lookupName: gateway.lookupName))"
                let current = try await api.expect(.GET, path).json
                guard case .object(var body) = KubernetesPlan.gatewayServiceBody(gateway, type: type, namespace: kubernetesNamespace),
                    case .object(var metadata) = body["metadata"] ?? .null, case .object(var spec) = body["spec"] ?? .null
                else { continue }
                metadata["resourceVersion"] = current.value(atPath: "metadata.resourceVersion") ?? .null
                // spec.clusterIP cannot change.
                if let ip = current.value(atPath: "spec.clusterIP") { spec["clusterIP"] = ip }
                body["metadata"] = .object(metadata)
                body["spec"] = .object(spec)
                try await api.expect(.PUT, path, json: .object(body))
                logger.info("gateway service replaced", metadata: ["vamp.gateway": "\(gateway.name)"])
            case .delete(let name):
                try await api.expect(.DELETE, "\(servicesPath)/\(name)", accepting: [404])
                logger.info("gateway service deleted", metadata: ["kubernetes.service": "\(name)"])
            }
        }
        return try await api.items(servicesPath, selector: selector).compactMap { service in
            guard let lookup = service.value(atPath: "metadata.labels")?.stringObject?[OwnershipLabel.lookupName] else { return nil }
            let nodePort = service.value(atPath: "spec.ports")?.arrayValue?.first?.value(atPath: "nodePort")?.doubleValue.map { Int($0) }
            return GatewayServiceAddress(lookupName: lookup, clusterIP: service.value(atPath: "spec.clusterIP")?.stringValue, nodePort: nodePort)
        }
    }

    // MARK: - API calls

    /// The namespace exists (GET), or is created (POST; `409 AlreadyExists` is fine): once per driver.
    private func ensureNamespace() async throws(ContainerDriverError) {
        guard !namespaceReady else { return }
        let path = "/api/v1/namespaces/\(kubernetesNamespace)"
        let current = try await api.call(.GET, path)
        if current.status == 200 {
            namespaceReady = true
            return
        }
        guard current.status == 404 || current.status == 403 else { throw api.failure(.GET, path, current) }
        let body: JSONValue = .object([
            "apiVersion": .string("v1"), "kind": .string("Namespace"),
            "metadata": .object(["name": .string(kubernetesNamespace), "labels": .object([OwnershipLabel.namespace: .string(KubernetesPlan.labelValue(configuration.namespace))])]),
        ])
        let created = try await api.call(.POST, "/api/v1/namespaces", json: body)
        guard (200..<300).contains(created.status) || (created.status == 409 && created.reason == "AlreadyExists") else {
            throw api.failure(.POST, "/api/v1/namespaces", created)
        }
        if created.status != 409 { logger.info("namespace created", metadata: ["kubernetes.namespace": "\(kubernetesNamespace)"]) }
        namespaceReady = true
    }

    /// The namespace's Deployments and pods labelled `io.vamp`.
    private static func list(_ api: KubernetesAPIClient, namespace: String) async throws(ContainerDriverError) -> ([JSONValue], [JSONValue]) {
        let deployments = try await api.items("/apis/apps/v1/namespaces/\(namespace)/deployments", selector: OwnershipLabel.owner)
        let pods = try await api.items("/api/v1/namespaces/\(namespace)/pods", selector: OwnershipLabel.owner)
        return (deployments, pods)
    }
}
