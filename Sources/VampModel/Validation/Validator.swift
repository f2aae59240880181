import Foundation

/// Collects validation errors for one artifact, each with the artifact's kind and name and the
/// field path.
struct ErrorCollector {
    let kind: String
    let name: String?
    var errors: [VampError] = []

    mutating func add(_ code: VampError.Code, _ path: String, _ message: String) {
        errors.append(VampError(code, message, kind: kind, name: name, path: path))
    }

    mutating func checkArtifactName(_ value: String, _ path: String) {
        if let problem = Names.artifactNameProblem(value) { add(.illegalName, path, "illegal name or reference: \(problem)") }
    }

    mutating func checkTraitName(_ value: String, _ path: String) {
        if let problem = Names.traitNameProblem(value) { add(.illegalName, path, "illegal name: \(problem)") }
    }

    /// A name that becomes a DNS label of the default virtual hosts (see ``Names/labelProblem(_:)``); `what` says
    /// which name it is (`deployment name`, `cluster name`, ...). Reported only when the name is otherwise legal.
    mutating func checkLabel(_ value: String, _ path: String, _ what: String) {
        guard Names.artifactNameProblem(value) == nil, let problem = Names.labelProblem(value) else { return }
        add(.illegalName, path, "illegal \(what): \(problem)")
    }

    /// Checks the references of a value and returns them parsed; `nil` when the value has no
    /// reference (no `$`, the common case, is not parsed at all) or does not parse.
    @discardableResult
    mutating func checkValue(_ value: String?, _ path: String) -> ValueExpression? {
        guard let value, value.utf8.contains(0x24) else { return nil }
        do {
            return try ValueExpression.parse(value)
        } catch {
            add(.invalidValue, path, "the value '\(Names.printable(value))' has a bad reference: \(error)")
            return nil
        }
    }
}

/// Vamp's validation rules (reference §1.2, §2.4, §2.7, §2.9). Every error names the artifact,
/// the field path and what to do.
public enum Validation {
    /// Validates any artifact.
    public static func validate(_ artifact: Artifact) -> [VampError] {
        switch artifact {
        case .breed(let a): validate(a)
        case .blueprint(let a): validate(a)
        case .scale(let a): validate(a, path: "", kind: "scale", name: a.name)
        case .gateway(let a): validate(a)
        case .route(let a): validateRoute(a, kind: "route", name: a.name ?? a.path, path: "", portType: .http)
        case .condition(let a): validate(a, path: "condition", kind: "condition", name: a.name)
        case .rewrite(let a): validate(a, path: "", kind: "rewrite", name: a.name)
        case .sla(let a): validate(a, path: "", kind: "sla", name: a.name, clusters: nil)
        case .escalation(let a): validate(a, path: "", kind: "escalation", name: a.name, clusters: nil)
        case .deployment(let a): validate(a)
        case .workflow(let a): validate(a)
        case .template(let a): nameOnly(kind: "template", name: a.name)
        case .event(let a): validate(a)
        case .release(let a): validate(a)
        case .secret(let a): validate(a)
        }
    }

    /// Validates a secret: its name and the shape of its PEM text.
    public static func validate(_ secret: Secret) -> [VampError] {
        var c = ErrorCollector(kind: "secret", name: secret.name)
        if let problem = Secret.nameProblem(secret.name) { c.add(.illegalName, "name", problem) }
        if let problem = Secret.certificateProblem(secret.certificate) { c.add(.invalidValue, "certificate", problem) }
        return c.errors
    }

    static func nameOnly(kind: String, name: String) -> [VampError] {
        var c = ErrorCollector(kind: kind, name: name)
        c.checkArtifactName(name, "name")
        return c.errors
    }

    // MARK: Breed

    /// Validates a breed: names, ports, variables, constants, arguments, dependencies, health checks.
    public static func validate(_ breed: Breed) -> [VampError] {
        var c = ErrorCollector(kind: "breed", name: breed.name)
        validateBreed(breed, path: "", into: &c, visiting: [])
        return c.errors
    }

    static func validateBreed(
        _ breed: Breed, path: String, into c: inout ErrorCollector, visiting: Set<String>, lookup: (String) -> Breed? = { _ in nil }
    ) {
        let p = path.isEmpty ? "" : path + "."
        c.checkArtifactName(breed.name, p + "name")
        if let deployable = breed.deployable {
            if deployable.definition.isEmpty { c.add(.invalidValue, p + "deployable", "the deployable definition is empty; give an image such as acme/catalog:2.1") }
            if deployable.type.isEmpty { c.add(.invalidValue, p + "deployable.type", "the deployable type is empty") }
        }
        var portNames = Set<String>()
        for port in breed.ports {
            c.checkTraitName(port.name, p + "ports.\(port.name)")
            // A port's name names its cluster gateway, `deployment/cluster/port`.
            c.checkLabel(port.name, p + "ports.\(port.name)", "port name")
            if let expression = c.checkValue(port.reference, p + "ports.\(port.name)") {
                checkAliasReferences(expression, breed: breed, path: p + "ports.\(port.name)", into: &c)
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: lookup, path: p + "ports.\(port.name)", into: &c)
            }
            if !portNames.insert(port.name).inserted { c.add(.invalidArtifact, p + "ports.\(port.name)", "the port name '\(port.name)' is used twice") }
            if let number = port.number, !(1...65535).contains(number) {
                c.add(.invalidValue, p + "ports.\(port.name)", "port \(number) is outside 1-65535")
            }
        }
        var variableNames = Set<String>()
        for variable in breed.environmentVariables {
            let vp = p + "environment_variables.\(variable.key)"
            c.checkTraitName(variable.name, vp)
            if let alias = variable.alias { c.checkTraitName(alias, vp) }
            if !variableNames.insert(variable.name).inserted { c.add(.invalidArtifact, vp, "the variable '\(variable.name)' is defined twice") }
            if let expression = c.checkValue(variable.value, vp) {
                checkAliasReferences(expression, breed: breed, path: vp, into: &c)
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: lookup, path: vp, into: &c)
            }
        }
        for constant in breed.constants {
            c.checkTraitName(constant.name, p + "constants.\(constant.name)")
            if let expression = c.checkValue(constant.value, p + "constants.\(constant.name)") {
                checkDependencyTraits(expression, dependencies: breed.dependencies, lookup: lookup, path: p + "constants.\(constant.name)", into: &c)
            }
        }
        validateArguments(breed.arguments, path: p + "arguments", into: &c)
        var aliases = Set<String>()
        for dependency in breed.dependencies {
            let dp = p + "dependencies.\(dependency.alias)"
            c.checkTraitName(dependency.alias, dp)
            if !aliases.insert(dependency.alias).inserted { c.add(.invalidArtifact, dp, "the dependency alias '\(dependency.alias)' is used twice") }
            if Names.dependency(dependency.breedName, isSatisfiedBy: breed.name) || visiting.contains(dependency.breedName) {
                c.add(.invalidArtifact, dp, "recursive dependency: '\(breed.name)' depends on itself through '\(dependency.breedName)'")
                continue
            }
            switch dependency.breed {
            case .reference(let name):
                let bare = name.hasSuffix("*") ? String(name.dropLast()) : name
                if let problem = Names.artifactNameProblem(bare.isEmpty ? "x" : bare) { c.add(.illegalName, dp, "illegal name or reference: \(problem)") }
            case .inline(let inner):
                validateBreed(inner, path: dp + ".breed", into: &c, visiting: visiting.union([breed.name]), lookup: lookup)
            }
        }
        validateHealthChecks(breed.healthChecks, ports: portNames, path: p + "health_checks", into: &c)
    }

    /// `$alias.…` references in a breed's values must use a declared dependency alias.
    static func checkAliasReferences(_ expression: ValueExpression, breed: Breed, path: String, into c: inout ErrorCollector) {
        for part in expression.parts {
            let cluster: String
            switch part {
            case .host(let name), .trait(let name, _, _): cluster = name
            default: continue
            }
            if !breed.dependencies.contains(where: { $0.alias == cluster }) {
                c.add(.invalidValue, path, "the value refers to '\(cluster)', which is not a dependency alias of breed '\(breed.name)'; declare it under dependencies")
            }
        }
    }

    /// `$alias.ports.p`, `$alias.environment_variables.V` and `$alias.constants.C` must name a
    /// trait the dependency's breed declares, when that breed is known (inline, or in the
    /// same blueprint).
    static func checkDependencyTraits(
        _ expression: ValueExpression, dependencies: [Dependency], lookup: (String) -> Breed?, path: String, into c: inout ErrorCollector
    ) {
        guard !dependencies.isEmpty else { return }
        for part in expression.parts {
            guard case .trait(let alias, let group, let name) = part,
                  let dependency = dependencies.first(where: { $0.alias == alias }) else { continue }
            let target: Breed?
            switch dependency.breed {
            case .inline(let breed): target = breed
            case .reference(let reference): target = lookup(reference)
            }
            guard let target else { continue }
            let declared: [String]
            let what: String
            switch group {
            case .ports: declared = target.ports.map(\.name); what = "port"
            case .environmentVariables: declared = target.environmentVariables.map(\.name); what = "environment variable"
            case .constants: declared = target.constants.map(\.name); what = "constant"
            }
            if !declared.contains(name) {
                let list = declared.isEmpty ? "none" : declared.joined(separator: ", ")
                c.add(.invalidValue, path, "'\(alias)' (breed '\(target.name)') has no \(what) '\(name)'; it declares: \(list)")
            }
        }
    }

    static func validateArguments(_ arguments: [RunArgument], path: String, into c: inout ErrorCollector) {
        for (index, argument) in arguments.enumerated() {
            if argument.key.isEmpty { c.add(.invalidValue, "\(path)[\(index)]", "an argument has an empty key") }
            if argument.key == "privileged", !["true", "false"].contains(argument.value.lowercased()) {
                c.add(.invalidValue, "\(path)[\(index)].privileged", "'privileged' must be true or false, not '\(argument.value)'")
            }
        }
    }

    static func validateHealthChecks(_ checks: [HealthCheck]?, ports: Set<String>?, path: String, into c: inout ErrorCollector) {
        for (index, check) in (checks ?? []).enumerated() {
            let hp = "\(path)[\(index)]"
            if let ports, !ports.contains(check.port) {
                let known = ports.sorted().joined(separator: ", ")
                c.add(.invalidArtifact, hp + ".port", "the health check names port '\(check.port)', which the breed does not define (ports: \(known.isEmpty ? "none" : known))")
            }
            if check.failures < 0 { c.add(.invalidValue, hp + ".failures", "failures must be 0 or more") }
            if !check.path.hasPrefix("/") || check.path.unicodeScalars.contains(where: { $0.value < 0x21 }) {
                c.add(.invalidValue, hp + ".path", "the health check path must start with '/' and contain no spaces or control characters")
            }
        }
    }
}
