import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The load generator's HTTP client: one connection pool to one server, sized for load (the shared
/// client keeps 8 connections a host), every request with a deadline.
final class LoadClient: Sendable {
    let baseURL: String
    private let client: HTTPClient

    /// An answer: its status (0 when there was none: refused, reset, timed out), ETag and body.
    struct Answer: Sendable {
        let status: Int
        let etag: String?
        let body: ByteBuffer?

        var outcome: String { status == 0 ? "no answer" : "\(status)" }
        func json() -> [String: Any]? {
            guard let body else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        }
    }

    init(baseURL: String, connections: Int) {
        self.baseURL = baseURL
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        // A request waiting for a free pooled connection counts against the connect timeout: in an
        // open-loop run past the server's capacity that wait is the backlog, to be measured, so it
        // gets the same 30 seconds as the answer rather than failing inside the load generator.
        configuration.timeout = .init(connect: .seconds(30), read: .seconds(30))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], json: String? = nil,
              timeout: Duration = .seconds(30)) async -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
            let body = try await response.body.collect(upTo: 1 << 22)
            return Answer(status: Int(response.status.code), etag: response.headers.first(name: "etag"), body: body)
        } catch {
            return Answer(status: 0, etag: nil, body: nil)
        }
    }
}
