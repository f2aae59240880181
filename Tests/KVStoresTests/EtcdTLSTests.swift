import Foundation
import KVStores
import Testing
import VampTesting

/// etcd serving its clients over TLS and asking them for a certificate (`--client-cert-auth`), as a production etcd
/// does: the store reaches it with the CA and a client certificate; without them, or trusting another CA, it is
/// refused with an error that says so; settings that cannot work are refused when the store is made.
@Suite("etcd over TLS with client certificates", .serialized)
struct EtcdTLSTests {
    @Test("https:// with the CA and a client certificate: set, get, list and a watch work; without the client certificate, or trusting another CA, every call fails with a clear error")
    func clientCertificates() async throws {
        let folder = try TemporaryDirectory(prefix: "etcd-tls")
        defer { folder.remove() }
        let ca = try await TestCertificateAuthority(in: folder.url)
        let server = try await ca.issue("etcd", serial: "E7C0")
        let client = try await ca.issue("vamp", serial: "C11E")
        let etcd = try await EtcdServer.start(tls: .init(
            certificate: server.certificate, key: server.key, clientCA: ca.caFile, clientCertificate: client.certificate, clientKey: client.key))
        do {
            #expect(etcd.endpoint.hasPrefix("https://"))
            var configuration = try KeyValueStoreConfiguration(kind: .etcd, connection: etcd.endpoint)
            configuration.tlsFiles = .init(caFile: ca.caFile.path, certificateFile: client.certificate.path, keyFile: client.key.path)
            let store = try configuration.makeStore()
            try await store.set("/vamp/tls/one", string: "hello")
            #expect(try await store.get("/vamp/tls/one")?.string == "hello")
            #expect(try await store.children(of: "/vamp/tls").count == 1)
            // A watch over TLS sees a change made after it started.
            var changes = store.watch("/vamp/tls/one").makeAsyncIterator()
            #expect(try await changes.next()?.string == "hello")
            try await store.set("/vamp/tls/one", string: "again")
            #expect(try await changes.next()?.string == "again")

            // Without the client certificate: etcd ends the handshake.
            var anonymous = configuration
            anonymous.tlsFiles.certificateFile = nil
            anonymous.tlsFiles.keyFile = nil
            let refused = try anonymous.makeStore()
            let noCertificate = await #expect(throws: KeyValueStoreError.self) { try await refused.get("/vamp/tls/one") }
            #expect(noCertificate?.message.isEmpty == false)

            // Trusting another CA: the server's certificate is not believed.
            let otherFolder = folder.url.appendingPathComponent("other")
            try FileManager.default.createDirectory(at: otherFolder, withIntermediateDirectories: true)
            let other = try await TestCertificateAuthority(in: otherFolder, name: "Another CA")
            var distrusting = configuration
            distrusting.tlsFiles.caFile = other.caFile.path
            let wrongCA = await #expect(throws: KeyValueStoreError.self) { try await distrusting.makeStore().get("/vamp/tls/one") }
            #expect("\(wrongCA.map { "\($0)" } ?? "")".lowercased().contains("certificate"), "\(wrongCA.map { "\($0)" } ?? "")")
        } catch {
            await etcd.remove()
            throw error
        }
        await etcd.remove()
    }

    /// A store with TLS files that cannot work, and what its refusal says.
    struct Refused: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let kind: KeyValueStoreConfiguration.Kind
        let connection: String
        let files: KeyValueStoreConfiguration.TLSFiles
        let says: String
    }

    static let refused = [
        Refused(testDescription: "over http://", kind: .etcd, connection: "http://127.0.0.1:2379",
                files: .init(caFile: "/etc/ssl/certs/ca-certificates.crt"), says: "need an https:// connection"),
        Refused(testDescription: "for the file store", kind: .file, connection: "/tmp/vamp-kv",
                files: .init(caFile: "/etc/ssl/certs/ca-certificates.crt"), says: "file over TLS is not supported"),
        Refused(testDescription: "a certificate without its key", kind: .etcd, connection: "https://127.0.0.1:2379",
                files: .init(certificateFile: "/tmp/client.pem"), says: "needs both"),
        Refused(testDescription: "a file that is not there (named)", kind: .etcd, connection: "https://127.0.0.1:2379",
                files: .init(caFile: "/nonexistent/ca.pem"), says: "vamp.key-value-store.tls.ca-file '/nonexistent/ca.pem'"),
    ]

    @Test("TLS files are refused when the store is made, when they cannot work", arguments: refused)
    func refusedSettings(_ refused: Refused) throws {
        var configuration = try KeyValueStoreConfiguration(kind: refused.kind, connection: refused.connection)
        configuration.tlsFiles = refused.files
        let error = #expect(throws: KeyValueStoreError.self) { _ = try configuration.makeStore() }
        #expect(error?.message.contains(refused.says) == true, "\(error?.message ?? "made")")
    }
}
