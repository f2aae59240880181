public import Foundation

/// The web UI's files: the copy compiled into this library (what ships), or a folder read on every request (for
/// working on the UI without rebuilding the server).
public struct WebUIAssets: Sendable {
    /// The text in `index.html` that ``page`` replaces with ``version``, so that the page asks for the assets of its
    /// own version (`/ui/__VAMP_UI_VERSION__/app.js`).
    public static let versionPlaceholder = "__VAMP_UI_VERSION__"

    /// The files compiled into the library from `Sources/VampWebUI/Assets`.
    public static let embedded = WebUIAssets(source: .embedded(EmbeddedAssetTable.decoded))

    /// The embedded page, made once (its version and validator never change while the server runs).
    private static let embeddedPage: WebUIFile? = embedded.renderedPage()

    /// The files of a folder, read when asked for, under the version `development`.
    public static func directory(_ folder: URL) -> WebUIAssets {
        WebUIAssets(source: .directory(folder.standardizedFileURL))
    }

    enum Source: Sendable {
        case embedded([String: WebUIFile])
        case directory(URL)
    }

    let source: Source

    /// A name of this set of files that changes when any file does: part of every asset's address, so that a
    /// browser may keep an asset for good and still loads the new ones after an upgrade.
    public var version: String {
        switch source {
        case .embedded: EmbeddedAssetTable.version
        case .directory: "development"
        }
    }

    /// Whether the files are the compiled-in copy, which a browser may keep (a folder's may change at any time).
    public var isImmutable: Bool {
        if case .embedded = source { return true }
        return false
    }

    /// The file at `path` (relative to the assets folder, `pages/deployments.js`); `nil` when there is none, or
    /// when the path leaves the folder or names a hidden file.
    public func file(_ path: String) -> WebUIFile? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.isEmpty, segments.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") && !$0.contains("\\") && !$0.contains("\0") }) else {
            return nil
        }
        switch source {
        case .embedded(let files):
            return files[path]
        case .directory(let folder):
            let url = folder.appending(path: path)
            guard url.standardizedFileURL.path.hasPrefix(folder.path + "/"), let data = try? Data(contentsOf: url) else { return nil }
            return WebUIFile(path: path, contents: data)
        }
    }

    /// `index.html` with the assets' addresses of this ``version``.
    public var page: WebUIFile? {
        if case .embedded = source { return Self.embeddedPage }
        return renderedPage()
    }

    private func renderedPage() -> WebUIFile? {
        guard let index = file("index.html") else { return nil }
        let text = String(decoding: index.contents, as: UTF8.self).replacingOccurrences(of: Self.versionPlaceholder, with: version)
        return WebUIFile(path: index.path, contents: Data(text.utf8))
    }

    /// The paths of every file (sorted); for a folder, those found now.
    public var paths: [String] {
        switch source {
        case .embedded(let files):
            return files.keys.sorted()
        case .directory(let folder):
            guard let walk = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) else { return [] }
            return walk.compactMap { $0 as? URL }.compactMap { url -> String? in
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue else { return nil }
                return String(url.standardizedFileURL.path.dropFirst(folder.path.count + 1))
            }.sorted()
        }
    }
}

/// One file of the UI with what a response needs.
public struct WebUIFile: Sendable, Equatable {
    /// The path under the assets folder.
    public let path: String
    /// The bytes.
    public let contents: Data
    /// A strong validator of the contents (64-bit FNV-1a), quoted as `ETag` wants it; computed once, with the file.
    public let entityTag: String

    init(path: String, contents: Data) {
        self.path = path
        self.contents = contents
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in contents {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        self.entityTag = "\"\(String(hash, radix: 16))\""
    }

    /// The media type by the file's extension; `application/octet-stream` for an unknown one.
    public var contentType: String {
        switch path.split(separator: ".").last.map({ $0.lowercased() }) {
        case "html": "text/html; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "json": "application/json"
        case "txt", "md": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }
}

/// The table the build plugin generates (`EmbeddedAssetTable.swift`: `version` and `files`).
enum EmbeddedAssetTable {
    static let decoded: [String: WebUIFile] = Dictionary(
        files.map { ($0.path, WebUIFile(path: $0.path, contents: Data(base64Encoded: $0.base64) ?? Data())) }, uniquingKeysWith: { first, _ in first })
}
