import Contracts
import Foundation
import GRDB
import Logging
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import QueueService

/// The queue's handler table served by a real `RPCServer`, called over real sockets.
@Suite("Queue service over sockets", .timeLimit(.minutes(2)))
struct QueueServiceTests {
    static let logger: Logger = {
        var logger = Logger(label: "queue-test")
        logger.logLevel = .critical
        return logger
    }()

    /// A server with the real handler table over a manual-clock waiting room, and a client of it.
    struct Served {
        let fixture: QueueFixture
        let served: ServedHandlers
        var server: RPCServer { served.server }
        var client: RPCClient { served.client }

        init(rules: QueueRules = QueueFixture.rules) async throws {
            fixture = try await QueueFixture(rules: rules)
            served = try ServedHandlers(service: ServiceName.queue.rawValue, handlers: QueueHandlers.handlers(fixture.room))
        }

        /// The error code a raw body gets from `method`, or nil when it was answered ok.
        func errorCode(_ method: String, _ body: String) async throws -> String? {
            try await served.errorCode(method, body)
        }

        func close() async { await served.stop() }
    }

    @Test("every method answers over the wire: issue, status, validate, expire, ping")
    func everyMethod() async throws {
        let served = try await Served()
        let client = served.client
        let issued = try await client.call(QueueAPI.issue, IssueToken(userId: 1))
        #expect(issued.created && issued.view.status == .waiting && issued.view.position == 1)
        let again = try await client.call(QueueAPI.issue, IssueToken(userId: 1))
        #expect(!again.created && again.view.token == issued.view.token)
        let token = issued.view.token
        let query = TokenQuery(userId: 1, token: token)
        #expect(try await client.call(QueueAPI.status, query).status == .waiting)
        #expect(try await client.call(QueueAPI.validate, query) == TokenValidity(active: false, expiresAt: nil))

        try await served.fixture.tick()
        let expiresAt = served.fixture.clock.now().addingTimeInterval(QueueFixture.rules.activeSeconds)
        #expect(try await client.call(QueueAPI.validate, query) == TokenValidity(active: true, expiresAt: expiresAt))
        let active = try await client.call(QueueAPI.status, query)
        #expect(active.status == .active && active.position == 0 && active.expiresAt == expiresAt)

        #expect(try await client.call(QueueAPI.expire, ExpireToken(userId: 1, token: token)).expired)
        #expect(try await !client.call(QueueAPI.expire, ExpireToken(userId: 1)).expired)
        #expect(try await !client.call(QueueAPI.validate, query).active)
        #expect(try await client.call(QueueAPI.status, query).status == .expired)
        #expect(try await client.call(ServiceName.queue.ping, Empty()).service == "queue")
        await served.close()
    }

    @Test("the token view carries expiresAt as an explicit null while waiting")
    func waitingViewHasNullExpiry() async throws {
        let served = try await Served()
        let reply = try await served.client.callRaw(method: QueueAPI.issue.name, body: Data(#"{"userId":3}"#.utf8), idempotent: true)
        let body = try #require(WireCodec.rawBody(of: reply) as? [String: Any])
        let view = try #require(body["view"] as? [String: Any])
        #expect(view["expiresAt"] is NSNull)
        #expect(Set(view.keys) == ["token", "status", "position", "estimatedWaitSeconds", "expiresAt", "pollAfterMs"])
        await served.close()
    }

    @Test("bodies of the wrong shape are bad requests", arguments: [
        ("queue.issue", #"{}"#), ("queue.issue", #"{"userId":"1"}"#), ("queue.issue", #"{"userId":1.5}"#),
        ("queue.issue", #"{"userId":null}"#), ("queue.issue", #"{"userId":1e30}"#), ("queue.issue", #"[1]"#),
        ("queue.status", #"{"userId":1}"#), ("queue.status", #"{"userId":1,"token":5}"#),
        ("queue.validate", #"{"token":"q1"}"#), ("queue.validate", #"{"userId":[],"token":"q1"}"#),
        ("queue.expire", #"{"userId":true}"#), ("queue.expire", #"{"userId":1,"token":7}"#),
    ])
    func wrongShapes(method: String, body: String) async throws {
        let served = try await Served()
        #expect(try await served.errorCode(method, body) == "bad_request")
        await served.close()
    }

    @Test("garbage, forged and foreign tokens get queue_token_inactive; bad user ids invalid_request")
    func refusals() async throws {
        let served = try await Served()
        let token = try await served.client.call(QueueAPI.issue, IssueToken(userId: 1)).view.token
        let foreign = try await served.client.call(QueueAPI.issue, IssueToken(userId: 2)).view.token
        for method in ["queue.status", "queue.validate", "queue.expire"] {
            for bad in ["garbage", "", String(repeating: "x", count: 100_000), foreign, String(token.dropLast(2)) + "AA"] {
                let body = String(decoding: try JSONEncoder().encode(TokenQuery(userId: 1, token: bad)), as: UTF8.self)
                let code = try await served.errorCode(method, body)
                #expect(code == "queue_token_inactive", "\(method) with \(bad.prefix(40)): \(code ?? "ok")")
            }
            #expect(try await served.errorCode(method, #"{"userId":0,"token":"x"}"#) == "invalid_request")
        }
        #expect(try await served.errorCode("queue.issue", #"{"userId":-5}"#) == "invalid_request")
        // The real token is untouched by all of that.
        let untouched = try await served.client.call(QueueAPI.status, TokenQuery(userId: 1, token: token))
        #expect(untouched.status == .waiting, "\(untouched)")
        await served.close()
    }

    @Test("the assembled service admits on its own loop and publishes admitted and expired events")
    func assembledServicePublishes() async throws {
        let folder = try TemporaryDirectory("qa")
        defer { folder.remove() }
        let pool = try DatabaseOpener.openPool(path: folder.file("queue.sqlite"), migrator: QueueService.migrator)
        let publisher = EventPublisher(source: "queue", endpoint: folder.ipc("events"), logger: Self.logger)
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [folder.ipc("events")], topics: ["queue."], logger: Self.logger)
        try subscriber.start()
        var events = subscriber.events.makeAsyncIterator()
        // PUB/SUB drops what is sent before the subscription arrives: warm up until one gets through.
        let warmer = Task {
            while !Task.isCancelled {
                try publisher.publish("queue.warmup", Empty())
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        while let next = await events.next() {
            if case .event(let event) = next, event.head.type == "queue.warmup" { break }
        }
        warmer.cancel()
        _ = await warmer.result

        let rules = QueueRules(admitPerSecond: 50, maxActive: 10, activeSeconds: 60, idleSeconds: 60)
        let assembly = try await QueueService.assemble(database: pool, rules: rules, publisher: publisher,
                                                       logger: Self.logger, clock: SystemClock())
        let loops = Task { try await withThrowingTaskGroup(of: Void.self) { group in
            for loop in assembly.loops { group.addTask { try await loop.run() } }
            try await group.waitForAll()
        } }
        let server = RPCServer(service: "queue", endpoint: folder.ipc("rpc"), handlers: assembly.handlers, logger: Self.logger)
        try server.start()
        let client = try RPCClient(endpoint: folder.ipc("rpc"), logger: Self.logger, defaultTimeout: .seconds(10))

        let token = try await client.call(QueueAPI.issue, IssueToken(userId: 42)).view.token
        func nextQueueEvent() async throws -> ReceivedEvent? {
            while let next = await events.next() {
                if case .event(let event) = next, event.head.type != "queue.warmup" { return event }
            }
            return nil
        }
        let admitted = try #require(try await nextQueueEvent())
        #expect(admitted.head.type == QueueAPI.admittedEvent)
        let admittedBody = try admitted.body(as: AdmittedEvent.self)
        #expect(admittedBody.throughSeq == 1 && admittedBody.tokens.map(\.userId) == [42])
        #expect(try await client.call(QueueAPI.validate, TokenQuery(userId: 42, token: token)).active)

        #expect(try await client.call(QueueAPI.expire, ExpireToken(userId: 42)).expired)
        let expired = try #require(try await nextQueueEvent())
        #expect(expired.head.type == QueueAPI.expiredEvent)
        #expect(try expired.body(as: ExpiredEvent.self) == ExpiredEvent(tokens: [ExpiredTokenRef(userId: 42, seq: 1, reason: .revoked)]))

        await client.close()
        await server.stop()
        loops.cancel()
        _ = await loops.result
        await subscriber.stop()
        await publisher.stop()
        try pool.close()
    }
}
