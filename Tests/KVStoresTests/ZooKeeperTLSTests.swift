import Configuration
import Foundation
import KVStores
import Testing
import VampTesting

/// ZooKeeper serving its clients over TLS only (`secureClientPort`, no plain port) and asking them for a certificate
/// (`ssl.clientAuth=need`): the store reaches it with the CA and a client certificate, the settings read as the gateway
/// agent reads them (`VAMP_KEY_VALUE_STORE_TLS_*`); without a client certificate, trusting another CA, at an address
/// the certificate does not name or with the server frozen, it is refused quickly with an error that says so; settings
/// that cannot work are refused when the store is made.
@Suite("ZooKeeper over TLS with client certificates", .serialized)
struct ZooKeeperTLSTests {
    @Test("TLS-only ZooKeeper: set, get, children, delete and a watch work with the CA file and a client certificate; plain TCP, no client certificate, another CA, another name and a frozen server fail within the connect timeout, saying why")
    func clientCertificates() async throws {
        let folder = try TemporaryDirectory(prefix: "zk-tls")
        defer { folder.remove() }
        let ca = try await TestCertificateAuthority(in: folder.url)
        // The server's certificate names localhost only, no address: the store connects to localhost:<port>.
        let server = try await ca.issue("zookeeper", serial: "2C00", subjectAltNames: ["DNS:localhost"])
        let client = try await ca.issue("vamp", serial: "C11E")
        let zk = try await ZooKeeperServer.start(tls: .init(
            certificate: server.certificate, key: server.key, clientCA: ca.caFile, clientCertificate: client.certificate, clientKey: client.key))
        var stores: [any KeyValueStore] = []
        func make(_ configuration: KeyValueStoreConfiguration) throws -> any KeyValueStore {
            let store = try configuration.makeStore()
            stores.append(store)
            return store
        }
        do {
            // As the gateway agent reads its settings: the CA file is what turns TLS on.
            let configuration = try KeyValueStoreConfiguration(config: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [
                "VAMP_KEY_VALUE_STORE_TYPE": "zookeeper", "VAMP_KEY_VALUE_STORE_CONNECTION": "localhost:\(zk.port)",
                "VAMP_KEY_VALUE_STORE_TLS_CA_FILE": ca.caFile.path, "VAMP_KEY_VALUE_STORE_TLS_CERTIFICATE_FILE": client.certificate.path,
                "VAMP_KEY_VALUE_STORE_TLS_KEY_FILE": client.key.path, "VAMP_KEY_VALUE_STORE_TIMEOUT_CONNECT": "2",
            ])))
            #expect(configuration.usesTLS)
            let store = try make(configuration)
            try await store.set("/vamp/tls/one", string: "hello")
            try await store.set("/vamp/tls/two", string: "there")
            #expect(try await store.get("/vamp/tls/one")?.string == "hello")
            #expect(try await store.children(of: "/vamp/tls").sorted() == ["one", "two"])
            try await store.delete("/vamp/tls/two")
            #expect(try await store.get("/vamp/tls/two") == nil)
            // A watch over TLS sees a change made after it started.
            var changes = store.watch("/vamp/tls/one").makeAsyncIterator()
            #expect(try await next(&changes)?.string == "hello")
            try await store.set("/vamp/tls/one", string: "again")
            #expect(try await next(&changes)?.string == "again")

            // Plain TCP is refused: no answer to a four-letter word, and a store without TLS files cannot connect.
            #expect(LoopbackProbe.exchange(port: zk.port, request: "srvr\r\n")?.contains("Zookeeper version") != true)
            var plain = configuration
            plain.tlsFiles = .init()
            try await expectRefused(make(plain), saying: "closed the connection during the handshake")

            // Without the client certificate: the server ends the connection with a TLS alert.
            var anonymous = configuration
            anonymous.tlsFiles.certificateFile = nil
            anonymous.tlsFiles.keyFile = nil
            try await expectRefused(make(anonymous), saying: "certificate")

            // Trusting another CA: the server's certificate is not believed.
            let otherFolder = folder.url.appendingPathComponent("other")
            try FileManager.default.createDirectory(at: otherFolder, withIntermediateDirectories: true)
            let other = try await TestCertificateAuthority(in: otherFolder, name: "Another CA")
            var distrusting = configuration
            distrusting.tlsFiles.caFile = other.caFile.path
            try await expectRefused(make(distrusting), saying: "CERTIFICATE_VERIFY_FAILED")

            // An address the server's certificate does not name (the same server as localhost): the host of the
            // address is checked, not only the CA.
            var misnamed = configuration
            misnamed.endpoints = [Endpoint(host: "127.0.0.1", port: zk.port)]
            try await expectRefused(make(misnamed), saying: "the server's certificate does not name 127.0.0.1")

            // A server that takes the connection but never answers the TLS handshake: given up after the connect timeout.
            var impatient = configuration
            impatient.timeouts.connect = .seconds(1)
            let frozen = try make(impatient)
            zk.pause()
            try await expectRefused(frozen, saying: "closed the connection during the handshake")
            zk.resume()
        } catch {
            for store in stores { await (store as? ZooKeeperKeyValueStore)?.shutdown() }
            await zk.remove()
            throw error
        }
        for store in stores { await (store as? ZooKeeperKeyValueStore)?.shutdown() }
        await zk.remove()
    }

    /// A get fails with `.unavailable` whose message has `text`, within the connect timeout and a little.
    func expectRefused(_ store: any KeyValueStore, saying text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let started = ContinuousClock.now
        let error = await #expect(throws: KeyValueStoreError.self, sourceLocation: sourceLocation) { try await store.get("/vamp/tls/one") }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .unavailable, sourceLocation: sourceLocation)
        #expect(error?.message.contains(text) == true, "\(error.map { "\($0)" } ?? "no error")", sourceLocation: sourceLocation)
        #expect(elapsed < .seconds(4), "refused after \(elapsed)", sourceLocation: sourceLocation)
    }

    @Test("ZooKeeper TLS settings that cannot work are refused when the store is made: no CA file (with client files or an https:// address), a certificate without its key, a file that is not there (named), a key that is not the certificate's")
    func refusedSettings() async throws {
        func refusal(_ configuration: KeyValueStoreConfiguration) -> String {
            do {
                _ = try configuration.makeStore()
                return "made"
            } catch {
                return error.message
            }
        }
        let folder = try TemporaryDirectory(prefix: "zk-tls-settings")
        defer { folder.remove() }
        let ca = try await TestCertificateAuthority(in: folder.url)
        let one = try await ca.issue("one", serial: "1"), two = try await ca.issue("two", serial: "2")
        let base = try KeyValueStoreConfiguration(kind: .zookeeper, connection: "127.0.0.1:2281")
        #expect(!base.usesTLS)

        var clientOnly = base
        clientOnly.tlsFiles = .init(certificateFile: one.certificate.path, keyFile: one.key.path)
        #expect(refusal(clientOnly).contains("needs vamp.key-value-store.tls.ca-file"), "\(refusal(clientOnly))")
        let scheme = try KeyValueStoreConfiguration(kind: .zookeeper, connection: "https://127.0.0.1:2281")
        #expect(refusal(scheme).contains("needs vamp.key-value-store.tls.ca-file"), "\(refusal(scheme))")
        var halfClient = base
        halfClient.tlsFiles = .init(caFile: ca.caFile.path, certificateFile: one.certificate.path)
        #expect(refusal(halfClient).contains("needs both"), "\(refusal(halfClient))")
        var missing = base
        missing.tlsFiles = .init(caFile: "/nonexistent/ca.pem")
        #expect(refusal(missing).contains("vamp.key-value-store.tls.ca-file '/nonexistent/ca.pem'"), "\(refusal(missing))")
        var mismatched = base
        mismatched.tlsFiles = .init(caFile: ca.caFile.path, certificateFile: one.certificate.path, keyFile: two.key.path)
        #expect(refusal(mismatched).contains("does the key belong to the certificate"), "\(refusal(mismatched))")

        var good = base
        good.tlsFiles = .init(caFile: ca.caFile.path, certificateFile: one.certificate.path, keyFile: one.key.path)
        #expect(good.usesTLS)
        let store = try #require(try good.makeStore() as? ZooKeeperKeyValueStore)
        _ = store
    }
}
