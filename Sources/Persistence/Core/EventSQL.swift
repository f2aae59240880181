import Foundation

/// The parts of event SQL that SQLite and PostgreSQL share. Both keep tags twice: as a JSON
/// array in the event row (returned with it) and one row per tag in an indexed tag table (for
/// filtering); each required tag is one `EXISTS` probe on the `(tag, event_seq)` key.
struct EventSQL {
    enum Argument: Sendable {
        case text(String)
        case integer(Int64)
    }

    /// Placeholder for the n-th argument (1-based): `?` for SQLite, `$n` for PostgreSQL.
    let placeholder: @Sendable (Int) -> String
    let eventsTable: String
    let tagsTable: String

    /// `WHERE ...` (or an empty string) and its arguments, starting at argument `first`.
    func whereClause(
        _ query: EventQuery, range: ResolvedRange, first: Int = 1
    ) -> (sql: String, arguments: [Argument]) {
        var conditions: [String] = []
        var arguments: [Argument] = []
        func next(_ argument: Argument) -> String {
            arguments.append(argument)
            return placeholder(first + arguments.count - 1)
        }
        if let type = query.type { conditions.append("e.type = \(next(.text(type)))") }
        if let lower = range.lower { conditions.append("e.occurred_at >= \(next(.integer(lower)))") }
        if let upper = range.upper { conditions.append("e.occurred_at <= \(next(.integer(upper)))") }
        for tag in query.tags.sorted() {
            conditions.append(
                "EXISTS (SELECT 1 FROM \(tagsTable) t WHERE t.tag = \(next(.text(tag))) AND t.event_seq = e.seq)")
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    static func encodeTags(_ tags: [String]) -> String {
        let data = try? JSONEncoder().encode(tags.sorted())
        return String(decoding: data ?? Data("[]".utf8), as: UTF8.self)
    }

    static func decodeTags(_ text: String) throws -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(text.utf8))
        } catch {
            throw PersistenceError(code: .corruptRecord, message: "stored event tags are not a JSON array: \(text)", cause: error)
        }
    }
}
