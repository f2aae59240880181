#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VampModel

/// How the certificates of stored secrets travel to the gateway agents: in the same KV value as the HAProxy text,
/// one comment line per certificate before it, so that an agent gets a configuration and the certificates it names
/// in one read (never a `bind` line naming a file that has not arrived yet).
///
/// A line reads `# vamp:certificate certificates/<secret>-<digest>.pem <base64 of the PEM>`. The file name holds the
/// secret's name and a digest of its PEM, so a new certificate is a new file (and a new `bind` line, so HAProxy is
/// reloaded), and an old worker's file is never rewritten under it. The agent writes each file in its work directory,
/// readable by its user only, takes the lines out, and gives HAProxy the rest; HAProxy runs in the work directory, so
/// the relative path on the `bind` line finds the file.
public enum GatewayCertificates {
    /// The folder of the certificate files, relative to the folder HAProxy runs in.
    public static let directory = "certificates"
    static let prefix = "# vamp:certificate "

    /// The file of `pem`, the certificate of the secret `secret`: `certificates/<secret>-<16 hex digits>.pem`.
    public static func file(secret: String, pem: String) -> String {
        "\(directory)/\(secret)-\(SHA1.hex(pem).prefix(16)).pem"
    }

    /// Whether `file` is a name ``file(secret:pem:)`` makes: `certificates/` and one word of `[A-Za-z0-9._-]` that
    /// does not start with `.`, ending `.pem`. The agent writes only such files; nothing else reaches a `bind` line.
    public static func isFileName(_ file: String) -> Bool {
        guard file.hasPrefix(directory + "/"), file.hasSuffix(".pem") else { return false }
        let name = file.dropFirst(directory.utf8.count + 1)
        return name.utf8.count <= 128 && !name.hasPrefix(".")
            && name.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || "._-".utf8.contains($0) }
    }

    /// `text` with a line for each of `files` (file → PEM) before it, in the order of the file names; `text` alone
    /// when there are none.
    public static func bundle(_ files: [String: String], with text: String) -> String {
        guard !files.isEmpty else { return text }
        var out = ""
        for (file, pem) in files.sorted(by: { $0.key < $1.key }) {
            out += prefix + file + " " + Data(pem.utf8).base64EncodedString() + "\n"
        }
        return out + text
    }

    /// What ``bundle(_:with:)`` made, taken apart: the HAProxy text without the certificate lines, the certificates by
    /// file, and what could not be read (a line with a file name ``isFileName(_:)`` refuses, or no base64): such a
    /// line is dropped and named here.
    public static func unbundle(_ stored: String) -> (text: String, files: [String: String], problems: [String]) {
        guard stored.hasPrefix(prefix) else { return (stored, [:], []) }
        var files: [String: String] = [:], problems: [String] = []
        var rest = Substring(stored)
        while rest.hasPrefix(prefix) {
            let line = rest.prefix { $0 != "\n" }
            rest = rest.dropFirst(line.count)
            if rest.first == "\n" { rest = rest.dropFirst() }
            let words = line.dropFirst(prefix.count).split(separator: " ", maxSplits: 1)
            guard words.count == 2, isFileName(String(words[0])) else {
                problems.append("a certificate line names no certificate file (\(String(line.prefix(60)))…)")
                continue
            }
            guard let data = Data(base64Encoded: String(words[1])), let pem = String(data: data, encoding: .utf8) else {
                problems.append("the certificate \(words[0]) is not base64 of a PEM text")
                continue
            }
            files[String(words[0])] = pem
        }
        return (String(rest), files, problems)
    }
}
