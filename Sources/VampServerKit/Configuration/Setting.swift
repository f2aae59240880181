import Configuration
import Foundation
import Logging

/// One setting of `vamp-server`: its dotted key (as in the YAML file), the flag that sets it, the environment
/// variable (derived from the key: `vamp.http-api.port` is `VAMP_HTTP_API_PORT`), its default, and how its text
/// reads. Every key is written once, here; its error message and its line in `GET /config` come from it.
struct Setting<Value: Sendable>: Sendable {
    /// `vamp.http-api.port`.
    let key: String
    /// `--port`, for the few settings that have a flag.
    let flag: String?
    /// The text read when nothing sets the key; a function, for defaults that depend on the machine.
    let defaultText: @Sendable () -> String
    /// What a valid text is, for the error: `a port number (0 to 65535)`.
    let expected: String
    /// The value of a text, or `nil` when it is not valid.
    let parse: @Sendable (String) -> Value?
    /// Hidden from `GET /config` (secrets).
    var secret = false

    init(_ key: String, flag: String? = nil, default defaultText: @autoclosure @escaping @Sendable () -> String, expected: String, parse: @escaping @Sendable (String) -> Value?) {
        self.key = key
        self.flag = flag
        self.defaultText = defaultText
        self.expected = expected
        self.parse = parse
    }

    /// `VAMP_HTTP_API_PORT`.
    var environmentVariable: String {
        key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// The key with every way to set it: `vamp.http-api.port (--port, VAMP_HTTP_API_PORT)`.
    var described: String { "\(key) (\([flag, environmentVariable].compactMap { $0 }.joined(separator: ", ")))" }
}

/// What a setting's text could not be read as.
struct SettingError: Error, CustomStringConvertible {
    let description: String
}

/// Reads settings from a `ConfigReader` (flags, `VAMP_*`, the YAML file, in that order) and keeps what each read
/// gave, for `GET /config`.
struct SettingsReader {
    let config: ConfigReader
    /// Every setting read, by key, as text: what `GET /config` shows.
    private(set) var shown: [String: String] = [:]

    init(config: ConfigReader) {
        self.config = config
    }

    /// The setting's value; an error naming the key, the flag and the variable when its text does not read.
    mutating func read<Value>(_ setting: Setting<Value>) throws(SettingError) -> Value {
        let text = config.string(forKey: ConfigKey(setting.key.split(separator: ".").map(String.init))) ?? setting.defaultText()
        guard let value = setting.parse(text) else {
            throw SettingError(description: "\(setting.described): '\(text)' is not \(setting.expected)")
        }
        if !setting.secret { shown[setting.key] = text }
        return value
    }

    /// Notes settings another part read (the stores', the driver's) for `GET /config`.
    mutating func show(_ settings: [String: String]) {
        shown.merge(settings) { mine, _ in mine }
    }
}

// MARK: Kinds of settings

extension Setting where Value == String {
    /// Any text.
    static func text(_ key: String, flag: String? = nil, default value: String) -> Setting {
        Setting(key, flag: flag, default: value, expected: "text") { $0 }
    }
}

extension Setting where Value == Int {
    /// A whole number within `range`.
    static func number(_ key: String, flag: String? = nil, default value: String, in range: ClosedRange<Int>, expected: String) -> Setting {
        Setting(key, flag: flag, default: value, expected: expected) { Int($0.trimmingCharacters(in: .whitespaces)).flatMap { range.contains($0) ? $0 : nil } }
    }
}

extension Setting where Value == Bool {
    /// `true`, `on`, `yes` or `false`, `off`, `no`.
    static func flag(_ key: String, default value: String) -> Setting {
        Setting(key, default: value, expected: "true or false") { Self.bool($0) }
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "on", "yes": true
        case "false", "off", "no": false
        default: nil
        }
    }
}

extension Setting where Value == Bool? {
    /// `auto` (`nil`), or true or false.
    static func automatic(_ key: String) -> Setting {
        Setting(key, default: "auto", expected: "auto, true or false") { text in
            text.lowercased() == "auto" ? .some(nil) : Setting<Bool>.bool(text).map { .some($0) }
        }
    }
}

extension Setting where Value == Duration {
    /// A number of seconds, fractions allowed; above 0, or 0 and more with `zeroAllowed`.
    static func seconds(_ key: String, default value: String, zeroAllowed: Bool = false) -> Setting {
        Setting(key, default: value, expected: "a number of seconds\(zeroAllowed ? " (0 or more)" : " above 0")") { text in
            guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, zeroAllowed ? seconds >= 0 : seconds > 0 else { return nil }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
    }
}

extension Setting where Value == ClosedRange<Int> {
    /// A range of ports such as `40000-45000`.
    static func portRange(_ key: String, default value: String) -> Setting {
        Setting(key, default: value, expected: "a range such as 40000-45000") { text in
            let bounds = text.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard bounds.count == 2, bounds[0] >= 1, bounds[0] <= bounds[1], bounds[1] <= 65535 else { return nil }
            return bounds[0]...bounds[1]
        }
    }
}

extension Setting where Value == Logger.Level {
    /// `trace` to `critical`.
    static func logLevel(_ key: String, flag: String) -> Setting {
        Setting(key, flag: flag, default: "info", expected: "one of trace, debug, info, notice, warning, error, critical") {
            Logger.Level(rawValue: $0.lowercased())
        }
    }
}

extension Setting where Value == (host: String, port: Int)? {
    /// `host:port`, or empty for none.
    static func address(_ key: String) -> Setting {
        Setting(key, default: "", expected: "host:port") { text in
            guard !text.isEmpty else { return .some(nil) }
            guard let colon = text.lastIndex(of: ":"), colon > text.startIndex, let port = Int(text[text.index(after: colon)...]),
                  (1...65535).contains(port) else { return nil }
            return .some((String(text[..<colon]), port))
        }
    }
}

extension Setting where Value == [String] {
    /// A comma-separated list (empty for none); each entry trimmed, each one checked by `entry`.
    static func list(_ key: String, default value: String = "", expected: String, entry: @escaping @Sendable (String) -> Bool) -> Setting {
        Setting(key, default: value, expected: expected) { text in
            let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return entries.allSatisfy(entry) ? entries : nil
        }
    }
}
