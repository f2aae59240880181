import AsyncHTTPClient
import NIOSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// The HTTP client the etcd and Consul stores use unless given one: one per process, never shut
/// down, with room for many long-lived watch streams per server.
enum SharedHTTPClient {
    static let client = make(tls: nil)

    /// A client with the stores' pool and timeouts (and `tls` for HTTPS, when given).
    static func make(tls: TLSConfiguration?) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        if let tls { configuration.tlsConfiguration = tls }
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

/// A JSON integer that etcd's gateway sends as a string ("42") and others as a number.
struct FlexibleInt64: Decodable, Sendable {
    let value: Int64

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            value = number
        } else if let text = try? container.decode(String.self), let number = Int64(text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an integer")
        }
    }
}

extension HTTPClientResponse.Body {
    /// Collects the body up to `limit` bytes.
    func bytes(upTo limit: Int = 16 * 1024 * 1024) async throws -> [UInt8] {
        var buffer = try await collect(upTo: limit)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}
