import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport

/// The virtual users' HTTP client: one connection pool to the gateway, big enough that no request
/// waits in the client for a connection (that wait would count against the server's deadline), and
/// a journal of every exchange with when it began and ended.
///
/// After the gateway has been killed and started again the pool is replaced (`reconnect`), as a
/// browser opens fresh connections: AsyncHTTPClient's pool backs off after refused connects and can
/// keep later requests waiting for a connection for seconds, which would be the client's delay
/// mistaken for the server's.
final class ChaosClient: Sendable {
    let baseURL: String
    private let connections: Int
    /// The pool in use, and every pool made so far (all shut down at the end).
    private let pools: Mutex<(current: HTTPClient, all: [HTTPClient])>
    private let journal = Mutex<[Exchange]>([])

    /// What came back: the status and body, or nothing (refused, reset, timed out).
    struct Reply {
        let status: Int?
        let body: [String: Any]?

        var code: String? { body?["code"] as? String }
        var isUnknown: Bool { status == nil || status == 503 }
        subscript(_ key: String) -> Any? { body?[key] }
    }

    init(baseURL: String, connections: Int) {
        self.baseURL = baseURL
        self.connections = connections
        let pool = Self.pool(connections: connections)
        pools = Mutex((pool, [pool]))
    }

    private static func pool(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        // Well past the contract's 3 s, so a late answer is seen and counted as late rather than cut off.
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(10))
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Sends later requests through a fresh pool; requests already sent finish on the old one.
    func reconnect() {
        let fresh = Self.pool(connections: connections)
        pools.withLock { $0 = (fresh, $0.all + [fresh]) }
    }

    func shutdown() async {
        for pool in pools.withLock({ $0.all }) { try? await pool.shutdown() }
    }

    var exchanges: [Exchange] { journal.withLock { $0 } }

    /// Sends one request and records it under `what` (`reserve`, `pay`, …).
    func send(_ what: String, _ method: HTTPMethod, _ path: String, apiKey: String? = nil, token: String? = nil,
              idempotencyKey: String? = nil, admin: String? = nil, json: String? = nil) async -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let admin { request.headers.add(name: "Authorization", value: "Bearer \(admin)") }
        if let token { request.headers.add(name: "X-Queue-Token", value: token) }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let started = ContinuousClock.now
        do {
            let response = try await pools.withLock { $0.current }.execute(request, timeout: .seconds(12))
            let bytes = try await response.body.collect(upTo: 1 << 24)
            let parsed = bytes.readableBytes > 0 ? try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) : nil
            let reply = Reply(status: Int(response.status.code), body: parsed as? [String: Any])
            record(Exchange(what: what, started: started, ended: .now, status: reply.status, code: reply.code, error: nil))
            return reply
        } catch {
            record(Exchange(what: what, started: started, ended: .now, status: nil, code: nil, error: "\(error)"))
            return Reply(status: nil, body: nil)
        }
    }

    private func record(_ exchange: Exchange) {
        journal.withLock { $0.append(exchange) }
    }
}
