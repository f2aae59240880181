import Foundation
import HAProxyConfigGen
public import VampModel

extension Vamp {
    // MARK: Gateways

    /// The HAProxy text of every stored gateway, as the gateway synchroniser writes it to the KV store and
    /// `GET /vga/haproxy/<version>/configuration` shows it.
    ///
    /// Rendered again only when the store's change log moved since the last rendering: `/info` asks for it at
    /// every call, and rendering every gateway is the most expensive read there is.
    public func gatewayConfiguration() async throws(OperationError) -> GatewayConfiguration {
        // The position is read first: a change that lands while rendering moves it again, so the next call renders.
        let position = try? await changes.position()
        if let position, let rendered, rendered.position == position { return rendered.configuration }
        var workspace = Workspace(repository: repository)
        let configuration = try render(
            try await workspace.gateways(), deployments: try await workspace.deployments(), secrets: try await workspace.secretCertificates())
        if let position { rendered = (position, configuration) }
        await pulse.update(names: configuration.names)
        return configuration
    }

    /// The gateway with a port: its own, the one it had when stored before, or a free one of the range.
    func assignPort(to gateway: Gateway, in workspace: inout Workspace, allocator: inout GatewayPortAllocator) async throws(OperationError) -> Gateway {
        var gateway = gateway
        if gateway.isInternal {
            throw OperationError(.invalid, "gateway '\(gateway.name)': a name of three segments is a cluster's internal gateway, which Vamp manages; give a gateway one, two or four segments")
        }
        guard gateway.port.number == 0 else { return gateway }
        if case .gateway(let existing)? = try await workspace.artifact(.gateway, gateway.name), existing.port.number != 0 {
            gateway.port.number = existing.port.number
            return gateway
        }
        let used = Set(try await workspace.gateways().map(\.port.number))
        do {
            gateway.port.number = try allocator.allocate(avoiding: used)
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }
        return gateway
    }

    /// Refuses the workspace when its gateways could not be served: a gateway it writes on a reserved port
    /// (`Configuration.reservedPorts`) or past `Validation.Limits` (a merge adds routes), two on one port, a
    /// gateway the HAProxy generator refuses (a condition it cannot translate, weights over 100%, a virtual host
    /// used twice, ...), or a text the configured check (`haproxy -c`) refuses. The text checked is the one of every
    /// gateway served, also the clusters' gateways whose services do not run yet: they are rendered once their
    /// instances are up, and what cannot be rendered then must be refused now. The message names the gateway where
    /// the generator says which one it is.
    ///
    /// `secret` is the secret a write changes: the gateways naming it are checked with its new certificate as if
    /// they were written, and a certificate HAProxy refuses is named with the secret.
    func checkGateways(in workspace: inout Workspace, changed: [String], secret: String? = nil) async throws(OperationError) {
        let saved = workspace.savedGateways
        try ReservedPorts.check(saved, reserved: configuration.reservedPorts)
        let sizes = saved.flatMap(Validation.sizeErrors(of:))
        if !sizes.isEmpty { throw OperationError(.invalid, sizes.map(\.description).joined(separator: "\n")) }
        let gateways = try await workspace.gateways(), deployments = try await workspace.deployments()
        let secrets = try await workspace.secretCertificates()
        try await checkTotals(gateways: gateways, deployments: deployments, changed: saved.map(\.name))
        let checked = saved + gateways.filter { secret != nil && $0.tls?.secret == secret }
        let rendered = try await renderServingAll(gateways, deployments: deployments, secrets: secrets, saved: Set(checked.map(\.name)))
        try await checkSize(rendered, changed: secret.map { "secret '\($0)'" } ?? Self.subject(changed))
        if let check = configuration.configurationCheck {
            let file: (Gateway) -> String? = { gateway in
                gateway.tls.flatMap { tls in tls.secret.flatMap { name in secrets[name].map { GatewayCertificates.file(secret: name, pem: $0) } } ?? tls.certificate }
            }
            try await checkText(rendered.stored, with: check, saved: checked, gateways: gateways, changed: changed, file: file)
        }
    }

    /// Runs the configured check (`haproxy -c`) on `text`. A certificate HAProxy cannot load is named with its
    /// gateway and field when this write saves that gateway. When it is the certificate of a gateway this write does
    /// not change (its file was rewritten since it was stored), the agents leave that gateway out as they leave out
    /// any part HAProxy refuses; it does not hold back this write, and the check goes on without its certificate.
    func checkText(
        _ text: String, with check: ConfigurationCheck, saved: [Gateway], gateways: [Gateway], changed: [String], file: (Gateway) -> String?
    ) async throws(OperationError) {
        var text = text
        var skipped = Set<String>()
        while let refusal = await check(text) {
            let refused: (Gateway) -> Bool = { gateway in
                file(gateway).map { refusal.contains("'\($0)'") && !skipped.contains($0) } ?? false
            }
            if let gateway = saved.first(where: refused), let tls = gateway.tls {
                if let secret = tls.secret {
                    throw OperationError(.invalid, "gateway '\(gateway.name)', field tls.secret: HAProxy cannot use the certificate of secret '\(secret)' (the certificate, its chain and the private key): \(refusal)")
                }
                throw OperationError(.invalid, "gateway '\(gateway.name)', field tls.certificate: HAProxy cannot use the certificate \(tls.certificate ?? "") (a PEM file with the certificate, its chain and the private key): \(refusal)")
            }
            if let stale = gateways.first(where: refused).flatMap(file) {
                skipped.insert(stale)
                text = HAProxyConfigurationGenerator.withoutCertificates(in: text) { $0 != stale }
                continue
            }
            let names = changed.sorted().map { "'\($0)'" }.joined(separator: ", ")
            let subject = names.isEmpty ? "the remaining gateways" : "gateway \(names)"
            throw OperationError(.invalid, "\(subject): HAProxy refuses the configuration it would get: \(refusal)")
        }
    }

    /// Refuses a write that takes the routes of all gateways or the instances of all deployed services past
    /// `Configuration.maximumRoutes` or `maximumInstances`. A store already past a limit (stored before it, or
    /// with a higher one) still takes writes that do not add to it, such as removing routes.
    func checkTotals(gateways: [Gateway], deployments: [Deployment], changed: [String]) async throws(OperationError) {
        let routes = Self.routeCount(gateways), instances = Self.instanceCount(deployments)
        let subject = changed.isEmpty ? "this change" : "gateway " + changed.sorted().map { "'\($0)'" }.joined(separator: ", ")
        if routes > configuration.maximumRoutes {
            let before = Self.routeCount(try await repository.all(.gateway).compactMap { if case .gateway(let gateway) = $0 { gateway } else { nil } })
            if routes > before {
                throw OperationError(.invalid, "\(subject), field routes: the gateways would have \(routes) routes in total; at most \(configuration.maximumRoutes) are allowed (one HAProxy configuration holds them all, and it is checked before every reload)")
            }
        }
        if instances > configuration.maximumInstances {
            let before = Self.instanceCount(try await repository.all(.deployment).compactMap { if case .deployment(let deployment) = $0 { deployment } else { nil } })
            if instances > before {
                let names = Set(changed.compactMap { $0.split(separator: "/").first.map(String.init) }).sorted().map { "'\($0)'" }.joined(separator: ", ")
                throw OperationError(.invalid, "deployment \(names.isEmpty ? "change" : names), field scale.instances: the deployed services would ask for \(instances) instances in total; at most \(configuration.maximumInstances) are allowed (each is a server in HAProxy's configuration)")
            }
        }
    }

    /// Refuses a write that makes the agents' configuration (the text and its certificates) larger than the KV store
    /// takes (`Configuration.maximumConfigurationBytes`). A configuration already past it still takes writes that do
    /// not make it larger.
    func checkSize(_ rendered: GatewayConfiguration, changed subject: String) async throws(OperationError) {
        guard let limit = configuration.maximumConfigurationBytes else { return }
        let size = rendered.stored.utf8.count
        guard size > limit else { return }
        let before = (try? await gatewayConfiguration())?.stored.utf8.count ?? 0
        guard size > before else { return }
        let certificates = rendered.certificates.values.reduce(0) { $0 + $1.utf8.count }
        throw OperationError(.invalid, "\(subject): the gateways' configuration would be \(size) bytes (\(certificates) of them the PEM text of \(rendered.certificates.count) certificates, base64 in the KV value); the KV store takes at most \(limit) under its key, so the agents would never get it. Fewer or smaller certificates, or fewer gateways")
    }

    static func subject(_ changed: [String]) -> String {
        changed.isEmpty ? "this change" : "gateway " + changed.sorted().map { "'\($0)'" }.joined(separator: ", ")
    }

    static func routeCount(_ gateways: [Gateway]) -> Int { gateways.reduce(0) { $0 + $1.routes.count } }

    static func instanceCount(_ deployments: [Deployment]) -> Int {
        deployments.reduce(0) { total, deployment in
            deployment.clusters.reduce(total) { total, cluster in
                cluster.services.reduce(total) { $0 + ($1.status.intention == .deployment ? $1.scale.instances : 0) }
            }
        }
    }

    /// The configuration of `gateways` with every one of them served. A gateway that this write does not save
    /// (`saved`) and that was stored before the rules that refuse it (it cannot be rendered even on its own, or the
    /// synchroniser already leaves it out of what is served) stays left out of the check, as it stays left out of
    /// HAProxy, so that it does not hold back every other write. Any other gateway left out is refused.
    func renderServingAll(
        _ gateways: [Gateway], deployments: [Deployment], secrets: [String: String], saved: Set<String>
    ) async throws(OperationError) -> GatewayConfiguration {
        var scratch = configuration.portAllocator
        var resolved: [Gateway]
        do {
            resolved = try GatewayResolution.resolve(gateways, deployments: deployments, allocator: &scratch, options: configuration.resolution)
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }
        for index in resolved.indices { resolved[index].deployed = true }
        let rendered = GatewayConfiguration.render(resolved, generator: configuration.generator, secrets: secrets)
        guard !rendered.excluded.isEmpty else { return rendered }
        let excludedNow = (try? await gatewayConfiguration())?.excluded ?? [:]
        for (name, reason) in rendered.excluded.sorted(by: { $0.key < $1.key }) {
            let stale = !saved.contains(name) && (excludedNow[name] != nil
                || !GatewayConfiguration.render(resolved.filter { $0.name == name }, generator: configuration.generator, secrets: secrets).excluded.isEmpty)
            if !stale { throw OperationError(.invalid, "gateway '\(name)': \(reason)") }
        }
        return rendered
    }

    func render(_ gateways: [Gateway], deployments: [Deployment], secrets: [String: String]) throws(OperationError) -> GatewayConfiguration {
        var scratch = configuration.portAllocator
        let resolved: [Gateway]
        do {
            resolved = try GatewayResolution.resolve(gateways, deployments: deployments, allocator: &scratch, options: configuration.resolution)
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }
        return GatewayConfiguration.render(resolved, generator: configuration.generator, secrets: secrets)
    }
}

extension Vamp {
    /// Every stored gateway, decoded (the gateway synchronisers' view).
    public func allGateways() async throws(OperationError) -> [Gateway] {
        try await repository.all(.gateway).compactMap { if case .gateway(let gateway) = $0 { gateway } else { nil } }
    }
}
