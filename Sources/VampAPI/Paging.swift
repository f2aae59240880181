import Hummingbird
public import Persistence

/// Vamp's paging headers (§3.2): `X-Total-Count` and a `Link` header with first, prev, next and last.
public enum PagingLinks {
    /// The `Link` header for `page` of a list at `path`, keeping the other query parameters.
    ///
    /// `prev` and `next` clamp at the first and last page, as the original did.
    public static func link(path: String, query: [(String, String)], page: PageRequest, total: Int) -> String {
        let last = max(1, (total + page.perPage - 1) / page.perPage)
        let current = min(page.page, last)
        let kept = query.filter { $0.0 != "page" && $0.0 != "per_page" }
        func uri(_ number: Int) -> String {
            let parameters = kept + [("page", String(number)), ("per_page", String(page.perPage))]
            return path + "?" + parameters.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
        }
        return [
            "<\(uri(1))>; rel=first",
            "<\(uri(max(1, current - 1)))>; rel=prev",
            "<\(uri(min(last, current + 1)))>; rel=next",
            "<\(uri(last))>; rel=last",
        ].joined(separator: ", ")
    }

    /// The page that is shown: a page past the end shows the last one (Vamp's behaviour).
    public static func clamped(_ page: PageRequest, total: Int) -> PageRequest {
        let last = max(1, (total + page.perPage - 1) / page.perPage)
        return PageRequest(page: min(page.page, last), perPage: page.perPage)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: ":"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

extension PageRequest {
    /// The page a request asks for (`page`, `per_page`), as every list route reads it: `per_page` between 1 and
    /// `maximumPerPage` (default: the maximum), `page` from 1 and capped at 2^31 (past the end of any list; the cap
    /// keeps a store's offset from overflowing).
    static func asked(by request: Request, maximumPerPage: Int) -> PageRequest {
        let query = request.uri.queryParameters
        let perPage = min(maximumPerPage, max(1, query.get("per_page").flatMap(clampedInteger) ?? maximumPerPage))
        return PageRequest(page: min(1 << 31, max(1, query.get("page").flatMap(clampedInteger) ?? 1)), perPage: perPage)
    }

    /// A whole number as `Int`; one too large for it as `Int.max` (or `Int.min`), `nil` when it is none
    /// (``QueryParameters`` has refused those already).
    static func clampedInteger(_ text: String) -> Int? {
        if let value = Int(text) { return value }
        guard QueryParameters.isInteger(text) else { return nil }
        return text.hasPrefix("-") ? Int.min : Int.max
    }
}
