#if canImport(Glibc)
import Glibc
#endif

/// Text helpers the agent's modules use in place of Foundation's (they link `FoundationEssentials`, which has no
/// `CharacterSet` and no `range(of:options:)`).
extension StringProtocol {
    /// The text without the characters at either end for which `predicate` holds.
    package func trimming(while predicate: (Character) -> Bool) -> SubSequence {
        guard let first = firstIndex(where: { !predicate($0) }), let last = lastIndex(where: { !predicate($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }

    /// The text without white space (spaces, tabs, newlines) at either end.
    package var trimmingWhitespace: SubSequence { trimming(while: \.isWhitespace) }
}

extension String {
    /// The range of the last occurrence of `other`, found byte by byte over the UTF-8 (`memchr` for its first byte,
    /// then a comparison): fast over the megabytes of a configuration of many gateways.
    package func lastRange(of other: String) -> Range<String.Index>? {
        var text = self
        text.makeContiguousUTF8()
        let needle = Array(other.utf8)
        guard let head = needle.first else { return nil }
        let offset: Int? = text.utf8.withContiguousStorageIfAvailable { haystack -> Int? in
            guard let base = haystack.baseAddress else { return nil }
            var found: Int?
            var from = 0
            while from + needle.count <= haystack.count, let hit = memchr(base + from, Int32(head), haystack.count - from) {
                let at = UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
                guard at + needle.count <= haystack.count else { break }
                if memcmp(base + at, needle, needle.count) == 0 { found = at }
                from = at + 1
            }
            return found
        } ?? nil
        guard let offset else { return nil }
        let start = utf8.index(utf8.startIndex, offsetBy: offset)
        return start..<utf8.index(start, offsetBy: needle.count)
    }
}
