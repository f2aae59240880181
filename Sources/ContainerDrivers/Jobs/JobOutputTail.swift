/// The last bytes of a run's output, however much it writes: memory stays under twice the limit, and ``text`` is valid
/// UTF-8 of at most ``limit`` bytes.
package struct JobOutputTail: Sendable, Hashable {
    /// How many bytes are kept.
    package let limit: Int
    private var bytes: [UInt8] = []

    /// An empty tail keeping `limit` bytes (0: none).
    package init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Adds bytes as they came.
    package mutating func append(_ chunk: some Collection<UInt8>) {
        guard limit > 0 else { return }
        if chunk.count >= limit {
            bytes = Array(chunk.suffix(limit))
            return
        }
        bytes.append(contentsOf: chunk)
        // Trimmed only once twice the limit is held, so appending stays linear.
        if bytes.count > 2 * limit { bytes.removeFirst(bytes.count - limit) }
    }

    /// The kept output as text: the last ``limit`` bytes, without the rest of a character cut at the start; bytes that
    /// are not UTF-8 become U+FFFD, and characters are dropped from the start until the text fits the limit again.
    package var text: String {
        var kept = bytes.suffix(limit)
        // Continuation bytes (10xxxxxx) at the start are the end of a character whose start was cut off.
        var skipped = 0
        while skipped < 3, let first = kept.first, first & 0b1100_0000 == 0b1000_0000 {
            kept = kept.dropFirst()
            skipped += 1
        }
        let text = String(decoding: kept, as: UTF8.self)
        var size = text.utf8.count
        guard size > limit else { return text }
        var start = text.unicodeScalars.startIndex
        while size > limit, start < text.unicodeScalars.endIndex {
            size -= UTF8.width(text.unicodeScalars[start])
            text.unicodeScalars.formIndex(after: &start)
        }
        return String(text.unicodeScalars[start...])
    }
}
