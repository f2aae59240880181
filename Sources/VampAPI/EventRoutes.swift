import Foundation
import HTTPTypes
import Hummingbird
import Persistence
import ServiceLifecycle
import VampCore
import VampDSL
import VampModel

/// `GET|POST /events` and `GET /events/stream` (§3.3, §3.6, §5.2).
struct EventHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    /// The query of parameters (`tag`, repeatable, and `type`) or of the body, which wins when there is one.
    func query(_ request: Request) async throws(OperationError) -> EventQueryRequest {
        let parameters = request.uri.queryParameters
        // Checked even when a body wins: a parameter that is wrong is refused, not ignored.
        let type = parameters.get("type")
        if let type, !Self.isEventType(type) {
            throw OperationError(.invalid, "query parameter type '\(QueryParameters.shown(type))': an event type is letters, digits, '-' and '_'")
        }
        if let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: false) {
            do {
                return try DSLReader.eventQuery(text)
            } catch {
                throw OperationError(.invalid, error.description, cause: error)
            }
        }
        return EventQueryRequest(tags: parameters.getAll("tag").map { String($0) }, type: type)
    }

    func list(_ request: Request) async throws -> Response {
        let query = try await query(request)
        let parameters = request.uri.queryParameters
        let asked = PageRequest.asked(by: request, maximumPerPage: configuration.maximumPerPage)
        switch try await vamp.events(query, page: asked) {
        case .aggregate(let value):
            return APIAnswer.json(["value": value.map { $0 as Any } ?? NSNull()])
        case .events(var page):
            let shown = PagingLinks.clamped(asked, total: page.total)
            if shown != asked, case .events(let again) = try await vamp.events(query, page: shown) { page = again }
            let format = BodyFormat.ofResponse(accept: request.headers[.accept])
            var response = Self.render(page.items, format)
            response.headers[HTTPField.Name("X-Total-Count")!] = String(page.total)
            let pairs = parameters.map { (String($0.key), String($0.value)) }
            response.headers[HTTPField.Name("Link")!] = PagingLinks.link(path: request.uri.path, query: pairs, page: shown, total: page.total)
            return response
        }
    }

    func publish(_ request: Request) async throws -> Response {
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send an event: {\"tags\": [...], \"value\": ...}")
        }
        let events: [Event]
        do {
            events = try DSLReader.events(text)
        } catch {
            throw OperationError(.invalid, "\(error)", cause: error)
        }
        guard !events.isEmpty else { throw OperationError(.invalid, "the request body holds no event") }
        let stored = try await vamp.publish(events)
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        if stored.count == 1 { return Self.render(stored[0], format, status: .created) }
        return Self.render(stored, format, status: .created)
    }

    /// Server-Sent Events: `event: <type>` and `data: <event JSON>` for every matching event published after the
    /// request arrived, and a `: heartbeat` comment every `sseKeepAlive` so proxies keep the connection. Each stream
    /// takes one of its token's event stream slots until it ends (a `/websocket`'s was taken at its upgrade).
    func stream(_ request: Request, _ context: VampRequestContext) async throws -> Response {
        let query = try await query(request)
        let slot = context.insideWebSocket ? nil : try context.openEventStream()
        // A client that closes its side ends the stream at once, and so gives its slot back.
        let notes = context.insideWebSocket ? nil : await context.channel.connectionNotes()
        // Subscribe before answering: an event published once the client has the headers is delivered.
        let events = vamp.subscribe(EventFilter(tags: Set(query.tags), type: query.type))
        let keepAlive = configuration.sseKeepAlive
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { slot?.close() }
            enum Item: Sendable { case event(Event), heartbeat }
            let (items, sink) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(1000))
            notes?.onDeparture { sink.finish() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in events { sink.yield(.event(event)) }
                    sink.finish()
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: keepAlive)
                        sink.yield(.heartbeat)
                    }
                }
                // A server shutting down gracefully ends its streams instead of waiting for the clients.
                group.addTask {
                    try await gracefulShutdown()
                    sink.finish()
                }
                defer { group.cancelAll() }
                // A comment first, so that a client knows at once that the subscription is in place.
                try await writer.write(ByteBuffer(string: ": subscribed\n\n"))
                for await item in items {
                    switch item {
                    case .heartbeat: try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    case .event(let event): try await writer.write(ByteBuffer(string: Self.serverSentEvent(event)))
                    }
                }
            }
            try await writer.finish(nil)
        })
    }

    /// One event in the SSE wire format; the JSON is on one line, so one `data:` line carries it.
    static func serverSentEvent(_ event: Event) -> String {
        "event: \(event.type)\ndata: \(DSLWriter.json(.event(event), pretty: false))\n\n"
    }

    static func render(_ event: Event, _ format: BodyFormat, status: HTTPResponse.Status = .ok) -> Response {
        let text = format == .json ? DSLWriter.json(.event(event), pretty: false) : DSLWriter.yaml(.event(event))
        return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func render(_ events: [Event], _ format: BodyFormat, status: HTTPResponse.Status = .ok) -> Response {
        let artifacts = events.map(Artifact.event)
        let text = format == .json ? DSLWriter.json(artifacts, pretty: false) : DSLWriter.yaml(artifacts)
        return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func isEventType(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_" }
    }
}
