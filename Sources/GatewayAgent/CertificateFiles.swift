#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HAProxyConfigGen

/// The certificates of stored secrets that come with a configuration (`GatewayCertificates`): written into the work
/// directory's `certificates` folder (0700, each file 0600: only the agent's user, as whom HAProxy runs, reads them)
/// before HAProxy sees a `bind` line naming them, and removed once a configuration that no longer names them runs.
extension GatewayAgent {
    var certificateFolder: URL { configuration.workDirectory.appendingPathComponent(GatewayCertificates.directory, isDirectory: true) }

    /// Writes every file of `files` (file name → PEM) that is not there with these bytes already.
    func writeCertificates(_ files: [String: String]) throws {
        guard !files.isEmpty else { return }
        try OwnerOnlyFolder.prepare(certificateFolder)
        for (name, pem) in files {
            let url = configuration.workDirectory.appendingPathComponent(name)
            let bytes = Data(pem.utf8)
            if FileManager.default.contents(atPath: url.path) == bytes { continue }
            // A new file, or one another program changed: written beside it with owner-only rights, then moved over it.
            let temporary = certificateFolder.appendingPathComponent(".\(UUID().uuidString).tmp")
            guard FileManager.default.createFile(atPath: temporary.path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
                throw GatewayAgentError("cannot write the certificate \(url.path); check the work directory's permissions")
            }
            do {
                if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
                try FileManager.default.moveItem(at: temporary, to: url)
            } catch {
                try? FileManager.default.removeItem(at: temporary)
                throw GatewayAgentError("cannot write the certificate \(url.path): \(error)")
            }
        }
    }

    /// Removes the certificate files that `kept` (the running configuration's) does not name. HAProxy keeps a loaded
    /// certificate in memory, so an old worker still serving its last connections does not need its file.
    func removeCertificates(keeping kept: Set<String>) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: certificateFolder.path) else { return }
        for name in names where !kept.contains(GatewayCertificates.directory + "/" + name) {
            try? FileManager.default.removeItem(at: certificateFolder.appendingPathComponent(name))
        }
    }
}
