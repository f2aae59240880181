import Foundation
import VampModel

/// Readers of SLAs and escalations, workflows, events and templates.
extension ReadContext {
    // MARK: SLA and escalations

    /// A cluster's SLA: a name, `{reference: name}` optionally with `escalations` added, or an
    /// anonymous inline SLA.
    func slaReference(_ node: DSLNode, _ path: String) throws -> (ArtifactReference<SLA>, [ArtifactReference<Escalation>]) {
        try rejectNamedInline(node, path, what: "sla")
        if case .mapping(let entries, _) = node, entries.contains(where: { $0.key == "reference" || $0.key == "ref" }) {
            let reader = try map(node, path)
            let reference = try name(try reader.require("reference", "ref"), join(path, "reference"))
            var escalations: [ArtifactReference<Escalation>] = []
            if let list = try reader.take("escalations") {
                escalations = each(listOrSingle(list, join(path, "escalations"))) { index, item in
                    try escalationReference(item, "\(path).escalations[\(index)]")
                }
            }
            reader.ignore("kind")
            reader.finish()
            return (.reference(reference), escalations)
        }
        return (try reference(node, path, what: "sla") { try sla($0, path, named: false) }, [])
    }

    func sla(_ node: DSLNode, _ path: String, named: Bool) throws -> SLA {
        let reader = try map(node, path)
        var slaName: String?
        if named {
            slaName = try name(try reader.require("name"), join(path, "name"))
            name = slaName
        }
        let typeNode = try reader.require("type")
        let type = try string(typeNode, join(path, "type"))
        let definition: SLA.Definition
        switch type {
        case "response_time_sliding_window":
            let tp = join(path, "threshold")
            let threshold = try map(try reader.require("threshold"), tp)
            let upper = try int(try threshold.require("upper"), join(tp, "upper"), range: 0...Int(Int32.max))
            let lower = try int(try threshold.require("lower"), join(tp, "lower"), range: 0...Int(Int32.max))
            threshold.finish()
            let wp = join(path, "window")
            let window = try map(try reader.require("window"), wp)
            let interval = try int(try window.require("interval"), join(wp, "interval"), range: 0...Int(Int32.max))
            let cooldown = try int(try window.require("cooldown"), join(wp, "cooldown"), range: 0...Int(Int32.max))
            window.finish()
            definition = .responseTimeSlidingWindow(upper: upper, lower: lower, interval: interval, cooldown: cooldown)
        case "escalation_only":
            definition = .escalationOnly
        default:
            var parameters: [String: JSONValue] = [:]
            for entry in reader.entries where !["name", "type", "escalations", "kind"].contains(entry.key) {
                parameters[entry.key] = json(entry.value)
                reader.ignore(entry.key)
            }
            definition = .generic(type: type, parameters: parameters)
        }
        var escalations: [ArtifactReference<Escalation>] = []
        if let list = try reader.take("escalations") {
            escalations = each(listOrSingle(list, join(path, "escalations"))) { index, item in
                try escalationReference(item, "\(path).escalations[\(index)]")
            }
            // Several escalations are one to_all group (reference §1.7).
            if escalations.count > 1 { escalations = [.inline(Escalation(definition: .toAll(escalations)))] }
        }
        reader.ignore("kind")
        reader.finish()
        return SLA(name: slaName, definition: definition, escalations: escalations)
    }

    func escalationReference(_ node: DSLNode, _ path: String) throws -> ArtifactReference<Escalation> {
        try rejectNamedInline(node, path, what: "escalation")
        return try reference(node, path, what: "escalation") { try escalation($0, path, named: false) }
    }

    func escalation(_ node: DSLNode, _ path: String, named: Bool) throws -> Escalation {
        let reader = try map(node, path)
        var escalationName: String?
        if named {
            escalationName = try name(try reader.require("name"), join(path, "name"))
            name = escalationName
        }
        reader.ignore("kind")
        // Short forms {to_one: [..]} and {to_all: {escalations: [..]}}.
        for group in ["to_all", "to_one"] where reader.has(group) && !reader.has("type") {
            let groupNode = try reader.require(group)
            var childrenNode = groupNode
            if case .mapping = groupNode {
                let inner = try map(groupNode, join(path, group))
                childrenNode = try inner.require("escalations")
                inner.finish()
            }
            let children = try listOrSingle(childrenNode, join(path, group)).enumerated().map { index, item in
                try escalationReference(item, "\(path).\(group)[\(index)]")
            }
            reader.finish()
            return Escalation(name: escalationName, definition: group == "to_all" ? .toAll(children) : .toOne(children))
        }
        let type = try string(try reader.require("type"), join(path, "type"))
        let definition: Escalation.Definition
        switch type {
        case "scale_instances":
            definition = .scaleInstances(
                minimum: try int(try reader.require("minimum"), join(path, "minimum"), range: 0...100_000),
                maximum: try int(try reader.require("maximum"), join(path, "maximum"), range: 0...100_000),
                scaleBy: try int(try reader.require("scale_by"), join(path, "scale_by"), range: 0...100_000),
                target: try optionalString(try reader.take("target"), join(path, "target")))
        case "scale_cpu", "scale_memory":
            let minimum = try double(try reader.require("minimum"), join(path, "minimum"))
            let maximum = try double(try reader.require("maximum"), join(path, "maximum"))
            let scaleBy = try double(try reader.require("scale_by"), join(path, "scale_by"))
            let target = try optionalString(try reader.take("target"), join(path, "target"))
            definition = type == "scale_cpu"
                ? .scaleCPU(minimum: minimum, maximum: maximum, scaleBy: scaleBy, target: target)
                : .scaleMemory(minimum: minimum, maximum: maximum, scaleBy: scaleBy, target: target)
        case "to_all", "to_one":
            let children = try listOrSingle(try reader.require("escalations"), join(path, "escalations")).enumerated().map { index, item in
                try escalationReference(item, "\(path).escalations[\(index)]")
            }
            definition = type == "to_all" ? .toAll(children) : .toOne(children)
        default:
            var parameters: [String: JSONValue] = [:]
            for entry in reader.entries where !["name", "type", "kind"].contains(entry.key) {
                parameters[entry.key] = json(entry.value)
                reader.ignore(entry.key)
            }
            definition = .generic(type: type, parameters: parameters)
        }
        reader.finish()
        return Escalation(name: escalationName, definition: definition)
    }

    // MARK: Workflow, event, template

    func workflow(_ node: DSLNode, _ path: String) throws -> Workflow {
        let reader = try map(node, path)
        name = try self.name(try reader.require("name"), "name")
        let breed = recover { try breedReference(try reader.require("breed"), "breed") }
        let schedule = recover { try self.schedule(try reader.require("schedule"), "schedule") }
        var workflow = Workflow(name: name!, breed: breed ?? .reference(""), schedule: schedule ?? .daemon)
        if let status = try reader.take("status"), let text = try optionalString(status, "status") {
            guard let value = Workflow.Status(rawValue: text.lowercased()) else {
                throw error(.invalidValue, "illegal workflow status '\(Self.short(text))'; use one of \(Workflow.Status.allCases.map(\.rawValue).joined(separator: ", "))", path: "status", at: status)
            }
            workflow.status = value
        }
        if let env = try reader.take("environment_variables", "env") {
            workflow.environmentVariables = recover { try variables(env, "environment_variables", allowPlaceholders: false) } ?? []
        }
        if let scale = try reader.take("scale") { workflow.scale = recover { try scaleReference(scale, "scale") } }
        if let arguments = try reader.take("arguments") { workflow.arguments = try self.arguments(arguments, "arguments") }
        workflow.network = try optionalString(try reader.take("network"), "network")
        workflow.healthChecks = try reader.take("health_checks").map { try healthChecks($0, "health_checks") }
        workflow.dialects = try object(try reader.take("dialects", "dialect"), "dialects")
        reader.ignore("kind", "lookup_name", "instances", "health")
        reader.finish()
        return workflow
    }

    func schedule(_ node: DSLNode, _ path: String) throws -> Workflow.Schedule {
        if case .scalar = node {
            let text = try string(node, path)
            guard text == "daemon" else {
                throw error(.invalidValue, "a schedule is 'daemon', {event: tags} or {time: PERIOD}, not '\(Self.short(text))'", path: path, at: node)
            }
            return .daemon
        }
        let reader = try map(node, path)
        if let event = try reader.take("event") {
            let ep = join(path, "event")
            var tagsNode = event
            if case .mapping = event {
                let inner = try map(event, ep)
                tagsNode = try inner.require("tags")
                inner.finish()
            }
            let tags = try listOrSingle(tagsNode, ep).enumerated().map { try string($1, "\(ep)[\($0)]") }
            reader.finish()
            return .event(tags: tags)
        }
        if let time = try reader.take("time") {
            let tp = join(path, "time")
            if case .scalar = time {
                reader.finish()
                return .time(period: try string(time, tp), start: nil, repeat: nil)
            }
            let inner = try map(time, tp)
            let period = try string(try inner.require("period"), join(tp, "period"))
            let start = try optionalString(try inner.take("start"), join(tp, "start"))
            let repeatCount = try inner.take("repeat").map { try int($0, join(tp, "repeat"), range: 0...Int(Int32.max)) }
            inner.finish()
            reader.finish()
            return .time(period: period, start: start, repeat: repeatCount)
        }
        if reader.has("daemon") {
            reader.ignore("daemon")
            reader.finish()
            return .daemon
        }
        throw error(.invalidValue, "a schedule is 'daemon', {event: tags} or {time: PERIOD}", path: path, at: node)
    }

    func event(_ node: DSLNode, _ path: String) throws -> Event {
        let reader = try map(node, path)
        let tags = recover { () throws -> [String] in
            let tagsNode = try reader.require("tags")
            return try listOrSingle(tagsNode, "tags").enumerated().map { try string($1, "tags[\($0)]") }
        }
        var event = Event(tags: tags ?? [])
        if let id = try reader.take("id") { event.id = recover { try optionalString(id, "id") } ?? nil }
        if let value = try reader.take("value") { event.value = json(value) }
        if let type = try reader.take("type") { event.type = recover { try string(type, "type") } ?? event.type }
        if let timestamp = try reader.take("timestamp") {
            recover {
                let text = try string(timestamp, "timestamp")
                guard let date = Self.parseTimestamp(text) else {
                    throw error(.invalidValue, "expected an ISO-8601 timestamp with an offset, such as 2017-06-01T12:00:00Z, but found '\(Self.short(text))'", path: "timestamp", at: timestamp)
                }
                event.timestamp = date
            }
        }
        reader.ignore("kind")
        reader.finish()
        if tags == nil { throw AlreadyReported() }
        return event
    }

    static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    func template(_ node: DSLNode, _ path: String) throws -> Template {
        let reader = try map(node, path)
        name = try self.name(try reader.require("name"), "name")
        let definition = try object(try reader.take("definition", "def"), "definition")
        reader.ignore("kind")
        reader.finish()
        return Template(name: name!, definition: definition)
    }
}
