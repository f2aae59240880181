import ContainerDrivers
import Foundation
import GatewayAgent
import KVStores
import Logging
import Persistence

/// The server's state folders are its user's alone (0700 folders, 0600 files). New ones are created so by the stores,
/// the driver and the agent (and the host's umask 0077); this tightens what an older version left world-readable.
enum PrivateState {
    /// The `.vamp` folders the configured paths lie in: each path's ancestor (or the path itself) named `.vamp`.
    /// Only those are tightened as a whole: a path configured elsewhere (`/var/lib/x.sqlite`) says nothing about its
    /// folder's other files.
    static func vampFolders(of paths: [String]) -> [URL] {
        var folders: [URL] = []
        for path in paths where !path.isEmpty {
            var components = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
            guard let index = components.firstIndex(of: ".vamp") else { continue }
            components = Array(components[...index])
            let folder = URL(fileURLWithPath: NSString.path(withComponents: components), isDirectory: true)
            if !folders.contains(folder) { folders.append(folder) }
        }
        return folders
    }

    /// The paths of `configuration` that may lie in `.vamp`: the SQLite database, the file KV store, the embedded
    /// agent's work directory, the local driver's records.
    static func paths(_ configuration: ServerConfiguration) -> [String] {
        var paths = [configuration.drivers.localDirectory]
        if configuration.persistence.artifacts == .sqlite || configuration.persistence.events == .sqlite {
            paths.append(configuration.persistence.sqlite.path)
        }
        if configuration.keyValueStore.kind == .file { paths.append(configuration.keyValueStore.directory) }
        if let agent = configuration.embeddedAgent { paths.append(agent.workDirectory.path) }
        return paths
    }

    /// Takes group and others' rights off every `.vamp` folder of `configuration` and everything in it; logs what it
    /// changed.
    static func tighten(_ configuration: ServerConfiguration, logger: Logger) {
        for folder in vampFolders(of: paths(configuration)) {
            let changed = OwnerOnlyFolder.tighten(folder)
            if changed > 0 {
                logger.notice("made the state folder owner-only (an older version left it readable by others)", metadata: [
                    "vamp.directory": "\(folder.path)", "vamp.count": "\(changed)",
                ])
            }
        }
    }
}
