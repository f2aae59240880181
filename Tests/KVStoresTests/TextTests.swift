import Foundation
import Testing

@testable import KVStores

/// The helpers that replace Foundation's in KVStores (it links FoundationEssentials), against Foundation's own
/// answers where Foundation has the same operation.
@Suite("Text without Foundation: percent-encoding, trimming, etcd JSON")
struct TextTests {
    @Test("percent-encoding: the file store's names round-trip, and match Foundation's decoding")
    func percentEncoding() {
        for key in ["/vamp/a b/ü€/%41", "/x", "/ünïcødé/🙂", "/a%2Fb"] {
            let name = FileKeyValueStore.fileName(for: key)
            #expect(FileKeyValueStore.key(forFileName: name) == key)
            #expect(PercentEncoding.decode(name) == name.removingPercentEncoding)
        }
        #expect(PercentEncoding.decode("%zz") == nil && PercentEncoding.decode("%4") == nil && PercentEncoding.decode("%FF") == nil)
        #expect(PercentEncoding.encode("a b/ü") { $0 == UInt8(ascii: "a") } == "a%20%62%2F%C3%BC")
        #expect(PercentEncoding.escape(0x2F) == "%2F")
    }

    @Test("trimming white space as Foundation's whitespacesAndNewlines does for settings")
    func trimming() {
        for text in ["  etcd \n", "\t", "", "a", " a b ", "\u{00A0}x\u{2003}"] {
            #expect(String(text.trimmingWhitespace) == text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test("etcd request bodies: the same JSON as JSONSerialization, keys sorted, strings escaped")
    func etcdJSON() throws {
        let body: [String: Any] = [
            "compare": [["key": "a2V5", "mod_revision": Int64(7), "target": "MOD", "result": "EQUAL"]],
            "success": [["request_put": ["key": "a2V5", "value": "dmFsdWU="]]],
            "keys_only": true, "text": "quote \" backslash \\ newline \n tab \t control \u{01} ü",
        ]
        let bytes = try EtcdJSON.encode(body, server: "test")
        let ours = try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary
        let foundations = try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: body)) as? NSDictionary
        #expect(ours == foundations)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"compare":[{"key":"a2V5","mod_revision":7,"result":"EQUAL""#))
        #expect(throws: KeyValueStoreError.self) { try EtcdJSON.encode(["date": Date()], server: "test") }
    }
}
