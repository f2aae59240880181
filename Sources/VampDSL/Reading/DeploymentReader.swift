import Foundation
import VampModel

extension ReadContext {
    /// The deployment read model as the API returns it (reference §1.9).
    func deployment(_ node: DSLNode, _ path: String) throws -> Deployment {
        let reader = try map(node, path)
        name = try self.name(try reader.require("name"), "name")
        var deployment = Deployment(name: name!)
        if let clusters = try reader.take("clusters") {
            deployment.clusters = try map(clusters, "clusters").entries.map { entry in
                try deploymentCluster(name: entry.key, entry.value, "clusters.\(entry.key)")
            }
        }
        if let ports = try reader.take("ports") {
            for entry in try map(ports, "ports").entries {
                deployment.ports[entry.key] = try portNumber(entry.value, "ports.\(entry.key)")
            }
        }
        if let env = try reader.take("environment_variables", "env") {
            deployment.environmentVariables = try variables(env, "environment_variables", allowPlaceholders: false)
        }
        if let hosts = try reader.take("hosts") {
            for entry in try map(hosts, "hosts").entries { deployment.hosts[entry.key] = try string(entry.value, "hosts.\(entry.key)") }
        }
        deployment.dialects = try object(try reader.take("dialects", "dialect"), "dialects")
        reader.ignore("kind", "lookup_name", "gateways")
        reader.finish()
        return deployment
    }

    func deploymentCluster(name clusterName: String, _ node: DSLNode, _ path: String) throws -> DeploymentCluster {
        let reader = try map(node, path)
        var cluster = DeploymentCluster(name: clusterName)
        if let services = try reader.take("services") {
            cluster.services = try list(services, join(path, "services")).enumerated().map { index, item in
                try deploymentService(item, "\(path).services[\(index)]")
            }
        }
        if let gateways = try reader.take("gateways") {
            cluster.gateways = try map(gateways, join(path, "gateways")).entries.map { entry in
                try gatewayBody(name: entry.key, port: GatewayPort(number: 0), entry.value, join(join(path, "gateways"), entry.key), standalone: false, allowPort: true)
            }
        }
        if let sla = try reader.take("sla"), !sla.isNull { (cluster.sla, cluster.slaEscalations) = try slaReference(sla, join(path, "sla")) }
        cluster.dialects = try object(try reader.take("dialects", "dialect"), join(path, "dialects"))
        reader.ignore("metadata", "health_checks", "network")
        reader.finish()
        return cluster
    }

    func deploymentService(_ node: DSLNode, _ path: String) throws -> DeploymentService {
        let reader = try map(node, path)
        let status = try serviceStatus(try reader.require("status"), join(path, "status"))
        let breed = try self.breed(try reader.require("breed"), join(path, "breed"))
        let scale = try self.scale(try reader.require("scale"), join(path, "scale"), named: false)
        var service = DeploymentService(status: status, breed: breed, scale: scale)
        if let instances = try reader.take("instances") {
            service.instances = try list(instances, join(path, "instances")).enumerated().map { index, item in
                let ip = "\(path).instances[\(index)]"
                let instance = try map(item, ip)
                var ports: [String: Int] = [:]
                if let portsNode = try instance.take("ports") {
                    for entry in try map(portsNode, join(ip, "ports")).entries {
                        ports[entry.key] = try portNumber(entry.value, join(join(ip, "ports"), entry.key))
                    }
                }
                let result = Instance(
                    name: try string(try instance.require("name"), join(ip, "name")),
                    host: try string(try instance.require("host"), join(ip, "host")),
                    ports: ports,
                    deployed: try instance.take("deployed").map { try bool($0, join(ip, "deployed")) } ?? false)
                instance.finish()
                return result
            }
        }
        if let env = try reader.take("environment_variables", "env") {
            service.environmentVariables = try variables(env, join(path, "environment_variables"), allowPlaceholders: false)
        }
        if let arguments = try reader.take("arguments") { service.arguments = try self.arguments(arguments, join(path, "arguments")) }
        service.healthChecks = try reader.take("health_checks").map { try healthChecks($0, join(path, "health_checks")) }
        if let dependencies = try reader.take("dependencies") {
            for entry in try map(dependencies, join(path, "dependencies")).entries {
                service.dependencies[entry.key] = try string(entry.value, join(join(path, "dependencies"), entry.key))
            }
        }
        service.dialects = try object(try reader.take("dialects", "dialect"), join(path, "dialects"))
        if let health = try reader.take("health"), !health.isNull {
            let hp = join(path, "health")
            let h = try map(health, hp)
            service.health = ServiceHealth(
                staged: try int(try h.require("staged"), join(hp, "staged")),
                running: try int(try h.require("running"), join(hp, "running")),
                healthy: try int(try h.require("healthy"), join(hp, "healthy")),
                unhealthy: try int(try h.require("unhealthy"), join(hp, "unhealthy")))
            h.finish()
        }
        reader.ignore("network")
        reader.finish()
        return service
    }

    func serviceStatus(_ node: DSLNode, _ path: String) throws -> ServiceStatus {
        let reader = try map(node, path)
        let intentionNode = try reader.require("intention")
        let intentionText = try string(intentionNode, join(path, "intention"))
        guard let intention = ServiceStatus.Intention(rawValue: intentionText) else {
            throw error(.invalidValue, "intention must be Deployment or Undeployment, not '\(Self.short(intentionText))'", path: join(path, "intention"), at: intentionNode)
        }
        let since = try timestamp(try reader.require("since"), join(path, "since"))
        let pp = join(path, "phase")
        let phaseReader = try map(try reader.require("phase"), pp)
        let phaseNode = try phaseReader.require("name")
        let phaseText = try string(phaseNode, join(pp, "name"))
        guard let phaseName = ServiceStatus.Phase.Name(rawValue: phaseText) else {
            throw error(.invalidValue, "phase must be Initiated, Updating, Done or Failed, not '\(Self.short(phaseText))'", path: join(pp, "name"), at: phaseNode)
        }
        let phase = ServiceStatus.Phase(
            name: phaseName, since: try timestamp(try phaseReader.require("since"), join(pp, "since")),
            notification: try optionalString(try phaseReader.take("notification"), join(pp, "notification")))
        phaseReader.finish()
        reader.finish()
        return ServiceStatus(intention: intention, since: since, phase: phase)
    }

    func timestamp(_ node: DSLNode, _ path: String) throws -> Date {
        let text = try string(node, path)
        guard let date = Self.parseTimestamp(text) else {
            throw error(.invalidValue, "expected an ISO-8601 timestamp but found '\(Self.short(text))'", path: path, at: node)
        }
        return date
    }
}
