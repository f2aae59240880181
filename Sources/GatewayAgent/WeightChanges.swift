extension GatewayAgent {
    /// The master CLI commands that turn `old` into `new` when the two differ only in the
    /// `weight` of `server` lines (same lines otherwise, same order), raised weights first; nil for
    /// any other change.
    static func weightChanges(from old: String, to new: String) -> [String]? {
        let before = old.split(separator: "\n", omittingEmptySubsequences: false)
        let after = new.split(separator: "\n", omittingEmptySubsequences: false)
        guard before.count == after.count else { return nil }
        var section: Substring?
        var raised: [String] = [], lowered: [String] = []
        for (was, now) in zip(before, after) {
            if let first = was.first, first != " ", first != "\t" {
                let words = was.split(separator: " ")
                section = words.count >= 2 && (words[0] == "backend" || words[0] == "listen") ? words[1] : nil
            }
            if was == now { continue }
            guard let section, let (server, previous, rest) = serverWeight(was), let (sameServer, weight, sameRest) = serverWeight(now),
                  server == sameServer, rest == sameRest, (0...256).contains(weight)
            else { return nil }
            let command = "set server \(section)/\(server) weight \(weight)"
            if weight > previous { raised.append(command) } else { lowered.append(command) }
        }
        // Raise first: between two commands some server must keep a weight, or requests get a 503.
        let commands = raised + lowered
        return commands.isEmpty ? nil : commands
    }

    /// A `server NAME … weight N …` line: the name, the weight and the line without the weight.
    static func serverWeight(_ line: Substring) -> (Substring, Int, [Substring])? {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 4, words[0] == "server", let index = words.firstIndex(of: "weight"), index + 1 < words.count,
              let weight = Int(words[index + 1])
        else { return nil }
        words[index + 1] = "_"
        return (words[1], weight, words)
    }
}
