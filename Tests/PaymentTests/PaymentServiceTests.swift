import Contracts
import Foundation
import GRDB
import Logging
import Messaging
@testable import ServiceKit
import Configuration
import Testing
import TestSupport
@testable import PaymentService

/// Every method over real sockets: the real handler table behind an `RPCServer`, called by an `RPCClient`.
@Suite("Payment service over sockets", .timeLimit(.minutes(2)))
struct PaymentServiceTests {
    /// A running server on a private `ipc://` endpoint and a client connected to it.
    struct Running {
        let fixture: PaymentFixture
        let served: ServedHandlers
        var server: RPCServer { served.server }
        var client: RPCClient { served.client }
        static var logger: Logger { ServedHandlers.logger }

        init() throws {
            fixture = try PaymentFixture()
            served = try ServedHandlers(service: ServiceName.payment.rawValue, handlers: PaymentHandlers.handlers(fixture.cashier))
        }

        func stop() async { await served.stop() }

        /// Calls `method` with a raw JSON body; returns the error code, or nil for an `ok` reply.
        func errorCode(_ method: RPCMethod<some Any, some Any>, _ json: String) async throws -> String? {
            try await served.errorCode(method.name, json)
        }

        func refusal<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async -> String? {
            await served.refusal(method, request)
        }
    }

    @Test("payment.ping answers with the service's name")
    func ping() async throws {
        let running = try Running()
        #expect(try await running.client.call(ServiceName.payment.ping, Empty()).service == "payment")
        await running.stop()
    }

    @Test("createUser, authenticate, user and balance answer over the wire")
    func users() async throws {
        let running = try Running()
        let client = running.client
        let user = try await client.call(PaymentAPI.createUser, CreateUser(name: " Lee "))
        #expect(user.name == "Lee" && user.apiKey.hasPrefix("ctk_"))
        #expect(try await client.call(PaymentAPI.authenticate, Authenticate(apiKey: user.apiKey)) == AuthenticatedUser(userId: user.id, name: "Lee"))
        #expect(try await client.call(PaymentAPI.user, UserRef(userId: user.id)) == UserView(id: user.id, name: "Lee"))
        #expect(try await client.call(PaymentAPI.balance, UserRef(userId: user.id)) == Balance(balance: 0))

        #expect(await running.refusal(PaymentAPI.createUser, CreateUser(name: "  ")) == "invalid_request")
        #expect(await running.refusal(PaymentAPI.createUser, CreateUser(name: String(repeating: "n", count: 51))) == "invalid_request")
        #expect(await running.refusal(PaymentAPI.authenticate, Authenticate(apiKey: "ctk_nope")) == "unauthorized")
        #expect(await running.refusal(PaymentAPI.user, UserRef(userId: user.id + 1)) == "not_found")
        #expect(await running.refusal(PaymentAPI.balance, UserRef(userId: -3)) == "not_found")
        await running.stop()
    }

    @Test("charge, debit, payment, refund and transactions answer over the wire")
    func money() async throws {
        let running = try Running()
        let client = running.client
        let user = try await client.call(PaymentAPI.createUser, CreateUser(name: "Park"))
        #expect(try await client.call(PaymentAPI.charge, Charge(userId: user.id, amount: 9000, idempotencyKey: "c1")) == Balance(balance: 9000))
        #expect(try await client.call(PaymentAPI.charge, Charge(userId: user.id, amount: 9000, idempotencyKey: "c1")) == Balance(balance: 9000))
        #expect(await running.refusal(PaymentAPI.charge, Charge(userId: user.id, amount: 1, idempotencyKey: "c1")) == "idempotency_key_reused")

        let receipt = try await client.call(PaymentAPI.debit, Debit(userId: user.id, reservationId: "res-9", amount: 6000))
        #expect(receipt.balance == 3000 && receipt.amount == 6000 && receipt.reservationId == "res-9")
        #expect(try await client.call(PaymentAPI.debit, Debit(userId: user.id, reservationId: "res-9", amount: 6000)) == receipt)
        #expect(try await client.call(PaymentAPI.payment, PaymentRef(reservationId: "res-9")) == receipt)
        #expect(await running.refusal(PaymentAPI.debit, Debit(userId: user.id, reservationId: "res-10", amount: 6000)) == "insufficient_balance")
        #expect(await running.refusal(PaymentAPI.debit, Debit(userId: user.id, reservationId: "res-9", amount: 10)) == "idempotency_key_reused")
        #expect(await running.refusal(PaymentAPI.payment, PaymentRef(reservationId: "res-10")) == "not_found")

        let refund = try await client.call(PaymentAPI.refund, Refund(reservationId: "res-9"))
        #expect(refund.refunded && refund.balance == 9000 && refund.paymentId == receipt.paymentId)
        #expect(try await client.call(PaymentAPI.refund, Refund(reservationId: "res-9")) == refund)
        #expect(await running.refusal(PaymentAPI.refund, Refund(reservationId: "res-10")) == "not_found")

        let ledger = try await client.call(PaymentAPI.transactions, TransactionsQuery(userId: user.id))
        #expect(ledger.map(\.kind) == ["refund", "payment", "charge"])
        #expect(ledger.map(\.balanceAfter) == [9000, 3000, 9000])
        #expect(try await client.call(PaymentAPI.transactions, TransactionsQuery(userId: user.id, limit: 1)).count == 1)
        #expect(await running.refusal(PaymentAPI.transactions, TransactionsQuery(userId: user.id, limit: 0)) == "invalid_request")
        #expect(await running.refusal(PaymentAPI.transactions, TransactionsQuery(userId: 4242)) == "not_found")
        await running.stop()
    }

    @Test("a charge's ledger entry carries an explicit null reservationId, and a receipt an explicit null refundedAt")
    func nullsOnTheWire() async throws {
        let running = try Running()
        let user = try await running.client.call(PaymentAPI.createUser, CreateUser(name: "Choi"))
        _ = try await running.client.call(PaymentAPI.charge, Charge(userId: user.id, amount: 10, idempotencyKey: "k"))
        let ledger = try await running.client.callRaw(method: PaymentAPI.transactions.name, body: Data(#"{"userId":\#(user.id)}"#.utf8), idempotent: true)
        #expect(String(decoding: ledger, as: UTF8.self).contains(#""reservationId":null"#))
        let debit = try await running.client.callRaw(method: PaymentAPI.debit.name,
                                                     body: Data(#"{"userId":\#(user.id),"reservationId":"r","amount":5}"#.utf8), idempotent: true)
        #expect(String(decoding: debit, as: UTF8.self).contains(#""refundedAt":null"#))
        await running.stop()
    }

    @Test("ill-typed or missing fields are bad_request", arguments: [
        (PaymentAPI.createUser.name, #"{"name":5}"#),
        (PaymentAPI.createUser.name, #"{}"#),
        (PaymentAPI.authenticate.name, #"{"apiKey":null}"#),
        (PaymentAPI.user.name, #"{"userId":"1"}"#),
        (PaymentAPI.balance.name, #"{"userId":1.5}"#),
        (PaymentAPI.charge.name, #"{"userId":1,"amount":"100","idempotencyKey":"k"}"#),
        (PaymentAPI.charge.name, #"{"userId":1,"amount":10.5,"idempotencyKey":"k"}"#),
        (PaymentAPI.charge.name, #"{"userId":1,"amount":1e30,"idempotencyKey":"k"}"#),
        (PaymentAPI.charge.name, #"{"userId":1,"amount":100}"#),
        (PaymentAPI.debit.name, #"{"userId":1,"reservationId":7,"amount":100}"#),
        (PaymentAPI.refund.name, #"{"reservationId":["r"]}"#),
        (PaymentAPI.transactions.name, #"{"userId":1,"limit":"ten"}"#),
        (PaymentAPI.payment.name, #"[]"#),
    ])
    func badRequests(method: String, json: String) async throws {
        let running = try Running()
        let reply = try await running.client.callRaw(method: method, body: Data(json.utf8), idempotent: false)
        #expect(try WireCodec.decodeReplyHead(reply).error?.code == "bad_request")
        await running.stop()
    }

    @Test("zero, negative and huge amounts are invalid_amount over the wire, and unknown users not_found")
    func badAmountsAndUsers() async throws {
        let running = try Running()
        let user = try await running.client.call(PaymentAPI.createUser, CreateUser(name: "Jung"))
        for amount in ["0", "-1", "-9223372036854775808", "10000001", "9223372036854775807"] {
            #expect(try await running.errorCode(PaymentAPI.charge, #"{"userId":\#(user.id),"amount":\#(amount),"idempotencyKey":"k"}"#) == "invalid_amount")
        }
        for amount in ["0", "-1", "1000000000001", "9223372036854775807"] {
            #expect(try await running.errorCode(PaymentAPI.debit, #"{"userId":\#(user.id),"reservationId":"r","amount":\#(amount)}"#) == "invalid_amount")
        }
        #expect(try await running.errorCode(PaymentAPI.charge, #"{"userId":99999,"amount":5,"idempotencyKey":"k"}"#) == "not_found")
        #expect(try await running.errorCode(PaymentAPI.debit, #"{"userId":99999,"reservationId":"r","amount":5}"#) == "not_found")
        #expect(try await running.errorCode(PaymentAPI.charge, #"{"userId":\#(user.id),"amount":5,"idempotencyKey":""}"#) == "invalid_request")
        #expect(try await running.client.call(PaymentAPI.balance, UserRef(userId: user.id)) == Balance(balance: 0))
        #expect(try await running.fixture.writer.read { try WalletTransaction.fetchCount($0) } == 0)
        await running.stop()
    }

    @Test("the assembled service answers and publishes payment.completed and payment.refunded once each, after commit")
    func assembledServicePublishes() async throws {
        let folder = try TemporaryDirectory("pay")
        defer { folder.remove() }
        let logger = Running.logger
        let pool = try DatabaseOpener.openPool(path: folder.file("payment.sqlite"), migrator: PaymentService.migrator)
        let publisher = EventPublisher(source: "payment", endpoint: folder.ipc("events"), logger: logger)
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [folder.ipc("events")], logger: logger)
        try subscriber.start()
        let configuration = try StackConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [:])))
        let assembly = try await PaymentService.assemble(AssemblyContext(configuration: configuration, logger: logger, database: pool, publisher: publisher))
        #expect(assembly.loops.count == 1)
        let server = RPCServer(service: "payment", endpoint: folder.ipc("rpc"), handlers: assembly.handlers, logger: logger)
        try server.start()
        let client = try RPCClient(endpoint: folder.ipc("rpc"), logger: logger, defaultTimeout: .seconds(10))

        // PUB/SUB drops what is sent before the subscription arrives: warm up until one gets through.
        var stream = subscriber.events.makeAsyncIterator()
        let warmer = Task {
            while !Task.isCancelled {
                try publisher.publish("test.warmup", Empty())
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        while let next = await stream.next() {
            if case .event(let event) = next, event.head.type == "test.warmup" { break }
        }
        warmer.cancel()
        _ = await warmer.result

        let user = try await client.call(PaymentAPI.createUser, CreateUser(name: "Han"))
        _ = try await client.call(PaymentAPI.charge, Charge(userId: user.id, amount: 8000, idempotencyKey: "k"))
        let receipt = try await client.call(PaymentAPI.debit, Debit(userId: user.id, reservationId: "res-1", amount: 8000))
        _ = try await client.call(PaymentAPI.debit, Debit(userId: user.id, reservationId: "res-1", amount: 8000))
        _ = try await client.call(PaymentAPI.refund, Refund(reservationId: "res-1"))
        _ = try await client.call(PaymentAPI.refund, Refund(reservationId: "res-1"))
        try publisher.publish("test.end", Empty())

        var seen: [(String, PaymentEvent)] = []
        while let next = await stream.next() {
            guard case .event(let event) = next else { continue }
            if event.head.type == "test.end" { break }
            if event.head.type.hasPrefix("payment.") { seen.append((event.head.type, try event.body(as: PaymentEvent.self))) }
        }
        let expected = PaymentEvent(paymentId: receipt.paymentId, userId: user.id, reservationId: "res-1", amount: 8000)
        #expect(seen.map(\.0) == [PaymentAPI.Event.completed, PaymentAPI.Event.refunded])
        #expect(seen.map(\.1) == [expected, expected])

        await client.close()
        await server.stop()
        await subscriber.stop()
        await publisher.stop()
        try pool.close()
    }
}
