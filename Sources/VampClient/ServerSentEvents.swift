/// Reads the server-sent events wire format (`event:`, `data:` lines, a blank line ends an event, `:` comments)
/// from chunks that may split lines anywhere.
struct ServerSentEvents: Sendable {
    var pending = ""
    var data: [String] = []

    /// Feeds a chunk; returns the `data` of every event it completed.
    mutating func feed(_ chunk: String) -> [String] {
        pending += chunk
        var completed: [String] = []
        // "\r\n" is one Character in Swift, so both line ends are looked for.
        while let newline = pending.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) {
            let line = String(pending[..<newline])
            pending = String(pending[pending.index(after: newline)...])
            if line.isEmpty {
                if !data.isEmpty { completed.append(data.joined(separator: "\n")) }
                data = []
            } else if line.hasPrefix("data:") {
                var value = line.dropFirst(5)
                if value.first == " " { value = value.dropFirst() }
                data.append(String(value))
            }
        }
        return completed
    }
}
