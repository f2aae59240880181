import VampPulse

/// Where each of HAProxy's log datagrams goes, on the thread that received it: its syslog header is taken off, the
/// JSON line is queued for Logstash (when one is configured; the queue is bounded and drops the oldest) and counted
/// by the Pulse aggregator (when on). Neither sink ever blocks the receiver. A datagram that is not a log line, and a
/// line HAProxy cut at its `len` (no closing `}`), are counted and go nowhere; HAProxy's own messages (a syslog
/// header followed by text, such as `Proxy … stopped` when an old worker ends after a reload) are counted apart, as
/// notices, so that Pulse's `unparsed` means lines lost to the figures.
struct LogSinks: Sendable {
    /// The Logstash queue, or nil when lines are not forwarded.
    let forwarding: AsyncStream<String>.Continuation?
    let metrics: AgentMetrics
    /// The Pulse aggregator, or nil when Pulse is off.
    let pulse: PulseRecorder?

    /// Takes one datagram.
    func accept(_ datagram: UnsafeRawBufferPointer) {
        let range: Range<Int>
        switch Self.message(ofSyslog: datagram) {
        case .json(let json):
            range = json
        case .notice:
            metrics.update {
                $0.logLinesReceived += 1
                $0.logNotices += 1
            }
            return
        case .none:
            metrics.update { $0.logLinesReceived += 1 }
            pulse?.recordUnparsed()
            return
        }
        let line = UnsafeRawBufferPointer(rebasing: datagram[range])
        guard line.last == UInt8(ascii: "}") else {
            metrics.update {
                $0.logLinesReceived += 1
                $0.logLinesTruncated += 1
            }
            pulse?.recordUnparsed()
            return
        }
        metrics.update { $0.logLinesReceived += 1 }
        pulse?.record(line: line)
        if let forwarding, case .dropped = forwarding.yield(String(decoding: line, as: UTF8.self)) {
            metrics.update { $0.logLinesDropped += 1 }
        }
    }

    /// What a syslog datagram holds.
    enum Message: Equatable {
        /// A JSON line at these bytes.
        case json(Range<Int>)
        /// HAProxy's own message: a syslog header followed by text.
        case notice
        /// Neither.
        case none
    }

    /// What a syslog datagram holds: the JSON part, from the `{` right after the header's `]: ` (or, without a header,
    /// from the first `{`) to the end, trailing newlines and NULs left out; a header followed by anything else is a
    /// notice.
    static func message(ofSyslog datagram: UnsafeRawBufferPointer) -> Message {
        guard let range = jsonRange(ofSyslog: datagram) else { return hasHeader(datagram) ? .notice : .none }
        return .json(range)
    }

    /// Whether the datagram starts as HAProxy's syslog lines do: `<priority>` … `]: `.
    static func hasHeader(_ datagram: UnsafeRawBufferPointer) -> Bool {
        guard datagram.first == UInt8(ascii: "<") else { return false }
        var index = 0
        while index + 2 < datagram.count, index < 200 {
            if datagram[index] == UInt8(ascii: "]"), datagram[index + 1] == UInt8(ascii: ":"), datagram[index + 2] == UInt8(ascii: " ") { return true }
            index += 1
        }
        return false
    }

    static func jsonRange(ofSyslog datagram: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = datagram.count
        var start: Int?
        var index = 0
        while index + 2 < count {
            if datagram[index] == UInt8(ascii: "]"), datagram[index + 1] == UInt8(ascii: ":"), datagram[index + 2] == UInt8(ascii: " ") {
                start = index + 3
                break
            }
            index += 1
        }
        if let header = start {
            guard header < count, datagram[header] == UInt8(ascii: "{") else { return nil }
        } else {
            guard let brace = datagram.firstIndex(of: UInt8(ascii: "{")) else { return nil }
            start = brace
        }
        guard let from = start else { return nil }
        var end = count
        while end > from, datagram[end - 1] == 0x0A || datagram[end - 1] == 0x0D || datagram[end - 1] == 0 { end -= 1 }
        return from..<end
    }
}
