extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (cheaper than Foundation's
    /// `trimmingCharacters`, which dominated parsing profiles).
    /// Unicode scalars, not characters: a space followed by a combining mark is one character, which was kept, so a
    /// raw ACL `<` + U+0616 … `>` read back from its canonical text `< ` + U+0616 … ` >` with a space more (found by
    /// fuzzing).
    package var trimmedSpaces: Substring {
        let scalars = Substring(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return Substring(scalars[first...last])
    }
}
