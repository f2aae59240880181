import Foundation

/// The rules of gateways and the small artifacts (routes, conditions, rewrites, scales, SLAs, escalations,
/// templates).
extension Validation {
    // MARK: Gateway

    /// Validates a standalone gateway: name, port, routes, weights, conditions, sticky, virtual hosts.
    public static func validate(_ gateway: Gateway) -> [VampError] {
        var c = ErrorCollector(kind: "gateway", name: gateway.name)
        if let problem = Names.gatewayNameProblem(gateway.name) {
            c.add(.illegalName, "name", problem)
        } else {
            checkLabels(ofGatewayName: gateway.name, path: "name", into: &c)
        }
        validateGatewayBody(gateway, path: "", portType: gateway.port.type, into: &c)
        for route in gateway.routes where !route.isExternal {
            let segments = route.path.split(separator: "/", omittingEmptySubsequences: false)
            if segments.count > 4 || segments.contains(where: \.isEmpty) {
                c.add(.illegalName, "routes.\(route.path)", "a route path has 1 to 4 non-empty '/' segments or is '[host:port]', not '\(route.path)'")
            }
        }
        checkExternalWeights(gateway, path: "", into: &c)
        return c.errors
    }

    /// The segments of a gateway name of one to three segments become the labels of its default virtual host
    /// (`<name>.vamp`, `<port>.<deployment>.vamp`, `<port>.<cluster>.<deployment>.vamp`); four-segment names get none.
    static func checkLabels(ofGatewayName name: String, path: String, into c: inout ErrorCollector) {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count <= 3 else { return }
        for segment in segments {
            guard let problem = Names.labelProblem(String(segment)) else { continue }
            c.add(.illegalName, path, "illegal gateway name '\(Names.printable(name))': the segment \(problem)")
        }
    }

    static func checkExternalWeights(_ gateway: Gateway, path: String, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "routes" : path + ".routes"
        let weights = gateway.routes.compactMap(\.weight?.value)
        let total = weights.reduce(0, +)
        if weights.count == gateway.routes.count, !gateway.routes.isEmpty, total != 0, total != 100 {
            let list = gateway.routes.map { "\($0.path) \($0.weight!)" }.joined(separator: ", ")
            c.add(.routeWeight, p, "total route weight is \(total)% (\(list)); it must be 0% or 100%")
        } else if total > 100 {
            c.add(.routeWeight, p, "total route weight is \(total)%; it may not exceed 100%")
        }
    }

    static func validateGatewayBody(_ gateway: Gateway, path: String, portType: BreedPort.PortType, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        if !(0...65535).contains(gateway.port.number) { c.add(.invalidValue, p + "port", "port \(gateway.port.number) is outside 0...65535") }
        if gateway.sticky != nil, portType != .http {
            c.add(.invalidArtifact, p + "sticky", "sticky sessions need an http port; this gateway's port is \(portType.rawValue)")
        }
        if let tls = gateway.tls {
            switch (tls.certificate, tls.secret) {
            case (let file?, nil):
                if let problem = GatewayTLS.certificatePathProblem(file) { c.add(.invalidValue, p + "tls.certificate", problem) }
            case (nil, let secret?):
                if let problem = Secret.nameProblem(secret) { c.add(.invalidValue, p + "tls.secret", problem) }
            case (_?, _?):
                c.add(.invalidArtifact, p + "tls", "give either certificate (a file on the agents) or secret (a stored secret), not both")
            case (nil, nil):
                c.add(.missingField, p + "tls", "give certificate (a PEM file on the agents) or secret (the name of a stored secret)")
            }
        }
        for (index, host) in gateway.virtualHosts.enumerated() where !isHostName(host) {
            c.add(.invalidValue, p + "virtual_hosts[\(index)]", "'\(Names.printable(host))' is not a host name (letters, digits, '-' and '.', labels of 1-63 characters, at most 253 in all)")
        }
        checkSizes(of: gateway, path: path, into: &c)
        var seen = Set<String>()
        for route in gateway.routes {
            if !seen.insert(route.path).inserted { c.add(.invalidArtifact, p + "routes.\(route.path)", "the route '\(route.path)' is defined twice") }
            validateRoute(route, path: p + "routes.\(route.path)", portType: portType, into: &c)
        }
    }

    static func validateRoute(_ route: Route, kind: String, name: String, path: String, portType: BreedPort.PortType) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        validateRoute(route, path: path, portType: portType, into: &c)
        return c.errors
    }

    static func validateRoute(_ route: Route, path: String, portType: BreedPort.PortType, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        if route.isExternal {
            // Vamp 0.9.5 took any bracketed target (`[external/1/2]`); what it points to is
            // resolved at deployment. Whitespace, brackets and control characters never belong.
            let inner = route.path.dropFirst().dropLast()
            if inner.isEmpty || inner.unicodeScalars.contains(where: { Names.isWhitespaceOrControl($0) || "[]".unicodeScalars.contains($0) }) {
                c.add(.illegalName, path, "the external route '\(Names.printable(route.path))' must be '[target]', such as [legacy.example.test:8080], without spaces or brackets inside")
            }
        } else if route.path.unicodeScalars.contains(where: { Names.isWhitespaceOrControl($0) || "[]".unicodeScalars.contains($0) }) {
            c.add(.illegalName, path, "the route '\(Names.printable(route.path))' may not contain whitespace, '[' or ']' (except an external '[host:port]')")
        } else if !Names.slashesStayApart(route.path) {
            c.add(.illegalName, path, Names.joiningProblem(route.path, what: "route"))
        }
        if let condition = route.condition {
            if portType != .http { c.add(.invalidArtifact, p + "condition", "conditions need an http port; this gateway's port is \(portType.rawValue)") }
            if case .inline(let value) = condition { validate(value, path: p + "condition", into: &c) }
        }
        if route.rewrites.count > Limits.rewritesPerRoute {
            c.add(.limit, p + "rewrites", "the route has \(route.rewrites.count) rewrites; at most \(Limits.rewritesPerRoute) are allowed")
        }
        if !route.rewrites.isEmpty, portType != .http {
            c.add(.invalidArtifact, p + "rewrites", "rewrites need an http port; this gateway's port is \(portType.rawValue)")
        }
        for (index, rewrite) in route.rewrites.enumerated() {
            if case .inline(let value) = rewrite { _ = validate(value, path: "\(p)rewrites[\(index)]", into: &c) }
        }
        if let balance = route.balance, !Self.balanceAlgorithms.contains(balance) {
            c.add(.invalidValue, p + "balance", "unknown balance '\(Names.printable(balance))'; use one of \(Self.balanceAlgorithms.sorted().joined(separator: ", "))")
        }
    }

    /// HAProxy balance algorithms a route may name (`default` = roundrobin for http, leastconn for tcp).
    public static let balanceAlgorithms: Set<String> = ["default", "roundrobin", "static-rr", "leastconn", "first", "source", "uri", "random"]

    /// True for a DNS host name or IPv4 address: labels of letters, digits and `-`, 1–63 characters.
    public static func isHostName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        }
    }

    // MARK: Small artifacts

    static func validate(_ condition: Condition, path: String, kind: String, name: String?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        validate(condition, path: path, into: &c)
        return c.errors
    }

    static func validate(_ condition: Condition, path: String, into c: inout ErrorCollector) {
        // Counted before parsing: parsing is linear, but the HAProxy translation of a long condition is not.
        let length = condition.definition.unicodeScalars.count
        if length > Limits.conditionLength {
            c.add(.limit, path, "the condition has \(length) characters; at most \(Limits.conditionLength) are allowed")
            return
        }
        do {
            _ = try condition.expression()
        } catch {
            c.add(.condition, path, "the condition '\(Names.printable(condition.definition))' does not parse: \(error)")
        }
    }

    static func validate(_ rewrite: Rewrite, path: String, kind: String, name: String?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        _ = validate(rewrite, path: path, into: &c)
        return c.errors
    }

    static func validate(_ rewrite: Rewrite, path: String, into c: inout ErrorCollector) -> Bool {
        let p = path.isEmpty ? "path" : path + ".path"
        if rewrite.path.isEmpty || rewrite.path.unicodeScalars.contains(where: { Names.isWhitespaceOrControl($0) }) {
            c.add(.invalidValue, p, "the rewrite path '\(Names.printable(rewrite.path))' must be non-empty without spaces or control characters")
            return false
        }
        if rewrite.condition.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            c.add(.invalidValue, p, "the rewrite condition contains a control character")
            return false
        }
        return true
    }

    static func validate(_ scale: Scale, path: String, kind: String, name: String?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        _ = validate(scale, path: path, into: &c)
        return c.errors
    }

    static func validate(_ scale: Scale, path: String, into c: inout ErrorCollector) -> Bool {
        let p = path.isEmpty ? "" : path + "."
        let before = c.errors.count
        if scale.cpu.cores <= 0 { c.add(.invalidValue, p + "cpu", "cpu must be more than 0") }
        if scale.memory.megabytes <= 0 { c.add(.invalidValue, p + "memory", "memory must be more than 0MB") }
        if scale.instances < 0 { c.add(.invalidValue, p + "instances", "instances must be 0 or more") }
        if scale.instances > Limits.instancesPerService {
            c.add(.limit, p + "instances", "\(scale.instances) instances; at most \(Limits.instancesPerService) are allowed for one service")
        }
        return c.errors.count == before
    }

    static func validate(
        _ sla: SLA, path: String, kind: String, name: String?, clusters: Set<String>?, defaultTarget: String? = nil
    ) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        let p = path.isEmpty ? "" : path + "."
        if kind == "sla", let name { c.checkArtifactName(name, "name") }
        if case .responseTimeSlidingWindow(let upper, let lower, let interval, let cooldown) = sla.definition {
            if lower < 0 || upper < lower { c.add(.invalidValue, p + "threshold", "the thresholds need 0 <= lower (\(lower)) <= upper (\(upper))") }
            if interval <= 0 { c.add(.invalidValue, p + "window.interval", "the window interval must be more than 0 seconds") }
            if cooldown < 0 { c.add(.invalidValue, p + "window.cooldown", "the window cooldown must be 0 or more seconds") }
        }
        for (index, escalation) in sla.escalations.enumerated() {
            if case .inline(let value) = escalation {
                validate(value, path: "\(p)escalations[\(index)]", clusters: clusters, into: &c)
            }
        }
        return c.errors
    }

    static func validate(_ escalation: Escalation, path: String, kind: String, name: String?, clusters: Set<String>?) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        if let name { c.checkArtifactName(name, "name") }
        validate(escalation, path: path, clusters: clusters, into: &c)
        return c.errors
    }

    static func validate(_ escalation: Escalation, path: String, clusters: Set<String>?, into c: inout ErrorCollector) {
        let p = path.isEmpty ? "" : path + "."
        func checkTarget(_ target: String?) {
            if let target, let clusters, !clusters.contains(target) {
                c.add(.invalidArtifact, p + "target", "the escalation targets cluster '\(target)', which the blueprint does not define")
            }
        }
        switch escalation.definition {
        case .scaleInstances(let minimum, let maximum, let scaleBy, let target):
            if minimum < 0 || maximum < minimum { c.add(.invalidValue, p + "minimum", "need 0 <= minimum (\(minimum)) <= maximum (\(maximum))") }
            if maximum > Limits.instancesPerService {
                c.add(.limit, p + "maximum", "\(maximum) instances; at most \(Limits.instancesPerService) are allowed for one service")
            }
            if scaleBy <= 0 { c.add(.invalidValue, p + "scale_by", "scale_by must be more than 0") }
            checkTarget(target)
        case .scaleCPU(let minimum, let maximum, let scaleBy, let target), .scaleMemory(let minimum, let maximum, let scaleBy, let target):
            if minimum < 0 || maximum < minimum { c.add(.invalidValue, p + "minimum", "need 0 <= minimum (\(minimum)) <= maximum (\(maximum))") }
            if scaleBy <= 0 { c.add(.invalidValue, p + "scale_by", "scale_by must be more than 0") }
            checkTarget(target)
        case .toAll(let children), .toOne(let children):
            for (index, child) in children.enumerated() {
                if case .inline(let value) = child { validate(value, path: "\(p)escalations[\(index)]", clusters: clusters, into: &c) }
            }
        case .generic: break
        }
    }
}
