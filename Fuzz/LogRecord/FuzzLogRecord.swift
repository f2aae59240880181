import VampPulse

/// One input: a line of HAProxy's JSON log (`{"ft":"g","b":"g::a","s":"a1","Tt":12,"Tr":3,"ST":200,"B":512}`), the
/// syslog header already taken off.
///
/// Invariants beyond "does not crash": the bytes reader (the agent's) and the text reader (the aggregator's) agree on
/// valid UTF-8; a line over the limit is refused; a record written back as a line reads as the same record.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLogRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let record = LogRecord.parse(bytes: bytes)
    let text = String(decoding: bytes, as: UTF8.self)
    if size > LogRecord.maximumLength { check(record == nil, "a line of \(size) bytes was read", text) }
    // The same bytes as text: equal when the bytes are valid UTF-8 (decoding replaces what is not).
    if Array(text.utf8) == Array(bytes) {
        let fromText = LogRecord.parse(text)
        check(fromText == record, "bytes read as \(String(describing: record)), text as \(String(describing: fromText))", text)
        check(LogRecord.parse(Substring(text)) == record, "a Substring reads differently", text)
    }
    guard let record else { return 0 }
    // Written back the way HAProxy's log-format writes it; names are taken raw (escapes kept), so they go back raw.
    var line = "{\"ft\":\"\(record.key.frontend)\",\"b\":\"\(record.key.backend)\",\"s\":\"\(record.key.server)\",\"Tt\":\(record.totalTime)"
    if let serverTime = record.serverTime { line += ",\"Tr\":\(serverTime)" }
    if let status = record.status { line += ",\"ST\":\(status)" }
    line += ",\"B\":\(record.bytes)}"
    if line.utf8.count <= LogRecord.maximumLength {
        let again = LogRecord.parse(line)
        check(again == record, "written back as \(line.debugDescription) it reads as \(String(describing: again))", text)
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, _ input: String) {
    if !condition { fatalError("invariant broken: \(message())\ninput: \(input.debugDescription)") }
}
