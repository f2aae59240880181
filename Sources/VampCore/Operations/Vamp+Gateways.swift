import Foundation
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
        let configuration = try render(try await workspace.gateways(), deployments: try await workspace.deployments())
        if let position { rendered = (position, configuration) }
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
    /// (`Configuration.reservedPorts`), two on one port, a gateway the HAProxy generator refuses (a condition it
    /// cannot translate, weights over 100%, ...) that is served now, or a text the configured check (`haproxy -c`)
    /// refuses. The message names the gateway where the generator says which one it is.
    ///
    /// A gateway that the generator already left out of what is served now (see ``GatewayConfiguration/excluded``)
    /// does not block the change: it stays left out, and every other gateway can still be changed.
    func checkGateways(in workspace: inout Workspace, changed: [String]) async throws(OperationError) {
        try ReservedPorts.check(workspace.savedGateways, reserved: configuration.reservedPorts)
        let rendered = try render(try await workspace.gateways(), deployments: try await workspace.deployments())
        if !rendered.excluded.isEmpty {
            let before = (try? await gatewayConfiguration())?.excluded ?? [:]
            if let (name, reason) = rendered.excluded.sorted(by: { $0.key < $1.key }).first(where: { before[$0.key] == nil }) {
                throw OperationError(.invalid, "gateway '\(name)': \(reason)")
            }
        }
        if let check = configuration.configurationCheck, let refusal = await check(rendered.text) {
            let names = changed.sorted().map { "'\($0)'" }.joined(separator: ", ")
            let subject = names.isEmpty ? "the remaining gateways" : "gateway \(names)"
            throw OperationError(.invalid, "\(subject): HAProxy refuses the configuration it would get: \(refusal)")
        }
    }

    func render(_ gateways: [Gateway], deployments: [Deployment]) throws(OperationError) -> GatewayConfiguration {
        var scratch = configuration.portAllocator
        let resolved: [Gateway]
        do {
            resolved = try GatewayResolution.resolve(gateways, deployments: deployments, allocator: &scratch, options: configuration.resolution)
        } catch {
            throw OperationError(.invalid, error.description, cause: error)
        }
        return GatewayConfiguration.render(resolved, generator: configuration.generator)
    }
}

extension Vamp {
    /// Every stored gateway, decoded (the gateway synchronisers' view).
    public func allGateways() async throws(OperationError) -> [Gateway] {
        try await repository.all(.gateway).compactMap { if case .gateway(let gateway) = $0 { gateway } else { nil } }
    }
}
