@testable import ContainerDrivers
import Foundation
import Logging
import Testing
import VampModel
import VampTesting
import Yams

/// The manifests of `Documentation/kubernetes/`, which no real cluster validated here (`kubectl apply
/// --dry-run=client` needs an API server for discovery, and none can run here): parsed as YAML and checked for what
/// Kubernetes requires and what Vamp relies on; the ClusterRole is checked against the requests the driver really
/// sends, to the **fake** API server.
@Suite("Kubernetes manifests (parsed; RBAC against the fake API server)")
struct KubernetesManifestsTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Documentation/kubernetes")

    /// Every document of every manifest, with its file name.
    static func documents() throws -> [(file: String, object: [String: Any])] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        var result: [(String, [String: Any])] = []
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for document in try Yams.load_all(yaml: text) {
                let object = try #require(document as? [String: Any], "\(file): a document that is not a mapping")
                result.append((file, object))
            }
        }
        return result
    }

    static func string(_ object: [String: Any], _ path: String) -> String? { value(object, path) as? String }

    static func value(_ object: [String: Any], _ path: String) -> Any? {
        var current: Any? = object
        for key in path.split(separator: ".") { current = (current as? [String: Any])?[String(key)] }
        return current
    }

    @Test func everyDocumentIsAWellFormedKubernetesObject() throws {
        let documents = try Self.documents()
        #expect(Set(documents.map(\.file)) == ["namespace.yaml", "rbac.yaml", "etcd.yaml", "vamp-server.yaml", "vamp-gateway-agent.yaml"])
        for (file, object) in documents {
            let kind = try #require(Self.string(object, "kind"), "\(file): no kind")
            #expect(Self.string(object, "apiVersion") != nil, "\(file) \(kind): no apiVersion")
            let name = try #require(Self.string(object, "metadata.name"), "\(file) \(kind): no metadata.name")
            #expect(KubernetesPlan.namePart(name) == name || name.count >= 32, "\(file): \(name) is not a DNS label")
            let namespaced = !["Namespace", "ClusterRole", "ClusterRoleBinding"].contains(kind)
            #expect((Self.string(object, "metadata.namespace") == "vamp") == namespaced, "\(file) \(kind) \(name): namespace")
            guard ["Deployment", "DaemonSet", "StatefulSet"].contains(kind) else { continue }
            let selector = try #require(Self.value(object, "spec.selector.matchLabels") as? [String: String], "\(file) \(name): no selector")
            let labels = try #require(Self.value(object, "spec.template.metadata.labels") as? [String: String], "\(file) \(name): no template labels")
            #expect(selector.allSatisfy { labels[$0.key] == $0.value }, "\(file) \(name): the selector does not match the template")
            let containers = try #require(Self.value(object, "spec.template.spec.containers") as? [[String: Any]])
            #expect(!containers.isEmpty)
            for container in containers {
                #expect(container["name"] is String && container["image"] is String, "\(file) \(name): a container needs a name and an image")
            }
        }
    }

    @Test func theGatewayAgentsAreADaemonSetTheGatewayServicesSelect() throws {
        let agent = try #require(try Self.documents().first { Self.string($0.object, "kind") == "DaemonSet" }?.object)
        let labels = Self.value(agent, "spec.template.metadata.labels") as? [String: String]
        #expect(labels?[OwnershipLabel.owner] == OwnershipLabel.gatewayAgentValue)
        let args = (Self.value(agent, "spec.template.spec.containers") as? [[String: Any]])?.first?["args"] as? [String] ?? []
        #expect(args.contains("--store-type=etcd"))
        #expect(args.contains("--store-path=/vamp/vamp/gateways/haproxy/2.6/configuration"))
    }

    /// The `VAMP_*` variables of the server's Deployment are settings the documentation names.
    @Test func theServersVariablesAreDocumentedSettings() throws {
        var documented = Set<String>()
        for page in ["server.md", "persistence.md", "kvstores.md"] {
            let text = try String(contentsOf: Self.folder.deletingLastPathComponent().appendingPathComponent(page), encoding: .utf8)
            let regex = try NSRegularExpression(pattern: "`(vamp\\.[a-z0-9.-]+)`")
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let key = String(text[Range(match.range(at: 1), in: text)!])
                documented.insert(key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_"))
            }
        }
        let server = try #require(try Self.documents().first { Self.string($0.object, "kind") == "Deployment" }?.object)
        let env = (Self.value(server, "spec.template.spec.containers") as? [[String: Any]])?.first?["env"] as? [[String: Any]] ?? []
        #expect(env.count >= 8)
        for variable in env.compactMap({ $0["name"] as? String }) {
            #expect(documented.contains(variable), "\(variable) is not a documented setting")
        }
        #expect(env.contains { $0["name"] as? String == "VAMP_CONTAINER_DRIVER_TYPE" && $0["value"] as? String == "kubernetes" })
    }

    /// The ClusterRole grants exactly the (API group, resource, verb) triples the driver uses: a whole cycle (deploy,
    /// scale, replace, list, undeploy, gateway Services created, replaced, deleted, info) against the fake, its requests
    /// mapped to RBAC verbs as the API server does (GET of a collection is `list`, of one object `get`; POST `create`;
    /// PUT `update`; DELETE `delete`).
    @Test func theClusterRoleGrantsExactlyWhatTheDriverCalls() async throws {
        let role = try #require(try Self.documents().first { Self.string($0.object, "kind") == "ClusterRole" }?.object)
        var granted = Set<String>()
        for rule in role["rules"] as? [[String: Any]] ?? [] {
            for verb in rule["verbs"] as? [String] ?? [] {
                for group in rule["apiGroups"] as? [String] ?? [] {
                    for resource in rule["resources"] as? [String] ?? [] { granted.insert("\(group)/\(resource) \(verb)") }
                }
                for url in rule["nonResourceURLs"] as? [String] ?? [] { granted.insert("\(url) \(verb)") }
            }
        }

        let fake = try await FakeKubernetesAPIServer.start()
        fake.readyDelay = .milliseconds(100)
        do {
            let driver = try KubernetesDriver(
                configuration: .init(url: fake.url, bearer: fake.token, caCertificateFile: fake.caCertificateFile, namespace: "rbac"),
                logger: Logger(label: "rbac-test"))
            let spec = KubernetesDriverTests.sava(instances: 1)
            try await driver.deploy(spec, update: false)
            try await driver.deploy(KubernetesDriverTests.sava(instances: 2), update: true)
            try await driver.deploy(KubernetesDriverTests.sava(instances: 2), update: false)
            _ = try await driver.services()
            _ = try await driver.info()
            let gateway = DriverGateway(name: "shop/web", lookupName: "abc", port: 9050)
            try await driver.synchronizeGatewayServices([gateway])
            try await driver.synchronizeGatewayServices([DriverGateway(name: "shop/web", lookupName: "abc", port: 9051)])
            try await driver.synchronizeGatewayServices([])
            try await driver.undeploy(spec.id)
        } catch {
            await fake.stop()
            throw error
        }
        var used = Set<String>()
        for request in fake.requests {
            let parts = request.path.split(separator: "/").map(String.init)
            if parts == ["version"] {
                used.insert("/version get")
                continue
            }
            // /api/v1/[namespaces/<ns>/]<resource>[/<name>] or /apis/<group>/<version>/...
            let rest = parts.first == "apis" ? Array(parts.dropFirst(3)) : Array(parts.dropFirst(2))
            let group = parts.first == "apis" ? parts[1] : ""
            let resource: String, named: Bool
            if rest.count >= 3, rest[0] == "namespaces" {
                resource = rest[2]
                named = rest.count > 3
            } else {
                resource = rest[0]
                named = rest.count > 1
            }
            let verb = switch request.method {
            case "GET": named ? "get" : "list"
            case "POST": "create"
            case "PUT": "update"
            case "DELETE": "delete"
            default: request.method
            }
            used.insert("\(group)/\(resource) \(verb)")
        }
        await fake.stop()
        #expect(used == granted, "used but not granted: \(used.subtracting(granted).sorted()); granted but not used: \(granted.subtracting(used).sorted())")
    }
}
