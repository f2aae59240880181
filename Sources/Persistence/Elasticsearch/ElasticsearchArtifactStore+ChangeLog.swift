import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import VampConcurrency
import VampModel

/// The change log of ``ElasticsearchArtifactStore`` and its HTTP calls.
extension ElasticsearchArtifactStore {
    // MARK: Change log

    func highestSequence() async throws -> Int64 {
        let request: JSONValue = .object([
            "size": .number(1), "sort": .array([.object(["sequence": .object(["order": .string("desc")])])]),
            "track_total_hits": .bool(false),
        ])
        let (status, answer) = try await send(.POST, "/\(changesIndex)/_search", request)
        if status == 404 { return 0 }
        try check(status, answer, "reading the change log")
        return Int64(answer.value(atPath: "hits.hits")?.firstElement?.value(atPath: "_source.sequence")?.doubleValue ?? 0)
    }

    /// Appends `change` at `first` (the highest visible sequence plus one when `nil`) or the next free sequence
    /// above it, and returns the sequence it took.
    func logChange(_ change: ArtifactChange, from first: Int64?) async throws -> Int64 {
        var sequence: Int64
        if let first { sequence = first } else { sequence = try await highestSequence() + 1 }
        while true {
            var source: [String: JSONValue] = [
                "sequence": .number(Double(sequence)), "operation": .string(change.operation.rawValue),
                "kind": .string(change.kind), "name": .string(change.name), "version": .number(Double(change.version)),
                "timestamp": .number(Double(Millis.from(change.timestamp))),
            ]
            if let body = change.body { source["body"] = .string(body.base64EncodedString()) }
            let (status, answer) = try await send(.PUT, "/\(changesIndex)/_create/\(sequence)?refresh=wait_for", .object(source))
            if status == 409 {
                sequence += 1  // taken by another writer: the next one
                continue
            }
            try check(status, answer, "logging the \(change.operation.rawValue) of \(change.kind) '\(change.name)'")
            return sequence
        }
    }

    public func changes(after sequence: Int64, limit: Int) async throws -> [ArtifactChange] {
        guard limit > 0 else { return [] }
        let request: JSONValue = .object([
            "query": .object(["range": .object(["sequence": .object(["gt": .number(Double(sequence))])])]),
            "sort": .array([.object(["sequence": .object(["order": .string("asc")])])]),
            "size": .number(Double(min(limit, 10_000))), "track_total_hits": .bool(false),
        ])
        let (status, answer) = try await send(.POST, "/\(changesIndex)/_search", request)
        if status == 404 { return [] }
        try check(status, answer, "reading the change log")
        guard case .array(let hits)? = answer.value(atPath: "hits.hits") else { return [] }
        return try hits.map { hit -> ArtifactChange in
            guard case .object(let source)? = hit.value(atPath: "_source"), let number = source["sequence"]?.doubleValue,
                case .string(let operationName)? = source["operation"],
                let operation = ArtifactChange.Operation(rawValue: operationName), case .string(let kind)? = source["kind"],
                case .string(let name)? = source["name"], let version = source["version"]?.doubleValue,
                let time = source["timestamp"]?.doubleValue
            else {
                throw PersistenceError(code: .corruptRecord, message: "a change in \(changesIndex) lacks fields")
            }
            var body: Data?
            if case .string(let encoded)? = source["body"] { body = Data(base64Encoded: encoded) }
            return ArtifactChange(
                sequence: Int64(number), operation: operation, kind: kind, name: name, version: Int64(version),
                timestamp: Millis.date(Int64(time)), body: body)
        }
    }

    public func lastChangeSequence() async throws -> Int64 {
        try await highestSequence()
    }

    public func changeNotices() -> AsyncStream<Void> {
        notices.subscribe()
    }

    // MARK: HTTP

    func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue?) async throws -> (Int, JSONValue) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.encodedText()))
        }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            let text = String(buffer: bytes)
            let json = (try? JSONValue.decode(text: text)) ?? .string(text)
            return (Int(response.status.code), json)
        } catch {
            throw PersistenceError.storage("\(method) \(path) on Elasticsearch at \(base)", error)
        }
    }

    func check(_ status: Int, _ body: JSONValue, _ what: String) throws {
        guard (200..<300).contains(status) else {
            let reason = body.value(atPath: "error.reason")?.stringValue
            throw PersistenceError(
                code: .storage,
                message: "\(what) failed: Elasticsearch answered \(status)\(reason.map { ": \($0)" } ?? ""); body: "
                    + String(body.encodedText().prefix(500)))
        }
    }

    static func escaped(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? id
    }
}
