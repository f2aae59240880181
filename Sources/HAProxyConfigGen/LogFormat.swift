/// Vamp's JSON log lines (gateway-haproxy-kv A5). `ft` is the frontend (gateway `G`, or route
/// `R` for the second hop), `b` the backend (`o_G`, `im_R` or `R`), `s` the server (route id
/// in `o_G`, target id in `R`); `Tt` is the total time used for response-time metrics.
public enum LogFormat {
    static let httpFields: [(String, String, Bool)] = [
        ("ci", "%ci", true), ("cp", "%cp", false), ("t", "%t", true), ("ft", "%ft", true), ("b", "%b", true), ("s", "%s", true),
        ("Tq", "%Tq", false), ("Tw", "%Tw", false), ("Tc", "%Tc", false), ("Tr", "%Tr", false), ("Tt", "%Tt", false),
        ("ST", "%ST", false), ("B", "%B", false), ("CC", "%CC", true), ("CS", "%CS", true), ("tsc", "%tsc", true),
        ("ac", "%ac", false), ("fc", "%fc", false), ("bc", "%bc", false), ("sc", "%sc", false), ("rc", "%rc", false),
        ("sq", "%sq", false), ("bq", "%bq", false), ("hr", "%hr", true), ("hs", "%hs", true), ("r", "%{+Q}r", false),
    ]

    static let tcpFields: [(String, String, Bool)] = [
        ("ci", "%ci", true), ("cp", "%cp", false), ("t", "%t", true), ("ft", "%ft", true), ("b", "%b", true), ("s", "%s", true),
        ("Tw", "%Tw", false), ("Tc", "%Tc", false), ("Tt", "%Tt", false), ("B", "%B", false), ("ts", "%ts", true),
        ("ac", "%ac", false), ("fc", "%fc", false), ("bc", "%bc", false), ("sc", "%sc", false), ("rc", "%rc", false),
        ("sq", "%sq", false), ("bq", "%bq", false),
    ]

    static func render(_ fields: [(String, String, Bool)]) -> String {
        let body = fields.map { key, variable, quoted in
            quoted ? "\\\"\(key)\\\":\\\"\(variable)\\\"" : "\\\"\(key)\\\":\(variable)"
        }.joined(separator: ",")
        return "\"{\(body)}\""
    }

    /// The `log-format` argument of http frontends.
    public static let http = render(httpFields)
    /// The `log-format` argument of tcp frontends.
    public static let tcp = render(tcpFields)
}
