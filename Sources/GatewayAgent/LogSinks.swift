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
    func accept(_ datagram: UnsafeRawBufferPointer) { accept(CollectionOfOne(datagram)) }

    /// Takes datagrams received together: each is classified and queued for Logstash, then Pulse counts them under
    /// one lock and the metrics are updated once.
    func accept(_ datagrams: some Sequence<UnsafeRawBufferPointer>) {
        var received = 0
        var truncated = 0
        var notices = 0
        var dropped = 0
        var unparsed = 0
        var lines: [UnsafeRawBufferPointer] = []
        for datagram in datagrams {
            received += 1
            let range: Range<Int>
            switch Self.message(ofSyslog: datagram) {
            case .json(let json):
                range = json
            case .notice:
                notices += 1
                continue
            case .none:
                unparsed += 1
                continue
            }
            let line = UnsafeRawBufferPointer(rebasing: datagram[range])
            guard line.last == UInt8(ascii: "}") else {
                truncated += 1
                unparsed += 1
                continue
            }
            if pulse != nil { lines.append(line) }
            if let forwarding, case .dropped = forwarding.yield(String(decoding: line, as: UTF8.self)) { dropped += 1 }
        }
        pulse?.record(lines: lines, unparsed: unparsed)
        metrics.update {
            $0.logLinesReceived += received
            $0.logLinesTruncated += truncated
            $0.logNotices += notices
            $0.logLinesDropped += dropped
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
