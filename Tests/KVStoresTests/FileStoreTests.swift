import Foundation
import KVStores
import Testing
import VampTesting

@Suite("File store specifics")
struct FileStoreTests {
    @Test("one percent-encoded file per key, no temporary files left, odd characters round-trip")
    func layoutOnDisk() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let store = try FileKeyValueStore(root: folder.url)
        let key = "/vamp/a b/é%/configuration"
        try await store.set(key, string: "frontend x")
        try await store.set(key, string: "frontend y")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        // One file per key plus the writers' lock file; no temporary file is left behind.
        #expect(files == ["%2Fvamp%2Fa%20b%2F%C3%A9%25%2Fconfiguration", ".lock"])
        #expect(try store.get(key)?.string == "frontend y")
        #expect(try store.children(of: "/vamp") == ["a b"])
        // Another store on the same folder (another process, say) sees the same data.
        let other = try FileKeyValueStore(root: folder.url)
        #expect(try other.get(key)?.string == "frontend y")
    }

    @Test("an unwritable folder gives an .io error naming the folder")
    func unwritable() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-kv-file")
        defer { folder.remove() }
        let store = try FileKeyValueStore(root: folder.url.appendingPathComponent("gone"))
        try FileManager.default.removeItem(at: folder.url.appendingPathComponent("gone"))
        let error = await #expect(throws: KeyValueStoreError.self) { try await store.set("/vamp/x", string: "y") }
        #expect(error?.code == .io)
        #expect(error?.description.contains(folder.url.path) == true)
    }
}
