import Configuration
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
import Prometheus
import ServiceKit
import Testing
import TestSupport
@testable import GatewayService

/// The gateway's HTTP rules, in process: its real router and middleware under HummingbirdTesting's
/// router mode (no HTTP socket), calling stub backends, which are real `RPCServer`s on private
/// `ipc://` endpoints whose handler tables answer only what these requests need. The same rules are
/// tested end to end on five processes (EndToEndTests.GatewayTests); these run in a fraction of a
/// second, so the fast suite catches a broken rule.
@Suite("The gateway's HTTP rules, in process against stub backends")
struct HTTPRulesTests {
    static let key = "ctk_in-process-test-key"
    static let auth: HTTPFields = [.authorization: "Bearer \(key)"]

    /// Stub payment: one API key, user 7 with 500 won. Stub queue, concert and reservation answer
    /// nothing at all (no handler: `unknown_method`), so a request that reached them would show.
    static func withGateway(adminToken: String? = nil, _ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var payment = RPCHandlers()
        payment.on(PaymentAPI.authenticate) { request in
            guard request.apiKey == key else { throw RemoteError("unauthorized", "unknown API key") }
            return AuthenticatedUser(userId: 7, name: "in-process")
        }
        payment.on(PaymentAPI.balance) { request in
            guard request.userId == 7 else { throw RemoteError("not_found", "no such user") }
            return Balance(balance: 500)
        }
        let stubs = try [
            (ServiceName.payment, ServedHandlers(service: "payment", handlers: payment)),
            (.queue, ServedHandlers(service: "queue", handlers: RPCHandlers())),
            (.concert, ServedHandlers(service: "concert", handlers: RPCHandlers())),
            (.reservation, ServedHandlers(service: "reservation", handlers: RPCHandlers())),
        ]
        let events = try TemporaryDirectory("gw-events")
        var environment: [String: String] = [:]
        for (service, stub) in stubs {
            environment["\(service.rawValue.uppercased())_RPC"] = stub.server.endpoint
            environment["\(service.rawValue.uppercased())_EVENTS"] = events.ipc(service.rawValue)
        }
        if let adminToken { environment["ADMIN_TOKEN"] = adminToken }
        let configuration = try StackConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)))
        let gateway = try buildApplication(configuration: configuration, logger: ServedHandlers.logger, telemetry: .standalone())
        let outcome: Result<Void, any Error>
        do { outcome = .success(try await Self.inRouterMode(gateway.application, test)) } catch { outcome = .failure(error) }
        // Stopped whatever the test did, then its failure (if any) passed on.
        await gateway.peers.close()
        for (_, stub) in stubs { await stub.stop() }
        events.remove()
        try outcome.get()
    }

    /// HummingbirdTesting's router mode on the application, opened from its existential.
    static func inRouterMode<App: ApplicationProtocol>(_ app: App, _ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await app.test(.router, test)
    }

    /// The API key and an `Idempotency-Key`.
    static func headers(idempotencyKey: String) -> HTTPFields {
        var headers = auth
        headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey
        return headers
    }

    /// A problem answer's status, `code` and Content-Type.
    static func problem(_ response: TestResponse) -> (status: Int, code: String?, contentType: String?) {
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any]
        return (response.status.code, body?["code"] as? String, response.headers[.contentType])
    }

    @Test("authentication comes first: no key or an unknown one is 401 whatever else is wrong")
    func authenticationFirst() async throws {
        try await Self.withGateway { client in
            let anonymous = Self.problem(try await client.execute(uri: "/api/v1/reservations", method: .post, body: ByteBuffer(string: "{not json")))
            #expect(anonymous.status == 401 && anonymous.code == "unauthorized" && anonymous.contentType == "application/problem+json")
            let unknown = try await client.execute(uri: "/api/v1/reservations/abc", method: .get, headers: [.authorization: "Bearer ctk_nobody"])
            #expect(Self.problem(unknown).status == 401 && Self.problem(unknown).code == "unauthorized")
            let known = try await client.execute(uri: "/api/v1/wallet", method: .get, headers: Self.auth)
            #expect(known.status == .ok && String(buffer: known.body).contains("500"), "\(String(buffer: known.body))")
        }
    }

    @Test("then the queue token on gated endpoints, before the body's form: 403 queue_token_required")
    func queueTokenBeforeForm() async throws {
        try await Self.withGateway { client in
            let tokenless = Self.problem(try await client.execute(uri: "/api/v1/reservations", method: .post, headers: Self.auth,
                                                                  body: ByteBuffer(string: "{not json")))
            #expect(tokenless.status == 403 && tokenless.code == "queue_token_required")
            let seats = Self.problem(try await client.execute(uri: "/api/v1/schedules/1/seats", method: .get, headers: Self.auth))
            #expect(seats.status == 403 && seats.code == "queue_token_required")
        }
    }

    @Test("ids are positive integers below 2^53, refused before any service is asked", arguments: [
        "abc", "0", "-1", "1.5", "9007199254740992", "99999999999999999999", "%20", "1e3",
    ])
    func ids(_ id: String) async throws {
        try await Self.withGateway { client in
            let answer = Self.problem(try await client.execute(uri: "/api/v1/reservations/\(id)", method: .get, headers: Self.auth))
            #expect(answer.status == 400 && answer.code == "invalid_request", "\(id): \(answer)")
        }
    }

    @Test("a body over 64 KiB is 413 payload_too_large, on public and authenticated endpoints alike")
    func tooLarge() async throws {
        try await Self.withGateway { client in
            let huge = ByteBuffer(string: #"{"name": "\#(String(repeating: "x", count: 70_000))"}"#)
            let signUp = Self.problem(try await client.execute(uri: "/api/v1/users", method: .post, body: huge))
            #expect(signUp.status == 413 && signUp.code == "payload_too_large")
            let charge = Self.problem(try await client.execute(uri: "/api/v1/wallet/charges", method: .post,
                                                               headers: Self.headers(idempotencyKey: "k"), body: huge))
            #expect(charge.status == 413 && charge.code == "payload_too_large")
        }
    }

    @Test("a known path with another method is 405 with Allow; an unknown path is 404; the admin API off is 404")
    func methodsAndPaths() async throws {
        try await Self.withGateway { client in
            let wallet = try await client.execute(uri: "/api/v1/wallet", method: .put, headers: Self.auth)
            #expect(Self.problem(wallet).status == 405 && Self.problem(wallet).code == "method_not_allowed")
            #expect(wallet.headers[.allow] == "GET")
            let reservation = try await client.execute(uri: "/api/v1/reservations/12", method: .patch, headers: Self.auth)
            #expect(reservation.status == .methodNotAllowed && reservation.headers[.allow] == "GET, DELETE")
            let nowhere = Self.problem(try await client.execute(uri: "/api/v1/nowhere", method: .get, headers: Self.auth))
            #expect(nowhere.status == 404 && nowhere.contentType == "application/problem+json")
            #expect(try await client.execute(uri: "/api/v1/admin/concerts", method: .get).status == .notFound)
        }
        try await Self.withGateway(adminToken: "in-process-admin") { client in
            let admin = try await client.execute(uri: "/api/v1/admin/concerts", method: .get)
            #expect(admin.status == .methodNotAllowed && admin.headers[.allow] == "POST", "the admin API on: its path is known")
        }
    }

    @Test("a charge needs an Idempotency-Key and a whole, positive amount, checked before payment is asked")
    func chargeRules() async throws {
        try await Self.withGateway { client in
            let refusals = [
                try await Self.charge(client, #"{"amount": 5}"#, key: nil),
                try await Self.charge(client, #"{"amount": 5}"#, key: ""),
                try await Self.charge(client, #"{"amount": 1.5}"#, key: "k"),
                try await Self.charge(client, #"{"amount": 0}"#, key: "k"),
                try await Self.charge(client, "[]", key: "k"),
            ]
            #expect(refusals == ["idempotency_key_required", "idempotency_key_required", "invalid_amount", "invalid_amount", "invalid_request"])
        }
    }

    /// The problem code a top-up is refused with, with `key` as its Idempotency-Key (none when nil).
    static func charge(_ client: any TestClientProtocol, _ body: String, key: String?) async throws -> String? {
        let headers = key.map { Self.headers(idempotencyKey: $0) } ?? Self.auth
        return Self.problem(try await client.execute(uri: "/api/v1/wallet/charges", method: .post, headers: headers,
                                                     body: ByteBuffer(string: body))).code
    }
}
