import Foundation
import Testing
@testable import VampWebUI

/// The UI compiled into the library is the Assets folder as it is in the source tree, byte for byte, and its
/// version changes with it.
@Suite("Web UI assets")
struct WebUIAssetsTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appending(path: "Sources/VampWebUI/Assets")

    @Test("every file of the folder is embedded with the same bytes, and nothing else is")
    func embeddedMatchesFolder() throws {
        let folder = WebUIAssets.directory(Self.folder)
        #expect(!folder.paths.isEmpty)
        #expect(WebUIAssets.embedded.paths == folder.paths)
        for path in folder.paths {
            #expect(WebUIAssets.embedded.file(path) == folder.file(path), "\(path) differs from the embedded copy")
        }
    }

    @Test("the page points at the assets of its version")
    func pageNamesItsVersion() throws {
        let page = try #require(WebUIAssets.embedded.page)
        let text = String(decoding: page.contents, as: UTF8.self)
        #expect(!text.contains(WebUIAssets.versionPlaceholder))
        #expect(text.contains("/ui/\(WebUIAssets.embedded.version)/"))
        #expect(WebUIAssets.embedded.version.count == 16)
        #expect(WebUIAssets.directory(Self.folder).version == "development")
    }

    @Test("paths that leave the folder, hidden files and unknown files are not served")
    func refusesPathsOutside() {
        let folder = WebUIAssets.directory(Self.folder)
        for path in ["../Package.swift", "../../Package.swift", "/etc/passwd", ".hidden", "a/../index.html", "", "index.html/", "nope.js", "x\\y"] {
            #expect(folder.file(path) == nil, "\(path)")
            #expect(WebUIAssets.embedded.file(path) == nil, "\(path)")
        }
    }

    @Test("content types by extension")
    func contentTypes() {
        let types = ["a.html": "text/html; charset=utf-8", "b.js": "text/javascript; charset=utf-8", "c.css": "text/css; charset=utf-8", "d.svg": "image/svg+xml", "e.bin": "application/octet-stream"]
        for (path, type) in types {
            #expect(WebUIFile(path: path, contents: Data()).contentType == type)
        }
        #expect(WebUIFile(path: "a", contents: Data("x".utf8)).entityTag != WebUIFile(path: "a", contents: Data("y".utf8)).entityTag)
    }
}
