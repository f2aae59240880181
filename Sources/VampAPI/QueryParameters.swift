import Hummingbird
import VampCore

/// The query parameters the API documents, checked once for every request before its route runs: a flag is
/// `true` or `false`, a page number is an integer, and a parameter of one value is given once. Anything else is
/// a 400 naming the parameter (before, `validate_only=yes` quietly meant `false`, so a caller who asked for a
/// dry run got a real write).
///
/// Parameters the API does not know are left alone (Vamp 0.9.5 ignored them too); repeatable ones (`tag`, `on`)
/// are not checked here.
enum QueryParameters {
    /// The flags: `true` or `false`, in any case.
    static let flags: Set<String> = ["validate_only", "expand_references", "only_references", "as_blueprint", "flatten"]
    /// The integers: an optional sign and digits (out-of-range values are clamped by the routes).
    static let integers: Set<String> = ["page", "per_page"]
    /// Every parameter of one value, checked to be given at most once.
    static let single: Set<String> = flags.union(integers).union(["type", "name", "window"])

    /// Why `query` is refused, or `nil` when it is fine. Pure: the pairs as the URI holds them, decoded.
    static func problem(in query: [(name: String, value: String)]) -> String? {
        var seen: [String: Int] = [:]
        for (name, _) in query where single.contains(name) { seen[name, default: 0] += 1 }
        if let (name, count) = seen.filter({ $0.value > 1 }).min(by: { $0.key < $1.key }) {
            return "query parameter \(name) is given \(count) times; give it once"
        }
        for (name, value) in query {
            if flags.contains(name), !["true", "false"].contains(value.lowercased()) {
                return "query parameter \(name) is '\(shown(value))'; use true or false"
            }
            if integers.contains(name), !isInteger(value) {
                return "query parameter \(name) is '\(shown(value))'; use a whole number, e.g. \(name)=1"
            }
        }
        return nil
    }

    /// An optional sign and at least one ASCII digit.
    static func isInteger(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        return !digits.isEmpty && digits.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// The value for a message: control characters escaped, at most 40 characters.
    static func shown(_ value: String) -> String {
        let escaped = value.unicodeScalars.prefix(40).map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return value.unicodeScalars.count > 40 ? escaped + "…" : escaped
    }
}

/// Runs ``QueryParameters/problem(in:)`` before the route: a refused query is a 400 with `{"message": ...}`.
struct QueryParametersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let query = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
        if !query.isEmpty, let problem = QueryParameters.problem(in: query) {
            throw OperationError(.invalid, problem)
        }
        return try await next(request, context)
    }
}
