import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Persistence
import Testing
import VampModel

/// The fake answers as `elasticsearch-api.md` says Elasticsearch 8.x does, for the calls the
/// event store makes: these checks keep the Elasticsearch conformance run honest.
@Suite("FakeElasticsearch follows the reference")
struct FakeElasticsearchTests {
    func call(_ fake: FakeElasticsearch, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws
        -> (Int, JSONValue?)
    {
        var request = HTTPClientRequest(url: fake.url + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        #expect(response.headers["X-Elastic-Product"] == ["Elasticsearch"])
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = bytes.readableBytes == 0 ? nil : try JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView))
        return (Int(response.status.code), json)
    }

    @Test func documentsSearchAndErrors() async throws {
        let fake = try await FakeElasticsearch.start()
        do {
            try await exercise(fake)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test("dynamic templates and field types are applied; a mismatching document is refused")
    func mappingsApplied() async throws {
        let fake = try await FakeElasticsearch.start()
        do {
            // A bare path_match also matches the object `numbers.a`, maps it as double and then
            // cannot parse the object: elastic/elasticsearch#32595.
            let bare = #"{"mappings":{"dynamic_templates":[{"numbers":{"path_match":"numbers.*","mapping":{"type":"double"}}}],"properties":{"numbers":{"type":"object"},"tags":{"type":"keyword"}}}}"#
            #expect(try await call(fake, .PUT, "/bare", bare).0 == 200)
            let (status, refusal) = try await call(fake, .PUT, "/bare/_doc/e-1", #"{"numbers":{"a":{"b":4}}}"#)
            #expect(status == 400)
            #expect(refusal?.value(atPath: "status") == .number(400))
            #expect(refusal?.value(atPath: "error.type") == .string("mapper_parsing_exception"))
            #expect(refusal?.value(atPath: "error.root_cause") != nil)
            #expect(
                refusal?.value(atPath: "error.reason")
                    == .string("failed to parse field [numbers.a] of type [double] in document with id 'e-1'. Preview of field's value: '{b=4}'"))
            #expect(refusal?.value(atPath: "error.caused_by.type") == .string("illegal_state_exception"))
            #expect(try await call(fake, .GET, "/bare/_doc/e-1").0 == 404, "a refused document is not stored")

            // With match_mapping_type the objects stay objects and the leaves become doubles.
            let typed = #"{"mappings":{"dynamic_templates":[{"l":{"path_match":"numbers.*","match_mapping_type":"long","mapping":{"type":"double"}}},{"d":{"path_match":"numbers.*","match_mapping_type":"double","mapping":{"type":"double"}}}],"properties":{"numbers":{"type":"object"}}}}"#
            #expect(try await call(fake, .PUT, "/typed", typed).0 == 200)
            #expect(try await call(fake, .PUT, "/typed/_doc/e-1", #"{"numbers":{"a":{"b":4},"x":1}}"#).0 == 201)
            #expect(try await call(fake, .PUT, "/typed/_doc/e-2", #"{"numbers":{"a":{"b":4.5},"x":"2"}}"#).0 == 201, "numeric strings are coerced")
            // A string that is no number in a double field, or a value where an object is mapped.
            let (wrongStatus, wrong) = try await call(fake, .PUT, "/typed/_doc/e-3", #"{"numbers":{"x":"n/a"}}"#)
            #expect(wrongStatus == 400)
            #expect(wrong?.value(atPath: "error.caused_by.type") == .string("number_format_exception"))
            #expect(wrong?.value(atPath: "error.caused_by.reason") == .string(#"For input string: "n/a""#))
            let (objectStatus, object) = try await call(fake, .PUT, "/typed/_doc/e-4", #"{"numbers":{"a":7}}"#)
            #expect(objectStatus == 400)
            #expect(
                object?.value(atPath: "error.reason")
                    == .string("object mapping for [numbers.a] tried to parse field [a] as object, but found a concrete value"))
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    func exercise(_ fake: FakeElasticsearch) async throws {

        // Missing index: 404 index_not_found_exception.
        let (missingStatus, missing) = try await call(fake, .POST, "/events-demo/_search", "{}")
        #expect(missingStatus == 404)
        #expect(missing?.value(atPath: "error.type") == .string("index_not_found_exception"))
        // Wildcard matching nothing: 200 with zero hits.
        let (wildcardStatus, wildcard) = try await call(fake, .POST, "/nothing-*/_search", "{}")
        #expect(wildcardStatus == 200)
        #expect(wildcard?.value(atPath: "hits.total.value") == .number(0))
        // Upper-case index names are refused.
        let (badStatus, bad) = try await call(fake, .PUT, "/Vamp-Pulse", "{}")
        #expect(badStatus == 400)
        #expect(bad?.value(atPath: "error.reason") == .string("Invalid index name [Vamp-Pulse], must be lowercase"))

        // Index auto-created; 201 created, then 200 updated with the version counting up.
        let (created, first) = try await call(fake, .PUT, "/events-demo/_doc/e-17", #"{"tags":["health"],"timestamp":1000,"value":1}"#)
        #expect(created == 201)
        #expect(first?.value(atPath: "result") == .string("created"))
        let (updated, second) = try await call(fake, .PUT, "/events-demo/_doc/e-17", #"{"tags":["health"],"timestamp":2000,"value":2}"#)
        #expect(updated == 200)
        #expect(second?.value(atPath: "_version") == .number(2))
        // Create-only on an existing id: 409 with the reference's reason.
        let (conflict, conflictBody) = try await call(fake, .PUT, "/events-demo/_create/e-17", #"{"tags":[]}"#)
        #expect(conflict == 409)
        #expect(conflictBody?.value(atPath: "error.reason")
            == .string("[e-17]: version conflict, document already exists (current version [2])"))

        // Near-real-time: get sees the write, search does not until a refresh.
        #expect(try await call(fake, .GET, "/events-demo/_doc/e-17").0 == 200)
        let (_, before) = try await call(fake, .POST, "/events-demo/_search", #"{"track_total_hits":true}"#)
        #expect(before?.value(atPath: "hits.total.value") == .number(0))
        #expect(try await call(fake, .POST, "/events-demo/_refresh").0 == 200)
        let (_, after) = try await call(fake, .POST, "/events-demo/_search", #"{"track_total_hits":true}"#)
        #expect(after?.value(atPath: "hits.total.value") == .number(1))

        // Absent document: 404 with a document-shaped body and no error key.
        let (absentStatus, absent) = try await call(fake, .GET, "/events-demo/_doc/e-99")
        #expect(absentStatus == 404)
        #expect(absent == .object(["_index": .string("events-demo"), "_id": .string("e-99"), "found": .bool(false)]))

        // Aggregations over nothing: min/avg null, sum 0, value_count 0.
        let (_, aggs) = try await call(fake, .POST, "/events-demo/_search", #"""
            {"size":0,"query":{"bool":{"filter":[{"term":{"tags":"nothing"}}]}},
             "aggs":{"lo":{"min":{"field":"value"}},"mean":{"avg":{"field":"value"}},"total":{"sum":{"field":"value"}},"n":{"value_count":{"field":"value"}}}}
            """#)
        #expect(aggs?.value(atPath: "aggregations.lo.value") == .null)
        #expect(aggs?.value(atPath: "aggregations.mean.value") == .null)
        #expect(aggs?.value(atPath: "aggregations.total.value") == .number(0))
        #expect(aggs?.value(atPath: "aggregations.n.value") == .number(0))

        // Result window.
        let (windowStatus, window) = try await call(fake, .POST, "/events-demo/_search", #"{"from":9995,"size":10}"#)
        #expect(windowStatus == 400)
        #expect(window?.value(atPath: "error.type") == .string("search_phase_execution_exception"))

        // Unknown URL: 400 with a plain-string error.
        let (unknownStatus, unknown) = try await call(fake, .GET, "/events-demo/_nonsense/x/y")
        #expect(unknownStatus == 400)
        if case .string? = unknown?.value(atPath: "error") {} else { Issue.record("error should be a string: \(String(describing: unknown))") }
    }
}
