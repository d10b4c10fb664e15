import Contracts
import Foundation
import Messaging
import Testing
import TestSupport

/// A client of the HTTP API: one user's key and waiting-room token.
struct Fan {
    let stack: TestStack
    let id: Int
    let apiKey: String
    var token: String?
    /// The gateway this fan talks to: the stack's own unless set (`TestStack.startGateway`).
    var port: Int?
    /// A W3C trace context sent with every request, when set (ObservabilityTests).
    var traceparent: String?

    /// Signs up a new user.
    static func signUp(_ stack: TestStack, name: String = "fan") async throws -> Fan {
        let answer = try await stack.send("POST", "/api/v1/users", body: #"{"name": "\#(name)"}"#)
        try #require(answer.status == 201, "sign-up: \(answer.status) \(answer.body)")
        return Fan(stack: stack, id: try #require(answer["id"] as? Int), apiKey: try #require(answer["apiKey"] as? String))
    }

    var headers: [String: String] {
        var headers = ["Authorization": "Bearer \(apiKey)"]
        if let token { headers["X-Queue-Token"] = token }
        if let traceparent { headers["traceparent"] = traceparent }
        return headers
    }

    func send(_ method: String, _ path: String, body: String? = nil, key: String? = nil) async throws -> HTTPAnswer {
        var headers = self.headers
        if let key { headers["Idempotency-Key"] = key }
        return try await stack.send(method, path, headers: headers, body: body, port: port)
    }

    /// Takes a place in the waiting room and waits until it is let in.
    mutating func enter() async throws {
        let issued = try await send("POST", "/api/v1/queue/tokens")
        try #require([200, 201].contains(issued.status), "\(issued.body)")
        token = try #require(issued["token"] as? String)
        let fan = self
        let active = try await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
            try await fan.send("GET", "/api/v1/queue/tokens/current")["status"] as? String == "active"
        }
        try #require(active, "never admitted")
    }
}

@Suite("The HTTP API over the real stack", .serialized, .timeLimit(.minutes(3)))
struct GatewayTests {
    static let environment = ["QUEUE_ADMIT_PER_SECOND": "1000", "HOLD_SECONDS": "60"]

    @Test("a whole booking: sign up, wait, dates, seats, hold, top up, pay; the seat sold, the token expired, replays answered")
    func journey() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack, name: "  김민지  ")
            #expect(try await fan.send("GET", "/api/v1/users/me")["name"] as? String == "김민지")
            try await fan.enter()

            let concerts = try await stack.send("GET", "/api/v1/concerts")
            let concertId = try #require((concerts.json as? [[String: Any]])?.first?["id"] as? Int)
            let schedules = try await fan.send("GET", "/api/v1/concerts/\(concertId)/schedules")
            let scheduleId = try #require((schedules.json as? [[String: Any]])?.first?["id"] as? Int, "\(schedules.body)")
            let seats = try await fan.send("GET", "/api/v1/schedules/\(scheduleId)/seats")
            let etag = try #require(seats.headers["etag"])
            let seatList = try #require(seats["seats"] as? [[String: Any]])
            let free = seatList.filter { $0["status"] as? String == "available" }.compactMap { $0["id"] as? Int }
            try #require(free.count >= 2)
            var unchanged = fan.headers
            unchanged["If-None-Match"] = etag
            #expect(try await stack.send("GET", "/api/v1/schedules/\(scheduleId)/seats", headers: unchanged).status == 304)

            let first = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(free[0])}"#)
            #expect(first.status == 201 && first["status"] as? String == "reserving", "\(first.body)")
            let second = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(free[1])}"#)
            let (firstId, secondId) = (try #require(first["id"] as? Int), try #require(second["id"] as? Int))
            // The old ETag names a map that has changed since: the whole list, the holds in it, a new ETag.
            let changed = try await stack.send("GET", "/api/v1/schedules/\(scheduleId)/seats", headers: unchanged)
            #expect(changed.status == 200 && changed.headers["etag"] != etag, "\(changed.body)")
            #expect(Set((changed.json as? [String: Any])?.keys.map { $0 } ?? []) == ["scheduleId", "seats"])
            #expect(changed["scheduleId"] as? Int == scheduleId)
            let shown = try #require(changed["seats"] as? [[String: Any]])
            #expect(shown.count == seatList.count)
            #expect(Set(shown.filter { $0["status"] as? String == "reserving" }.compactMap { $0["id"] as? Int }).isSuperset(of: [free[0], free[1]]))
            var current = fan.headers
            current["If-None-Match"] = "\"other\", W/\(try #require(changed.headers["etag"]))"
            #expect(try await stack.send("GET", "/api/v1/schedules/\(scheduleId)/seats", headers: current).status == 304)
            let price = try #require(first["price"] as? Int)

            let charged = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": \#(price * 2)}"#, key: "top-up")
            #expect(charged.status == 200 && charged["balance"] as? Int == price * 2, "\(charged.body)")
            let paid = try await fan.send("POST", "/api/v1/reservations/\(firstId)/payment", key: "pay-first")
            #expect(paid.status == 201 && paid["reservationId"] as? Int == firstId && paid["balance"] as? Int == price, "\(paid.body)")
            #expect(try await fan.send("GET", "/api/v1/reservations/\(firstId)")["status"] as? String == "reserved")
            #expect(await eventually(timeout: .seconds(1)) {
                (try? await fan.send("GET", "/api/v1/queue/tokens/current"))?["status"] as? String == "expired"
            })
            // The seat map shows it sold (to someone with a live token).
            var viewer = try await Fan.signUp(stack, name: "viewer")
            try await viewer.enter()
            let after = try await viewer.send("GET", "/api/v1/schedules/\(scheduleId)/seats")
            #expect((after["seats"] as? [[String: Any]])?.first { $0["id"] as? Int == free[0] }?["status"] as? String == "sold")
            #expect(after.headers["etag"] != etag)

            // The second hold is paid without a token; a replay answers the same; a reused key is 422.
            fan.token = nil
            let paidSecond = try await fan.send("POST", "/api/v1/reservations/\(secondId)/payment", key: "pay-second")
            #expect(paidSecond.status == 201, "\(paidSecond.body)")
            let replay = try await fan.send("POST", "/api/v1/reservations/\(firstId)/payment", key: "pay-first")
            #expect(replay.status == 201 && replay.body == paid.body)
            #expect(try await fan.send("POST", "/api/v1/reservations/\(secondId)/payment", key: "pay-first").status == 422)
            let ledger = try await fan.send("GET", "/api/v1/wallet/transactions")
            #expect((ledger.json as? [[String: Any]])?.map { $0["kind"] as? String } == ["payment", "payment", "charge"])
            #expect((ledger.json as? [[String: Any]])?.compactMap { $0["reservationId"] as? Int } == [secondId, firstId])
            #expect(try await fan.send("GET", "/api/v1/wallet")["balance"] as? Int == 0)
            let mine = try await fan.send("GET", "/api/v1/reservations")
            #expect(Set((mine.json as? [[String: Any]])?.compactMap { $0["id"] as? Int } ?? []) == [firstId, secondId])

            await stack.stopAll()
            let violations = try StorageInvariants(dataDirectory: try #require(stack.environment["DATA_DIR"])).violations()
            #expect(violations.isEmpty, "\(violations)")
        }
    }

    @Test("bad requests get problem answers in the contract's order, and nobody reads another's reservation")
    func problems() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var alice = try await Fan.signUp(stack, name: "alice")
            var bob = try await Fan.signUp(stack, name: "bob")

            let anonymous = try await stack.send("GET", "/api/v1/wallet")
            #expect(anonymous.status == 401 && anonymous.code == "unauthorized")
            #expect(anonymous.headers["content-type"] == "application/problem+json")
            #expect(try await stack.send("GET", "/api/v1/wallet", headers: ["Authorization": "Bearer nope"]).code == "unauthorized")
            // The queue token is checked before the body: a bad body without a token is 403.
            let tokenless = try await alice.send("POST", "/api/v1/reservations", body: "{not json")
            #expect(tokenless.status == 403 && tokenless.code == "queue_token_required")
            alice.token = "q1.forged"
            #expect(try await alice.send("GET", "/api/v1/concerts/1/schedules").code == "queue_token_inactive")
            try await alice.enter()
            try await bob.enter()
            var stolen = bob
            stolen.token = alice.token
            #expect(try await stolen.send("GET", "/api/v1/schedules/1/seats").code == "queue_token_inactive")

            #expect(try await alice.send("POST", "/api/v1/reservations", body: "{not json").code == "invalid_request")
            #expect(try await alice.send("POST", "/api/v1/reservations", body: #"{"seatId": "seven"}"#).code == "invalid_request")
            #expect(try await alice.send("POST", "/api/v1/reservations", body: #"{"seatId": -3}"#).code == "invalid_request")
            #expect(try await alice.send("POST", "/api/v1/reservations", body: #"{"seatId": 99999999}"#).code == "not_found")
            let huge = try await alice.send("POST", "/api/v1/reservations", body: #"{"seatId": 1, "pad": "\#(String(repeating: "x", count: 70_000))"}"#)
            #expect(huge.status == 413 && huge.code == "payload_too_large")
            #expect(try await alice.send("GET", "/api/v1/reservations/abc").code == "invalid_request")
            #expect(try await alice.send("GET", "/api/v1/nowhere").status == 404)
            let wrongMethod = try await alice.send("PUT", "/api/v1/wallet")
            #expect(wrongMethod.status == 405 && wrongMethod.code == "method_not_allowed" && wrongMethod.headers["allow"] == "GET")
            #expect(try await alice.send("PATCH", "/api/v1/reservations/12").headers["allow"] == "GET, DELETE")
            #expect(try await alice.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 5}"#).code == "idempotency_key_required")
            #expect(try await alice.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1.5}"#, key: "k").code == "invalid_amount")
            #expect(try await alice.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 0}"#, key: "k").code == "invalid_amount")
            #expect(try await alice.send("POST", "/api/v1/users", body: #"{"name": "   "}"#).code == "invalid_request")
            #expect(try await stack.send("POST", "/api/v1/admin/concerts", body: "{}").status == 404)
            #expect(try await stack.send("GET", "/api/v1/admin/concerts").status == 404, "the admin API is off: not even 405")
            #expect(try await stack.send("GET", "/api/v1/wallet", headers: ["Authorization": "bearer \(alice.apiKey)"]).status == 200)
            #expect(try await stack.send("POST", "/api/v1/wallet/charges", headers: alice.headers.merging(["Idempotency-Key": ""]) { $1 },
                                          body: #"{"amount": 5}"#).code == "idempotency_key_required")
            #expect(try await alice.send("POST", "/api/v1/queue/tokens", body: String(repeating: " ", count: 70_000)).code == "payload_too_large")

            let held = try await alice.send("POST", "/api/v1/reservations", body: #"{"seatId": 1}"#)
            let heldId = try #require(held["id"] as? Int, "\(held.body)")
            #expect(try await bob.send("GET", "/api/v1/reservations/\(heldId)").status == 404)
            #expect(try await bob.send("DELETE", "/api/v1/reservations/\(heldId)").status == 404)
            #expect(try await bob.send("POST", "/api/v1/reservations/\(heldId)/payment", key: "k").status == 404)
            #expect(try await bob.send("POST", "/api/v1/reservations", body: #"{"seatId": 1}"#).code == "seat_unavailable")
            #expect(try await alice.send("POST", "/api/v1/reservations/\(heldId)/payment", key: "k").status == 402)
            let canceled = try await alice.send("DELETE", "/api/v1/reservations/\(heldId)")
            #expect(canceled.status == 200 && canceled["status"] as? String == "canceled")
            #expect(try await alice.send("POST", "/api/v1/reservations/\(heldId)/payment", key: "k").code == "reservation_not_payable")

            // The served document lists operations the server really has (the reverse is a unit test).
            let document = try await stack.get("/openapi.json")
            let paths = try #require((try JSONSerialization.jsonObject(with: Data(document.body.utf8)) as? [String: Any])?["paths"] as? [String: [String: Any]])
            #expect(paths.count >= 18)
            let yaml = try await stack.get("/openapi.yaml")
            #expect(yaml.status == 200 && yaml.body.contains("\nopenapi: 3.1.0\n"), "\(yaml.body.prefix(200))")
            for (path, operations) in paths where !path.contains("admin") {
                let concrete = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "1", options: .regularExpression)
                for method in operations.keys {
                    let answer = try await stack.send(method.uppercased(), concrete)
                    #expect(answer.status != 405 && !(answer.status == 404 && answer.body.contains("no such path")), "\(method) \(path): \(answer.status)")
                }
            }

            // What all that looked like to an operator.
            let metrics = try await stack.get("/metrics").body
            #expect(metrics.contains(#"hb_requests{service="gateway",http_route="/api/v1/reservations",http_request_method="POST",http_response_status_code="403"}"#), "\(metrics.prefix(2000))")
            #expect(metrics.contains(#"http_server_request_duration_bucket{service="gateway",http_route="/api/v1/reservations/{reservationId}/payment""#)
                || metrics.contains(#"http_route="/api/v1/reservations/:reservationId/payment""#), "\(metrics.prefix(2000))")
            #expect(metrics.contains(#"gateway_rpc_calls{service="gateway",route="POST /api/v1/reservations",rpc_method="reservation.reserve",outcome="seat_unavailable"}"#))
        }
    }

    @Test("the waiting room gates every gated endpoint: no token, a waiting token, someone else's, a forged one")
    func waitingRoomGates() async throws {
        try await withStack(extra: ["QUEUE_MAX_ACTIVE": "1", "QUEUE_ADMIT_PER_SECOND": "1000"]) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var first = try await Fan.signUp(stack, name: "first")
            try await first.enter()
            var waiting = try await Fan.signUp(stack, name: "second")
            let issued = try await waiting.send("POST", "/api/v1/queue/tokens")
            #expect(issued.status == 201 && issued["status"] as? String == "waiting" && issued["position"] as? Int == 1, "\(issued.body)")
            waiting.token = issued["token"] as? String
            let gated = [("GET", "/api/v1/concerts/1/schedules", nil), ("GET", "/api/v1/schedules/1/seats", nil),
                         ("POST", "/api/v1/reservations", #"{"seatId": 1}"#)] as [(String, String, String?)]
            let tokenOfFirst = first.token
            for (method, path, body) in gated {
                #expect(try await waiting.send(method, path, body: body).code == "queue_token_inactive", "\(method) \(path) while waiting")
                var none = waiting
                none.token = nil
                #expect(try await none.send(method, path, body: body).code == "queue_token_required", "\(method) \(path) without a token")
                var borrowed = waiting
                borrowed.token = tokenOfFirst
                #expect(try await borrowed.send(method, path, body: body).code == "queue_token_inactive", "\(method) \(path) with another's token")
                var forged = first
                forged.token = (tokenOfFirst ?? "").dropLast(3) + "AAA"
                #expect(try await forged.send(method, path, body: body).code == "queue_token_inactive", "\(method) \(path) forged")
                #expect(try await first.send(method, path, body: body).status < 300, "\(method) \(path) with the active token")
            }
            // The first leaves the line; its slot goes to the second, and its token stops working at once.
            #expect(try await first.send("DELETE", "/api/v1/queue/tokens/current").status == 204)
            #expect(try await first.send("GET", "/api/v1/concerts/1/schedules").code == "queue_token_inactive")
            #expect(await eventually(timeout: .seconds(5), interval: .milliseconds(100)) {
                (try? await waiting.send("GET", "/api/v1/queue/tokens/current"))?["status"] as? String == "active"
            })
            #expect(try await waiting.send("GET", "/api/v1/concerts/1/schedules").status == 200)
        }
    }

    @Test("50 users race for one seat: one 201, forty-nine 409 seat_unavailable")
    func fiftyRaceForOneSeat() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fans: [Fan] = []
            for index in 0..<50 {
                var fan = try await Fan.signUp(stack, name: "fan \(index)")
                try await fan.enter()
                fans.append(fan)
            }
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for fan in fans {
                    group.addTask {
                        let answer = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 3}"#)
                        return (answer.status, answer.code)
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == 201 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0.0 == 409 && $0.1 == "seat_unavailable" }.count == 49, "\(statuses)")
        }
    }

    @Test("a hold lapses: the seat reads available at once, paying is 409 reservation_expired, nothing charged")
    func holdLapses() async throws {
        try await withStack(extra: ["QUEUE_ADMIT_PER_SECOND": "1000", "HOLD_SECONDS": "1"]) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack)
            try await fan.enter()
            let held = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 5}"#)
            let id = try #require(held["id"] as? Int, "\(held.body)")
            _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "k")
            try await Task.sleep(for: .milliseconds(1100))
            let seats = try await fan.send("GET", "/api/v1/schedules/1/seats")
            #expect((seats["seats"] as? [[String: Any]])?.first { $0["id"] as? Int == 5 }?["status"] as? String == "available")
            let paid = try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: "late")
            #expect(paid.status == 409 && paid.code == "reservation_expired", "\(paid.body)")
            #expect(try await fan.send("GET", "/api/v1/wallet")["balance"] as? Int == 1_000_000)
            #expect(try await fan.send("GET", "/api/v1/reservations/\(id)")["status"] as? String == "canceled")
        }
    }

    @Test("a backend killed: its endpoints answer 503 within 3 seconds, and serve again once it is back")
    func backendDown() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack)
            try await fan.enter()
            try #require(stack.process("reservation")).kill()
            let start = ContinuousClock.now
            let down = try await fan.send("GET", "/api/v1/reservations")
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(down.status == 503 && down.code == "service_unavailable", "\(down.body)")
            // Endpoints that do not need it still work.
            #expect(try await fan.send("GET", "/api/v1/wallet").status == 200)
            try stack.start(["reservation"])
            #expect(await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
                (try? await fan.send("GET", "/api/v1/reservations"))?.status == 200
            })
        }
    }

    @Test("a known API key is remembered for its life: with payment frozen its owner is still answered, one signed up here too; an unknown key gets 503 within 3 s")
    func apiKeyRemembered() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            let fan = try await Fan.signUp(stack)
            #expect(try await fan.send("GET", "/api/v1/users/me").status == 200)
            // Signed up through this gateway, its key never used yet.
            let newcomer = try await Fan.signUp(stack, name: "newcomer")
            // Signed up through another gateway: made by payment directly.
            let payments = try RPCClient(endpoint: try #require(stack.environment["PAYMENT_RPC"]), logger: ServedHandlers.logger)
            let created = try await payments.call(PaymentAPI.createUser, CreateUser(name: "stranger"))
            await payments.close()
            let stranger = Fan(stack: stack, id: Int(created.id), apiKey: created.apiKey)
            // Longer than any short-lived memory would last.
            try await Task.sleep(for: .seconds(3))
            let payment = try #require(stack.process("payment"))
            payment.signal(SIGSTOP)
            defer { payment.signal(SIGCONT) }
            let me = try await fan.send("GET", "/api/v1/users/me")
            #expect(me.status == 200 && me["id"] as? Int == fan.id, "\(me.body)")
            let new = try await newcomer.send("GET", "/api/v1/users/me")
            #expect(new.status == 200 && new["id"] as? Int == newcomer.id && new["name"] as? String == "newcomer", "\(new.body)")
            // Never seen by this gateway: asked of payment, which does not answer.
            let start = ContinuousClock.now
            let unknown = try await stranger.send("GET", "/api/v1/users/me")
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(unknown.status == 503 && unknown.code == "service_unavailable", "\(unknown.body)")
            let forged = Fan(stack: stack, id: fan.id, apiKey: "not-a-key-anyone-was-given")
            #expect(try await forged.send("GET", "/api/v1/users/me").status == 503)
            payment.signal(SIGCONT)
            #expect(try await forged.send("GET", "/api/v1/users/me").status == 401)
        }
    }

    @Test("insufficient balance: 402 with nothing charged and the hold kept; after a top-up the same key pays")
    func insufficientThenTopUp() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack)
            try await fan.enter()
            let held = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 9}"#)
            let (id, price) = (try #require(held["id"] as? Int), try #require(held["price"] as? Int))
            _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": \#(price - 1)}"#, key: "top-up-1")
            let short = try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: "pay")
            #expect(short.status == 402 && short.code == "insufficient_balance" && short.headers["content-type"] == "application/problem+json")
            #expect(try await fan.send("GET", "/api/v1/reservations/\(id)")["status"] as? String == "reserving")
            #expect(try await fan.send("GET", "/api/v1/wallet")["balance"] as? Int == price - 1)
            // A charge replayed with its key changes nothing; the same key with another amount is 422.
            #expect(try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": \#(price - 1)}"#, key: "top-up-1")["balance"] as? Int == price - 1)
            #expect(try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 5}"#, key: "top-up-1").status == 422)
            _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1}"#, key: "top-up-2")
            let paid = try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: "pay")
            #expect(paid.status == 201 && paid["balance"] as? Int == 0, "\(paid.body)")
        }
    }

    @Test("the admin API, with ADMIN_TOKEN set: any other credential is 401; the right one creates a concert with numbered seats")
    func adminCreatesConcerts() async throws {
        try await withStack(extra: Self.environment.merging(["ADMIN_TOKEN": "s3cret", "SEED_DEMO": "0"]) { $1 }) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            let body = #"""
                {"title": "봄 콘서트", "description": "spring", "schedules": [{"startsAt": "2030-04-01T19:00:00Z",
                 "reservationStartAt": "2026-01-01T00:00:00Z", "reservationEndAt": "2030-03-31T00:00:00Z", "seatCount": 3, "price": 77000}]}
                """#
            #expect(try await stack.send("POST", "/api/v1/admin/concerts", body: body).status == 401)
            #expect(try await stack.send("POST", "/api/v1/admin/concerts", headers: ["Authorization": "Bearer wrong"], body: body).code == "unauthorized")
            var fan = try await Fan.signUp(stack)
            #expect(try await stack.send("POST", "/api/v1/admin/concerts", headers: fan.headers, body: body).status == 401, "a user's key is not the admin's")
            let created = try await stack.send("POST", "/api/v1/admin/concerts", headers: ["Authorization": "Bearer s3cret"], body: body)
            #expect(created.status == 201, "\(created.body)")
            let scheduleId = try #require((created["schedules"] as? [[String: Any]])?.first?["id"] as? Int)
            #expect(try await stack.send("POST", "/api/v1/admin/concerts", headers: ["Authorization": "Bearer s3cret"], body: "{}").code == "invalid_request")
            try await fan.enter()
            let seats = try await fan.send("GET", "/api/v1/schedules/\(scheduleId)/seats")
            #expect((seats["seats"] as? [[String: Any]])?.map { $0["number"] as? Int } == [1, 2, 3])
            #expect((seats["seats"] as? [[String: Any]])?.allSatisfy { $0["price"] as? Int == 77000 } == true)
        }
    }
}
