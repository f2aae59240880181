/// Dependency cycles between the services of a blueprint or a deployment.
///
/// A service's dependency is satisfied by the first other cluster that runs a breed matching it (reference §4.6),
/// and the service is deployed once that cluster runs (§4.5). Vamp 0.9.5 refused recursive dependencies; so does
/// this validation: breed `a:1` depending on `b:1` depending on `a:1` is refused, for a blueprint as it is stored
/// and again for the deployment it makes (once the breeds it names are known, and after a merge, which can close a
/// cycle neither blueprint had). Deployed on their own, services that depend on each other would wait for each
/// other forever.
extension Validation {
    /// One service of a cluster, as the dependency check sees it.
    struct DependencyNode {
        var cluster: String
        /// Where the service is, for error paths: `clusters.web.services[0]` or `clusters.web.services.a:1`.
        var path: String
        var breedName: String
        /// `nil` when the breed is a reference whose dependencies are not known yet.
        var dependencies: [Dependency]?
    }

    /// The errors for the dependency cycles among a blueprint's clusters; only inline breeds' dependencies are known.
    static func dependencyCycles(of blueprint: Blueprint) -> [VampError] {
        var nodes: [DependencyNode] = []
        for cluster in blueprint.clusters {
            for (index, service) in cluster.services.enumerated() {
                nodes.append(DependencyNode(
                    cluster: cluster.name, path: "clusters.\(cluster.name).services[\(index)]", breedName: service.breedName,
                    dependencies: service.breed.inlineValue?.dependencies))
            }
        }
        return dependencyCycles(nodes, kind: "blueprint", name: blueprint.name)
    }

    /// The errors for the dependency cycles among the live services of a deployment (a merge may close a cycle that
    /// neither blueprint had): one error per cycle, naming the deployment, the dependency's field and every step.
    public static func dependencyCycles(of deployment: Deployment) -> [VampError] {
        var nodes: [DependencyNode] = []
        for cluster in deployment.clusters {
            for service in cluster.services where service.status.intention == .deployment {
                nodes.append(DependencyNode(
                    cluster: cluster.name, path: "clusters.\(cluster.name).services.\(service.breed.name)",
                    breedName: service.breed.name, dependencies: service.breed.dependencies))
            }
        }
        return dependencyCycles(nodes, kind: "deployment", name: deployment.name)
    }

    static func dependencyCycles(_ nodes: [DependencyNode], kind: String, name: String) -> [VampError] {
        var clusters: [String] = []
        for node in nodes where !clusters.contains(node.cluster) { clusters.append(node.cluster) }
        // Edges from a service to the services its dependency names, in the cluster that satisfies it: the first
        // other cluster with a matching breed, as the deployment's environment resolution picks it.
        var edges: [[(to: Int, alias: String)]] = Array(repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for dependency in node.dependencies ?? [] {
                let matches = { (other: DependencyNode) in Names.dependency(dependency.breedName, isSatisfiedBy: other.breedName) }
                guard let cluster = clusters.first(where: { cluster in cluster != node.cluster && nodes.contains { $0.cluster == cluster && matches($0) } }) else { continue }
                for (target, other) in nodes.enumerated() where other.cluster == cluster && matches(other) {
                    edges[index].append((target, dependency.alias))
                }
            }
        }
        // Depth-first search; a service on the stack reached again closes a cycle, reported at the dependency that
        // closes it.
        var errors: [VampError] = []
        var finished = Set<Int>()
        var stack: [(node: Int, alias: String)] = []
        func step(_ node: Int, _ alias: String) -> String { "breed '\(nodes[node].breedName)' in cluster '\(nodes[node].cluster)' (dependency '\(alias)')" }
        func visit(_ node: Int) {
            for edge in edges[node] {
                if let start = stack.firstIndex(where: { $0.node == edge.to }) {
                    let steps = stack[start...].map { step($0.node, $0.alias) } + [step(node, edge.alias)]
                    let closing = nodes[node]
                    errors.append(VampError(
                        .invalidArtifact,
                        "dependency cycle: \(steps.joined(separator: " -> ")) -> breed '\(nodes[edge.to].breedName)'; recursive dependencies are refused (services that depend on each other would wait for each other to be deployed): remove one of these dependencies",
                        kind: kind, name: name, path: "\(closing.path).breed.dependencies.\(edge.alias)"))
                } else if edge.to == node {
                    continue
                } else if !finished.contains(edge.to) {
                    stack.append((node, edge.alias))
                    visit(edge.to)
                    stack.removeLast()
                }
            }
            finished.insert(node)
        }
        for node in nodes.indices where !finished.contains(node) {
            stack = []
            visit(node)
        }
        return errors
    }
}
