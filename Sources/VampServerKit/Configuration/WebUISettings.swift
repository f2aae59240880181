import Foundation
import VampWebUI

extension ServerKeys {
    static let webUIEnabled = Setting<Bool>.flag("vamp.http-api.ui.enabled", default: "true")
    static let webUIDirectory = Setting<String>.text("vamp.http-api.ui.directory", default: "")
}

/// The web UI at `/`: the copy compiled into the server, or (`vamp.http-api.ui.directory`, for working on the UI)
/// the files of a folder read on every request; none when `vamp.http-api.ui.enabled` is false.
enum WebUISettings {
    static func read(_ reader: inout SettingsReader) throws(SettingError) -> WebUIAssets? {
        let enabled = try reader.read(ServerKeys.webUIEnabled)
        let directory = try reader.read(ServerKeys.webUIDirectory)
        guard enabled else { return nil }
        guard !directory.isEmpty else { return .embedded }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), isFolder.boolValue,
              FileManager.default.fileExists(atPath: directory + "/index.html")
        else {
            throw SettingError(
                description: "\(ServerKeys.webUIDirectory.key): '\(directory)' is not a folder with an index.html; name the UI's assets folder (Sources/VampWebUI/Assets), or leave it empty for the UI built into the server")
        }
        return .directory(URL(fileURLWithPath: directory))
    }
}
