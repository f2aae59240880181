import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The releases' webhooks over HTTP: a `POST` of the JSON body; a 2xx answer within the hook's timeout lets the
/// release go on, anything else (another status, a refused connection, the timeout) halts it.
enum ReleaseWebhooks {
    static func call(_ url: String, _ body: Data, _ timeout: Duration) async -> (succeeded: Bool, message: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "vamp-server release webhook")
        request.body = .bytes(ByteBuffer(bytes: body))
        let limit = TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: limit)
            let text = String(buffer: try await response.body.collect(upTo: 4096)).trimmingCharacters(in: .whitespacesAndNewlines)
            let status = "HTTP \(response.status.code)" + (text.isEmpty ? "" : ": \(text.prefix(200))")
            return ((200..<300).contains(response.status.code), status)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            return (false, "no answer within \(timeout)")
        } catch {
            return (false, "\(error)")
        }
    }
}
