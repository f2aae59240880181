import Foundation
import PackagePlugin

/// Compiles a target's `Assets` folder into it: every file under the folder becomes an entry of the generated
/// `EmbeddedAssetTable.swift`, written by `WebUIAssetEmbedder` whenever a file is added, changed or removed.
@main
struct EmbedWebUIAssets: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let assets = target.directoryURL.appending(path: "Assets")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedAssetTable.swift")
        let files = Self.files(under: assets)
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) web UI files of \(target.name)",
                executable: try context.tool(named: "WebUIAssetEmbedder").url,
                arguments: [assets.path, output.path],
                // The folder itself too, so that a removed file runs the command again.
                inputFiles: files + [assets],
                outputFiles: [output])
        ]
    }

    static func files(under folder: URL) -> [URL] {
        guard let walk = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else {
            return []
        }
        return walk.compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
    }
}
