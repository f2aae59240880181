import ArgumentParser
import Foundation
import VampClient
import VampDSL
import VampModel

/// `deploy` and `merge`: one call, `PUT /deployments/{name}`.
struct DeploymentChange: ParsableArguments {
    @Argument(help: "A stored blueprint's name (without -f), then the deployment's name; with -f only the deployment's name (default: the blueprint's).")
    var names: [String] = []
    @OptionGroup var input: InputOptions
    @OptionGroup var server: ServerOptions
    @OptionGroup var waiting: WaitOptions
    @Flag(name: .long, help: "Check only; deploy nothing.") var validateOnly = false

    func run(verb: String) async throws {
        let client = try server.client()
        let body: String, deployment: String
        if input.given {
            body = try input.text()
            if let name = names.first {
                deployment = name
            } else {
                let documents: [DSLDocument]
                do { documents = try DSLReader.read(body, kind: .blueprint) } catch {
                    throw ValidationError("the document does not read as a blueprint: \(error.errors.first.map { "\($0)" } ?? "")")
                }
                guard let name = documents.first?.artifact.name else { throw ValidationError("give the deployment's name: vamp \(verb) -f FILE NAME") }
                deployment = name
            }
        } else {
            guard names.count == 2 else { throw ValidationError("give a blueprint and a deployment: vamp \(verb) BLUEPRINT DEPLOYMENT, or -f FILE") }
            body = names[0]
            deployment = names[1]
        }
        try await client.deploy(body, as: deployment, validateOnly: validateOnly)
        if validateOnly {
            print("valid: \(verb) into deployment \(deployment)")
            return
        }
        try await waiting.until("deployment \(deployment)") { try await Self.pending(client, deployment) }
        try await waiting.untilServed(client, "deployment \(deployment)")
        print("\(verb == "deploy" ? "deployed" : "merged") \(deployment)\(waiting.wait ? "" : " (accepted; --wait waits until it runs)")")
    }

    /// What keeps a deployment from being live, or `nil` when every service is deployed and done.
    static func pending(_ client: VampClient, _ name: String) async throws -> String? {
        guard let deployment = try await client.deployment(name) else { return "not there yet" }
        var waiting: [String] = []
        for cluster in deployment.clusters {
            for service in cluster.services {
                let status = service.status
                if status.phase.name == .failed {
                    throw VampClientError(.server, message: "service \(service.breed.name) of \(name) failed: \(status.phase.notification ?? "no reason given")")
                }
                if status.intention != .deployment || status.phase.name != .done {
                    waiting.append("\(service.breed.name) \(status.intention.rawValue)/\(status.phase.name.rawValue)")
                }
            }
        }
        return waiting.isEmpty ? nil : waiting.joined(separator: ", ")
    }
}

struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deploy a blueprint as a deployment (created, or merged into it).",
        discussion: """
            Example: vamp deploy sava sava --wait
                     vamp deploy -f Examples/sava.yaml --wait
            """)
    @OptionGroup var change: DeploymentChange
    func run() async throws { try await change.run(verb: "deploy") }
}

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a blueprint into a deployment: new services are added (at 0% next to the running ones).",
        discussion: """
            Example: vamp merge sava:1.1 sava --wait
                     vamp merge -f canary.yaml sava --wait
            """)
    @OptionGroup var change: DeploymentChange
    func run() async throws { try await change.run(verb: "merge") }
}

struct Undeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Undeploy a deployment, or some of its services.",
        discussion: """
            Without --service the whole deployment goes. Refused while the routes that remain would not carry 100%.
            Example: vamp undeploy sava --service sava:1.0 --wait
                     vamp undeploy sava --wait
            """)

    @Argument(help: "The deployment.") var deployment: String
    @Option(name: .long, help: "A service (its breed's name) to undeploy; repeat for several.") var service: [String] = []
    @OptionGroup var server: ServerOptions
    @OptionGroup var waiting: WaitOptions

    func run() async throws {
        let client = try server.client()
        try await client.undeploy(deployment, services: service)
        try await waiting.until("undeploying \(deployment)") {
            guard let current = try await client.deployment(deployment) else { return nil }
            let names = current.clusters.flatMap(\.services).map(\.breed.name)
            let left = service.isEmpty ? names : names.filter(service.contains)
            return left.isEmpty ? nil : "still running: " + left.joined(separator: ", ")
        }
        try await waiting.untilServed(client, "undeploying \(deployment)")
        print("undeployed \(service.isEmpty ? deployment : service.joined(separator: ", ") + " of " + deployment)\(waiting.wait ? "" : " (accepted)")")
    }
}

struct UpdateGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-gateway",
        abstract: "Change a gateway's route weights, or a route's condition.",
        discussion: """
            A route is named by its breed (sava:1.1) or its full path (sava/web/sava:1.1/web). The gateway is read, \
            changed and written back.
            Example: vamp update-gateway sava/web/web --weights sava:1.0@90%,sava:1.1@10% --wait
                     vamp update-gateway sava/web/web --route sava:1.1 --condition "has cookie beta" --strength 100%
                     vamp update-gateway sava/web/web --route sava:1.1 --condition null
            """)

    @Argument(help: "The gateway, e.g. sava/web/web.") var name: String
    @Option(name: .long, help: ArgumentHelp("Weights as route@percent, comma-separated.", valueName: "r1@90%,r2@10%")) var weights: String?
    @Option(name: .long, help: "The route whose condition to set.") var route: String?
    @Option(name: .long, help: "The condition, e.g. \"has cookie beta\"; null clears it.") var condition: String?
    @Option(name: .long, help: "The condition's strength, e.g. 100%.") var strength: String?
    @OptionGroup var server: ServerOptions
    @OptionGroup var waiting: WaitOptions

    func validate() throws {
        if weights == nil && route == nil { throw ValidationError("give --weights, or --route with --condition or --strength") }
        if route != nil && condition == nil && strength == nil { throw ValidationError("--route needs --condition or --strength") }
        if route == nil && (condition != nil || strength != nil) { throw ValidationError("--condition and --strength need --route") }
    }

    func run() async throws {
        let client = try server.client()
        guard var gateway = try await client.gateway(name) else {
            throw VampClientError(.notFound, status: 404, message: "gateway '\(name)' not found")
        }
        if let weights {
            for item in weights.split(separator: ",") {
                let parts = item.split(separator: "@", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let weight = Percentage(parsing: parts[1].hasSuffix("%") ? parts[1] : parts[1] + "%") else {
                    throw ValidationError("--weights takes route@percent items such as sava:1.0@90%, not '\(item)'")
                }
                gateway.routes[try index(of: parts[0], in: gateway)].weight = weight
            }
        }
        if let route {
            let index = try index(of: route, in: gateway)
            if let condition {
                gateway.routes[index].condition = condition == "null" || condition.isEmpty ? nil : .inline(Condition(definition: condition))
                if condition == "null" { gateway.routes[index].conditionStrength = nil }
            }
            if let strength {
                guard let value = Percentage(parsing: strength.hasSuffix("%") ? strength : strength + "%") else {
                    throw ValidationError("--strength is a percentage such as 50%, not '\(strength)'")
                }
                gateway.routes[index].conditionStrength = value
            }
        }
        let wanted = gateway.routes.map { RouteSetting($0) }
        try await client.updateGateway(gateway)
        try await waiting.until("gateway \(name)") {
            guard let now = try await client.gateway(name) else { return "not there" }
            if now.routes.map({ RouteSetting($0) }) != wanted { return "routes not updated yet" }
            return now.deployed == false ? "not deployed yet" : nil
        }
        try await waiting.untilServed(client, "gateway \(name)")
        print("updated gateway \(name): " + gateway.routes.map { route in
            var text = "\(route.path) \(route.weight?.description ?? "-")"
            if let condition = route.condition { text += " if \(conditionText(condition)) (\(route.conditionStrength?.description ?? "100%"))" }
            return text
        }.joined(separator: ", "))
    }

    func index(of name: String, in gateway: Gateway) throws -> Int {
        if let index = gateway.routes.firstIndex(where: { routeMatches($0, name) }) { return index }
        throw ValidationError("gateway '\(gateway.name)' has no route '\(name)'; its routes: \(gateway.routes.map(\.path).joined(separator: ", "))")
    }
}

/// A route named by its full path, its name, or the breed (service) segment of `d/c/s/p`.
func routeMatches(_ route: Route, _ name: String) -> Bool {
    if route.path == name || route.name == name { return true }
    let segments = route.path.split(separator: "/").map(String.init)
    return segments.count == 4 && segments[2] == name
}

/// What `update-gateway --wait` compares: a route's weight, condition and strength.
struct RouteSetting: Equatable {
    var path: String
    var weight: Percentage?
    var condition: String?
    var strength: Percentage?

    init(_ route: Route) {
        path = route.path
        weight = route.weight
        condition = route.condition.map(conditionText)
        strength = route.condition == nil ? nil : route.conditionStrength
    }
}
