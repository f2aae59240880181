/// The strict grammar for the HAProxy ACL text a user may write directly: the condition of a rewrite
/// (`/new if { path_beg /old }`) and a raw ACL in a route condition (`< path_beg /api >`).
///
/// All gateways share one configuration file, so one line `haproxy -c` refuses blocks every later update
/// of every gateway. Such text is therefore accepted only when it is certainly valid: one ACL, a known sample
/// fetch, known flags and matching methods, and values that are bare words or single-quoted strings. Regular
/// expressions (`_reg`, `-m reg`), pattern files (`-f`, `-M`) and environment variables are refused: HAProxy
/// could refuse them (a bad regex), or they would read the proxy host's files and environment.
enum ACLText {
    /// Sample fetches allowed at the start of an ACL, by whether they take an argument in parentheses.
    static let fetches: [String: Bool] = {
        var table: [String: Bool] = [:]
        let plain = [
            "path", "path_beg", "path_end", "path_sub", "path_dir", "path_dom", "path_len", "path_found",
            "url", "url_beg", "url_end", "url_sub", "url_dir", "url_dom", "url_len", "url_found",
            "base", "base_beg", "base_end", "base_sub", "base_dir", "base_dom", "query", "method",
            "src", "src_port", "dst", "dst_port", "req.ver", "req_ver", "req.len", "always_true", "always_false",
            "ssl_fc", "ssl_fc_sni",
        ]
        for name in plain { table[name] = false }
        let withArgument = [
            "hdr", "hdr_beg", "hdr_end", "hdr_sub", "hdr_dir", "hdr_dom", "hdr_cnt", "hdr_len", "hdr_val", "hdr_found", "hdr_ip",
            "req.hdr", "req.fhdr", "req.hdr_cnt", "req.fhdr_cnt", "req.hdr_ip", "req.hdr_val",
            "cook", "cook_beg", "cook_end", "cook_sub", "cook_dir", "cook_dom", "cook_cnt", "cook_len", "cook_val",
            "req.cook", "req.cook_cnt", "req.cook_val", "urlp", "urlp_beg", "urlp_end", "urlp_sub", "urlp_val", "url_param",
        ]
        for name in withArgument { table[name] = true }
        return table
    }()

    /// Words of one ACL text (fetch, flags and values): HAProxy reads at most 64 words on a line, and the longest
    /// line one goes on is `http-request set-path <path> if { <words> }`.
    static let maximumWords = HAProxyText.maximumWords - 6

    /// Matching methods allowed after `-m` (every one but `reg`).
    static let methods: Set<String> = ["found", "bool", "int", "ip", "bin", "len", "str", "sub", "beg", "end", "dir", "dom"]
    /// Integer operators.
    static let operators: Set<String> = ["eq", "ge", "gt", "le", "lt"]

    /// The text of one ACL (fetch, flags, values), or an error saying what is not allowed.
    static func validate(_ text: String, what: String) throws(HAProxyConfigError) -> String {
        func refuse(_ reason: String) -> HAProxyConfigError {
            HAProxyConfigError(code: .unsafeValue, message: "the \(what) '\(HAProxyText.comment(text))' is not allowed: \(reason)")
        }
        guard text.utf8.count <= 1024 else { throw refuse("it is longer than 1024 bytes") }
        guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw refuse("only printable ASCII is allowed (no line breaks, tabs or other characters)")
        }
        let words = try tokens(text, refuse)
        guard let first = words.first else { throw refuse("it is empty") }
        // `acl <id> …` and `http-request set-path <path> if { … }`: what HAProxy reads on one line.
        guard words.count <= maximumWords else { throw refuse("it has \(words.count) words; at most \(maximumWords) are allowed") }
        let (fetch, argument) = splitFetch(first.text)
        guard !first.quoted, let takesArgument = fetches[fetch] else {
            throw refuse("'\(HAProxyText.comment(first.text))' is not a sample fetch Vamp allows (for example path_beg, hdr(host), req.cook(name), src)")
        }
        if takesArgument {
            guard let argument, !argument.isEmpty, argument.utf8.allSatisfy(isArgumentByte) else {
                throw refuse("\(fetch) needs an argument in parentheses of letters, digits and - _ . , : (as in \(fetch)(host))")
            }
        } else if argument != nil {
            throw refuse("\(fetch) takes no argument in parentheses")
        }
        var index = 1
        var valuesStarted = false
        while index < words.count {
            let word = words[index]
            if !valuesStarted && !word.quoted && word.text.hasPrefix("-") {
                switch word.text {
                case "-i", "-n": break
                case "--": valuesStarted = true
                case "-m":
                    index += 1
                    guard index < words.count, methods.contains(words[index].text) else {
                        throw refuse("-m must be followed by one of \(methods.sorted().joined(separator: ", ")) (regular expressions are not allowed)")
                    }
                default: throw refuse("the flag '\(word.text)' is not allowed (allowed: -i, -n, -m METHOD, --)")
                }
            } else {
                valuesStarted = true
                if !word.quoted {
                    guard word.text.utf8.allSatisfy(isValueByte) else {
                        throw refuse("the value '\(word.text)' has characters that need quotes; write it in single quotes")
                    }
                }
            }
            index += 1
        }
        return words.map { $0.quoted ? "'\($0.text)'" : $0.text }.joined(separator: " ")
    }

    /// A rewrite condition: one ACL, optionally in `{ }` braces.
    static func validateRewriteCondition(_ text: String) throws(HAProxyConfigError) -> String {
        var inner = Substring(text)
        while inner.first == " " { inner = inner.dropFirst() }
        while inner.last == " " { inner = inner.dropLast() }
        if inner.hasPrefix("{") && inner.hasSuffix("}") { inner = inner.dropFirst().dropLast() }
        return "{ " + (try validate(String(inner), what: "rewrite condition")) + " }"
    }

    /// A rewrite's new path, a log-format string: literal text, `%%`, and `%[fetch]` of an allowed sample fetch
    /// (`/v2%[path]`, `%[hdr(x-prefix)]%[path]`). Anything else after `%` could make HAProxy refuse the file.
    static func validateRewritePath(_ path: String) throws(HAProxyConfigError) {
        func refuse(_ reason: String) -> HAProxyConfigError {
            HAProxyConfigError(code: .unsafeValue, message: "the rewrite path '\(HAProxyText.comment(path))' is not allowed: \(reason)")
        }
        // Bytes, as HAProxy reads them: a `%` followed by a combining mark is one Character that is not `%`.
        let bytes = Array(path.utf8)
        var index = 0
        while let percent = bytes[index...].firstIndex(of: UInt8(ascii: "%")) {
            let next = percent + 1
            if next < bytes.count, bytes[next] == UInt8(ascii: "%") { index = next + 1; continue }
            guard next < bytes.count, bytes[next] == UInt8(ascii: "["), let close = bytes[next...].firstIndex(of: UInt8(ascii: "]")) else {
                throw refuse("'%' starts a sample expression '%[fetch]'; write '%%' for a percent sign")
            }
            let expression = String(decoding: bytes[(next + 1)..<close], as: UTF8.self)
            let (fetch, argument) = splitFetch(expression)
            guard let takesArgument = fetches[fetch], takesArgument == (argument != nil),
                  argument?.utf8.allSatisfy(isArgumentByte) ?? true else {
                throw refuse("'%[\(HAProxyText.comment(expression))]' is not a sample fetch Vamp allows (for example %[path], %[query], %[hdr(host)])")
            }
            index = close + 1
        }
    }

    struct Word { var text: String; var quoted: Bool }

    static func tokens(_ text: String, _ refuse: (String) -> HAProxyConfigError) throws(HAProxyConfigError) -> [Word] {
        var words: [Word] = []
        var current = ""
        var inQuote = false
        var wasQuoted = false
        for character in text {
            if inQuote {
                if character == "'" { inQuote = false } else { current.append(character) }
                continue
            }
            switch character {
            case " ":
                if !current.isEmpty || wasQuoted { words.append(Word(text: current, quoted: wasQuoted)) }
                current = ""
                wasQuoted = false
            case "'":
                guard current.isEmpty, !wasQuoted else { throw refuse("a quote may only start a value") }
                inQuote = true
                wasQuoted = true
            case "\"", "\\", "#", "$", "{", "}", "`":
                throw refuse("'\(character)' is not allowed outside single quotes")
            default:
                guard !wasQuoted else { throw refuse("text follows a closing quote without a space") }
                current.append(character)
            }
        }
        guard !inQuote else { throw refuse("a single quote is not closed") }
        if !current.isEmpty || wasQuoted { words.append(Word(text: current, quoted: wasQuoted)) }
        return words
    }

    static func splitFetch(_ word: String) -> (String, String?) {
        guard let open = word.firstIndex(of: "("), word.hasSuffix(")") else { return (word, nil) }
        return (String(word[..<open]), String(word[word.index(after: open)..<word.index(before: word.endIndex)]))
    }

    static func isArgumentByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "-_.,:".utf8.contains(byte)
    }

    static func isValueByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "-_./:%*+=@~!,;&?".utf8.contains(byte)
    }
}
