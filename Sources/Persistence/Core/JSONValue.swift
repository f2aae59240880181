import Foundation
import VampModel

extension JSONValue {
    /// Compact JSON text with sorted keys.
    func encodedText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding fails only for a `.number` whose text is not a number; such a value is stored
        // as JSON null rather than as invalid JSON.
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(text: String) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw PersistenceError(code: .corruptRecord, message: "stored event value is not JSON: \(error)", cause: error)
        }
    }
}

/// Timestamps are stored as whole milliseconds since 1970 (like Elasticsearch), so every store
/// returns exactly the `Date` it was given after ``normalized(_:)``.
enum Millis {
    static func from(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
    static func normalized(_ date: Date) -> Date { Self.date(from(date)) }
}
