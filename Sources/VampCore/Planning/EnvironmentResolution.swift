import Foundation
import VampModel

/// The environment of every service of a deployment, resolved as Vamp does at deployment (§4.6, §2.3): the breed's
/// values, overridden by the deployment's `cluster.VAR`, overridden by the service's own; then every reference
/// replaced: `$alias.host` and `$cluster.host` by the gateway host, `$alias.ports.p` by the port of the cluster's
/// internal gateway (so a canary of a dependency is routed too), `$alias.environment_variables.V` and
/// `$alias.constants.C` by that cluster's values, `$NAME` by the service's own variable or constant, `$$` by `$`.
enum EnvironmentResolution {
    /// Resolves the services `given` names (`cluster` → breed name → the variables the request gives them): their
    /// `dependencies` (alias → cluster) and `environmentVariables` (every value final). Other services keep theirs.
    ///
    /// - Throws: a variable without a value (a placeholder nobody filled), a dependency no cluster runs, a reference
    ///   to a cluster, port, variable or constant that does not exist; each naming cluster, service and variable.
    static func resolve(
        _ deployment: Deployment, given: [String: [String: [EnvironmentVariable]]], gatewayHost: String
    ) throws(VampErrors) -> Deployment {
        var result = deployment
        var errors: [VampError] = []
        for clusterIndex in result.clusters.indices {
            let cluster = result.clusters[clusterIndex]
            guard let requested = given[cluster.name] else { continue }
            for serviceIndex in cluster.services.indices {
                var service = cluster.services[serviceIndex]
                guard service.status.intention == .deployment, let own = requested[service.breed.name] else { continue }
                let path = "clusters.\(cluster.name).services.\(service.breed.name)"
                func problem(_ message: String, _ suffix: String = "environment_variables") {
                    errors.append(VampError(.invalidArtifact, message, kind: "deployment", name: deployment.name, path: "\(path).\(suffix)"))
                }

                var dependencies: [String: String] = [:]
                for dependency in service.breed.dependencies {
                    if let found = clusterRunning(dependency.breedName, in: result, besides: cluster.name) {
                        dependencies[dependency.alias] = found
                    } else {
                        problem("the dependency '\(dependency.alias)' (\(dependency.breedName)) of breed '\(service.breed.name)' runs in no cluster of deployment '\(deployment.name)'; add a cluster with that breed", "breed.dependencies.\(dependency.alias)")
                    }
                }
                service.dependencies = dependencies

                var variables = service.breed.environmentVariables
                for variable in deployment.environmentVariables {
                    let parts = variable.name.split(separator: ".", maxSplits: 1).map(String.init)
                    guard parts.count == 2, parts[0] == cluster.name, let index = variables.firstIndex(where: { $0.name == parts[1] }) else { continue }
                    variables[index].value = variable.value
                }
                for variable in own {
                    if let index = variables.firstIndex(where: { $0.name == variable.name }) {
                        variables[index].value = variable.value
                        if variable.alias != nil { variables[index].alias = variable.alias }
                    } else {
                        variables.append(variable)
                    }
                }

                var resolved: [EnvironmentVariable] = []
                for variable in variables {
                    guard let value = variable.value else {
                        problem("the variable '\(variable.name)' of breed '\(service.breed.name)' has no value; give it one in the blueprint (environment_variables: {\(cluster.name).\(variable.name): …}) or in the service")
                        continue
                    }
                    do {
                        let text = try interpolate(
                            value, variables: variables, service: service, dependencies: dependencies, deployment: result,
                            gatewayHost: gatewayHost)
                        resolved.append(EnvironmentVariable(name: variable.name, alias: variable.alias, value: text))
                    } catch {
                        problem("the variable '\(variable.name)' = '\(value)': \(error.message)")
                    }
                }
                service.environmentVariables = resolved
                result.clusters[clusterIndex].services[serviceIndex] = service
            }
        }
        if !errors.isEmpty { throw VampErrors(errors) }
        return result
    }

    struct Failure: Error { var message: String }

    /// The cluster (other than `own`) with a live service whose breed is `name`, or matches it when `name` ends in
    /// `*` (`shop-backend:1.*`).
    static func clusterRunning(_ name: String, in deployment: Deployment, besides own: String) -> String? {
        func matches(_ breed: String) -> Bool {
            name.hasSuffix("*") ? breed.hasPrefix(String(name.dropLast())) : breed == name
        }
        return deployment.clusters.first { cluster in
            cluster.name != own && cluster.services.contains { $0.status.intention == .deployment && matches($0.breed.name) }
        }?.name
    }

    static func interpolate(
        _ value: String, variables: [EnvironmentVariable], service: DeploymentService, dependencies: [String: String],
        deployment: Deployment, gatewayHost: String
    ) throws(Failure) -> String {
        let expression: ValueExpression
        do {
            expression = try ValueExpression.parse(value)
        } catch {
            throw Failure(message: error.description)
        }
        func cluster(_ name: String) throws(Failure) -> DeploymentCluster {
            let clusterName = dependencies[name] ?? name
            guard let found = deployment.clusters.first(where: { $0.name == clusterName }) else {
                throw Failure(message: "'\(name)' is neither a dependency of the breed nor a cluster of the deployment")
            }
            return found
        }
        var text = ""
        for part in expression.parts {
            switch part {
            case .literal(let literal):
                text += literal
            case .local(let name):
                if let constant = service.breed.constants.first(where: { $0.name == name }) {
                    text += constant.value
                } else if let own = variables.first(where: { $0.name == name })?.value, !(try? ValueExpression.parse(own))!.hasReferences {
                    text += own
                } else {
                    throw Failure(message: "'$\(name)' is no constant of the breed and no variable with a plain value")
                }
            case .host(let name):
                _ = try cluster(name)
                text += gatewayHost
            case .trait(let name, let group, let trait):
                let target = try cluster(name)
                let live = target.services.filter { $0.status.intention == .deployment }
                switch group {
                case .ports:
                    guard let port = deployment.ports["\(target.name).\(trait)"] else {
                        throw Failure(message: "cluster '\(target.name)' has no port '\(trait)'")
                    }
                    text += String(port)
                case .environmentVariables:
                    guard let found = live.lazy.compactMap({ service in
                        service.environmentVariables.first { $0.name == trait }?.value
                            ?? service.breed.environmentVariables.first { $0.name == trait }?.value
                    }).first else {
                        throw Failure(message: "no service of cluster '\(target.name)' has a variable '\(trait)' with a value")
                    }
                    text += found
                case .constants:
                    guard let found = live.lazy.compactMap({ $0.breed.constants.first { $0.name == trait }?.value }).first else {
                        throw Failure(message: "no breed of cluster '\(target.name)' has a constant '\(trait)'")
                    }
                    text += found
                }
            case .global(let scheme, let path):
                throw Failure(message: "the global reference '\(scheme)://\(path)' is not supported; write the value itself")
            }
        }
        return text
    }
}
