import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// 429 for a token over its request rate: `Retry-After` in whole seconds and `{"message": ...}` naming the setting.
struct RateLimitRefusal: HTTPResponseError {
    let key: RateKey
    let limits: RateLimits
    let retryAfter: Int

    var status: HTTPResponse.Status { .tooManyRequests }

    var message: String {
        let rate = limits.requestsPerSecond.map { $0 == $0.rounded() ? String(Int($0)) : String($0) } ?? "?"
        return "\(key) made more requests than the \(rate) a second (bursts of \(limits.burst)) one token may make "
            + "(vamp.http-api.rate-limit.requests-per-second, vamp.http-api.rate-limit.burst); retry after \(retryAfter) s"
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = APIAnswer.json(["message": message], status: status)
        response.headers[.retryAfter] = String(retryAfter)
        return response
    }
}

/// 429 for an event stream over the token's limit of open streams.
struct EventStreamRefusal: HTTPResponseError {
    let key: RateKey
    let maximum: Int

    var status: HTTPResponse.Status { .tooManyRequests }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let message = "\(key) has \(maximum) event streams open (GET /events/stream and /websocket), the most one token may have "
            + "(vamp.http-api.max-event-streams-per-token); close one first"
        var response = APIAnswer.json(["message": message], status: status)
        // A slot frees when a stream closes, which the server cannot foresee: try again in a second.
        response.headers[.retryAfter] = "1"
        return response
    }
}

extension VampRequestContext {
    /// A slot for one more event stream of the request's token; 429 when it has as many open as it may.
    func openEventStream() throws(EventStreamRefusal) -> EventStreamSlot? {
        guard let (limiter, key) = limits else { return nil }
        guard let slot = limiter.openStream(key) else {
            throw EventStreamRefusal(key: key, maximum: limiter.limits.maximumEventStreams ?? 0)
        }
        return slot
    }
}

/// Where a `/websocket` upgrade keeps its slot until the socket closes. A reference in the request context, which
/// hummingbird-websocket hands from the upgrade check to the socket's handler.
final class SlotHolder: Sendable {
    private let slot = Mutex<EventStreamSlot?>(nil)

    func keep(_ slot: EventStreamSlot?) { self.slot.withLock { $0 = slot } }

    func close() {
        let slot = self.slot.withLock { slot in
            defer { slot = nil }
            return slot
        }
        slot?.close()
    }
}
