import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import VampPulse

/// Sends a separate agent's buckets to `vamp-server`: `POST <url>/api/v1/pulse` with `{"buckets": [...]}` and the
/// agent token as `Authorization: Bearer`, oldest first, at most ``batchLimit`` buckets a request. Woken by the
/// ``PulseTicker`` each second while buckets wait; a send that fails (no answer within the timeout, a status other
/// than 2xx) leaves its buckets in the ``PulseBacklog`` for the next second, so a server that was away gets every
/// second once it is back (the server replaces an agent's second it already has, so a resend never counts twice).
struct PulsePusher: Service {
    let server: GatewayAgentConfiguration.PulseServer
    let backlog: PulseBacklog
    let metrics: AgentMetrics
    let logger: Logger
    /// The most buckets in one request (a minute of them).
    static let batchLimit = 60

    /// The request body.
    struct Body: Encodable {
        var buckets: [PulseBucket]
    }

    /// What the server answers (`202 {"accepted": n, "refused": m}`).
    struct Answer: Decodable {
        var accepted: Int?
        var refused: Int?
    }

    func run() async throws {
        // With a CA file, a client of its own that trusts that CA only; shut down when the pusher stops.
        let client: HTTPClient?
        do {
            client = try server.caFile.map { try Self.client(trusting: $0) }
        } catch {
            logger.error("the Pulse buckets are not sent to vamp-server: \(error)", metadata: ["vamp.pulse.url": "\(server.url)"])
            throw error
        }
        await cancelWhenGracefulShutdown { [self] in
            var failing: String?
            for await _ in backlog.wakeUps {
                failing = await sendWaiting(failing: failing, client: client ?? .shared)
                if Task.isCancelled { return }
            }
        }
        try? await client?.shutdown()
    }

    /// An HTTP client that trusts only the CA certificates of `caFile` (PEM).
    static func client(trusting caFile: String) throws -> HTTPClient {
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(caFile)
        } catch {
            throw GatewayAgentError("the CA file \(caFile) (--vamp-ca-file, VAMP_CA_FILE) does not read as PEM certificates: \(error)")
        }
        guard !roots.isEmpty else { throw GatewayAgentError("the CA file \(caFile) (--vamp-ca-file, VAMP_CA_FILE) holds no certificate") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(roots)
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Sends what waits, batch after batch, until nothing waits or a send fails; returns the failure (nil: all sent).
    /// A new failure is logged once, the recovery once.
    func sendWaiting(failing: String?, client: HTTPClient = .shared) async -> String? {
        while !Task.isCancelled {
            let batch = backlog.batch(limit: Self.batchLimit)
            guard !batch.isEmpty else { return nil }
            do {
                let answer = try await send(batch, client: client)
                let waiting = backlog.remove(seconds: Set(batch.map(\.second)))
                metrics.update {
                    $0.pulseBucketsSent += batch.count
                    $0.pulseBucketsRefused += max(answer.refused ?? 0, 0)
                    $0.pulseBacklog = waiting
                    $0.pulseSendError = nil
                }
                if failing != nil {
                    logger.notice("vamp-server takes the Pulse buckets again", metadata: ["vamp.pulse.url": "\(server.url)"])
                }
                return nil
            } catch {
                let message = "\(error)"
                metrics.update {
                    $0.pulseSendFailures += 1
                    $0.pulseSendError = message
                }
                if message != failing {
                    logger.warning("cannot send the Pulse buckets to vamp-server; they wait (60 s at most) and are sent again each second", metadata: [
                        "vamp.pulse.url": "\(server.url)", "vamp.error": "\(message)",
                    ])
                }
                return message
            }
        }
        return failing
    }

    /// One request; throws with what went wrong and where.
    func send(_ buckets: [PulseBucket], client: HTTPClient = .shared) async throws -> Answer {
        let url = (server.url.hasSuffix("/") ? String(server.url.dropLast()) : server.url) + "/api/v1/pulse"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token = try token() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(Body(buckets: buckets))))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .nanoseconds(server.timeout.wholeNanoseconds))
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            let text = String(reflecting: error)
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                throw GatewayAgentError(
                    "POST \(url): vamp-server's TLS certificate is not trusted (\(text)): give the CA certificate that signed it (--vamp-ca-file, VAMP_CA_FILE)")
            }
            throw GatewayAgentError("POST \(url): \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            throw GatewayAgentError("POST \(url) answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        return (try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView))) ?? Answer()
    }

    /// The token: the fixed one, else the file's content (trimmed), read now.
    func token() throws -> String? {
        if let token = server.token { return token }
        guard let file = server.tokenFile else { return nil }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw GatewayAgentError("cannot read the Pulse token file \(file) (--vamp-token-file); check that it exists and is readable")
        }
        let token = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
        guard !token.isEmpty else { throw GatewayAgentError("the Pulse token file \(file) (--vamp-token-file) is empty") }
        return token
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var wholeNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
