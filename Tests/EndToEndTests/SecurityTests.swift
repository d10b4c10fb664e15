import Contracts
import Foundation
import GRDB
import Testing
import TestSupport

/// Issue 6: what one user, or someone without the right credential, must not be able to do, tried
/// against the real stack. Every test ends with CONTRACT §4 checked on the files at rest.
@Suite("Security over the real stack", .serialized, .timeLimit(.minutes(3)))
struct SecurityTests {
    static let fast = ["QUEUE_ADMIT_PER_SECOND": "1000", "HOLD_SECONDS": "60"]

    /// The endpoints marked gated in CONTRACT §3, with a body that would succeed for an admitted user.
    static let gated: [(method: String, path: String, body: String?)] = [
        ("GET", "/api/v1/concerts/1/schedules", nil),
        ("GET", "/api/v1/schedules/1/seats", nil),
        ("POST", "/api/v1/reservations", #"{"seatId": 5}"#),
    ]

    // MARK: 1. Another user's reservations

    @Test("another user can neither read, cancel nor pay a held or a paid reservation, not even with its owner's idempotency key: 404, and nothing of either changes")
    func reservationsAreTheirOwnersAlone() async throws {
        try await withStack(extra: Self.fast) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var victim = try await Fan.signUp(stack, name: "victim")
            var attacker = try await Fan.signUp(stack, name: "attacker")
            try await victim.enter()
            try await attacker.enter()

            // The victim holds seat 1 and pays for seat 2 (schedule 1 of the demo catalog).
            let held = try await victim.send("POST", "/api/v1/reservations", body: #"{"seatId": 1}"#)
            let toPay = try await victim.send("POST", "/api/v1/reservations", body: #"{"seatId": 2}"#)
            let heldId = try #require(held["id"] as? Int, "\(held.body)")
            let paidId = try #require(toPay["id"] as? Int, "\(toPay.body)")
            let prices = (try #require(held["price"] as? Int), try #require(toPay["price"] as? Int))
            let spare = 1000
            let topUp = #"{"amount": \#(prices.0 + prices.1 + spare)}"#
            #expect(try await victim.send("POST", "/api/v1/wallet/charges", body: topUp, key: "victim-top-up").status == 200)
            let paid = try await victim.send("POST", "/api/v1/reservations/\(paidId)/payment", key: "victim-pay")
            try #require(paid.status == 201, "\(paid.body)")
            // The attacker has money and a hold of their own: a mix-up would show as a payment or a foreign row.
            #expect(try await attacker.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "attacker-top-up").status == 200)
            // The victim's top-up key and body, replayed by the attacker: a charge of the attacker's own,
            // never the victim's stored answer (their balance).
            let sameKey = try await attacker.send("POST", "/api/v1/wallet/charges", body: topUp, key: "victim-top-up")
            #expect(sameKey.status == 200 && sameKey["balance"] as? Int == 1_000_000 + prices.0 + prices.1 + spare, "\(sameKey.body)")
            let own = try await attacker.send("POST", "/api/v1/reservations", body: #"{"seatId": 3}"#)
            let ownId = try #require(own["id"] as? Int, "\(own.body)")

            let victimBefore = try await Self.everything(of: victim, reservations: [heldId, paidId])
            let attackerBefore = try await Self.everything(of: attacker, reservations: [ownId])
            let seatsBefore = try await Self.seatStatuses(attacker, schedule: 1)
            #expect(seatsBefore[1] == "reserving" && seatsBefore[2] == "sold" && seatsBefore[3] == "reserving", "\(seatsBefore)")

            // Each list shows its owner's rows only.
            let victimList = try #require(try await victim.send("GET", "/api/v1/reservations").json as? [[String: Any]])
            #expect(Set(victimList.compactMap { $0["id"] as? Int }) == [heldId, paidId])
            let attackerList = try #require(try await attacker.send("GET", "/api/v1/reservations").json as? [[String: Any]])
            #expect(attackerList.compactMap { $0["id"] as? Int } == [ownId])
            #expect(attackerList.allSatisfy { $0["userId"] as? Int == attacker.id })
            let attackerLedger = try #require(try await attacker.send("GET", "/api/v1/wallet/transactions").json as? [[String: Any]])
            #expect(attackerLedger.map { $0["kind"] as? String } == ["charge", "charge"], "the victim's payment is not in the attacker's ledger")
            let victimLedger = try #require(try await victim.send("GET", "/api/v1/wallet/transactions").json as? [[String: Any]])
            #expect(victimLedger.compactMap { $0["reservationId"] as? Int } == [paidId])

            // An id nobody has: what another user's id must look like, so nothing tells the two apart.
            let nobodys = 4_503_599_627_370_493
            for id in [heldId, paidId] {
                let attempts: [(method: String, path: String, key: String?)] = [
                    ("GET", "/api/v1/reservations/\(id)", nil),
                    ("DELETE", "/api/v1/reservations/\(id)", nil),
                    ("POST", "/api/v1/reservations/\(id)/payment", "attacker-pay"),
                    // The owner's key, already answered for the owner: keys are scoped to the caller.
                    ("POST", "/api/v1/reservations/\(id)/payment", "victim-pay"),
                ]
                for attempt in attempts {
                    let answer = try await attacker.send(attempt.method, attempt.path, key: attempt.key)
                    let label = "\(attempt.method) \(attempt.path) key \(attempt.key ?? "-")"
                    #expect(answer.status == 404 && answer.code == "not_found", "\(label): \(answer.status) \(answer.body)")
                    let unknown = try await attacker.send(attempt.method, attempt.path.replacingOccurrences(of: "\(id)", with: "\(nobodys)"), key: attempt.key)
                    #expect(answer.body.replacingOccurrences(of: "\(id)", with: "\(nobodys)") == unknown.body,
                            "\(label): another's reservation must read as one that does not exist")

                    #expect(try await Self.everything(of: victim, reservations: [heldId, paidId]) == victimBefore, "\(label) changed the victim's data")
                    #expect(try await Self.everything(of: attacker, reservations: [ownId]) == attackerBefore, "\(label) changed the attacker's data")
                    #expect(try await Self.seatStatuses(attacker, schedule: 1) == seatsBefore, "\(label) changed a seat")
                }
            }

            // The victim's own key still replays their answer, and the untouched hold still pays.
            let replay = try await victim.send("POST", "/api/v1/reservations/\(paidId)/payment", key: "victim-pay")
            #expect(replay.status == 201 && replay.body == paid.body, "\(replay.body)")
            let payHeld = try await victim.send("POST", "/api/v1/reservations/\(heldId)/payment", key: "victim-pay-2")
            #expect(payHeld.status == 201, "\(payHeld.body)")
            #expect(try await victim.send("GET", "/api/v1/wallet")["balance"] as? Int == spare)

            try await Self.expectAtRestConsistent(stack)
        }
    }

    // MARK: 2. Queue tokens

    @Test("a forged, tampered or stolen queue token opens no gated endpoint, reads no status and ends no place in line: 403 queue_token_inactive; none at all is 403 queue_token_required",
          arguments: TokenForgery.allCases)
    func forgedTokensAreRefused(_ forgery: TokenForgery) async throws {
        try await withStack(extra: Self.fast) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var owner = try await Fan.signUp(stack, name: "owner")
            var other = try await Fan.signUp(stack, name: "other")
            try await owner.enter()
            try await other.enter()
            let real = try #require(owner.token)
            // Used first, so the gateway remembers it as the owner's active token: that memory must not
            // let another user, or an altered copy, through.
            try await Self.expectGatedOpen(owner)

            let forged = forgery.make(from: real, otherUser: other.id)
            #expect(forged != real || forgery == .stolen)
            if forgery.isWellFormed {
                // Well-formed, so what refuses it is the MAC or the owner check, not the parser.
                #expect(QueueToken(parsing: forged) != nil, "\(forged)")
            }
            var presenter = forgery.presentedByOther ? other : owner
            presenter.token = forged
            try await Self.expectGatedRefused(presenter, code: "queue_token_inactive", "\(forgery)")
            let status = try await presenter.send("GET", "/api/v1/queue/tokens/current")
            #expect(status.status == 403 && status.code == "queue_token_inactive", "status: \(status.body)")
            let leave = try await presenter.send("DELETE", "/api/v1/queue/tokens/current")
            #expect(leave.status == 403 && leave.code == "queue_token_inactive", "leave: \(leave.body)")

            var tokenless = presenter
            tokenless.token = nil
            try await Self.expectGatedRefused(tokenless, code: "queue_token_required", "no token")
            for method in ["GET", "DELETE"] {
                let answer = try await tokenless.send(method, "/api/v1/queue/tokens/current")
                #expect(answer.status == 403 && answer.code == "queue_token_required", "\(method) without a token: \(answer.body)")
            }

            // Nothing was held with it, and the real token is untouched and still opens every gated endpoint.
            #expect(try #require(try await presenter.send("GET", "/api/v1/reservations").json as? [Any]).isEmpty)
            #expect(try await owner.send("GET", "/api/v1/queue/tokens/current")["status"] as? String == "active")
            for (method, path, body) in Self.gated {
                let answer = try await owner.send(method, path, body: body)
                #expect((200..<300).contains(answer.status), "\(method) \(path) with the real token: \(answer.body)")
            }

            try await Self.expectAtRestConsistent(stack)
        }
    }

    @Test("a token that is not active (still waiting, left the line, spent on a payment, past QUEUE_ACTIVE_SECONDS) opens no gated endpoint; its owner still reads its status",
          arguments: InactiveToken.allCases)
    func inactiveTokensAreRefused(_ state: InactiveToken) async throws {
        try await withStack(extra: Self.fast.merging(state.environment) { $1 }) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var owner = try await Fan.signUp(stack, name: "owner")
            switch state {
            case .waiting:
                // The only slot is taken, so the owner's token waits.
                var first = try await Fan.signUp(stack, name: "first")
                try await first.enter()
                let issued = try await owner.send("POST", "/api/v1/queue/tokens")
                #expect(issued.status == 201 && issued["status"] as? String == "waiting", "\(issued.body)")
                owner.token = try #require(issued["token"] as? String)
            case .leftTheLine:
                try await owner.enter()
                try await Self.expectGatedOpen(owner)
                #expect(try await owner.send("DELETE", "/api/v1/queue/tokens/current").status == 204)
            case .ownerPaid:
                try await owner.enter()
                let held = try await owner.send("POST", "/api/v1/reservations", body: #"{"seatId": 1}"#)
                let id = try #require(held["id"] as? Int, "\(held.body)")
                _ = try await owner.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "top-up")
                #expect(try await owner.send("POST", "/api/v1/reservations/\(id)/payment", key: "pay").status == 201)
                let fan = owner
                #expect(await eventually(timeout: .seconds(2)) {
                    (try? await fan.send("GET", "/api/v1/queue/tokens/current"))?["status"] as? String == "expired"
                })
                // The gateway hears of the expiry from the queue's event, at once; allow for a busy machine.
                #expect(await eventually(timeout: .seconds(1)) {
                    (try? await fan.send("GET", "/api/v1/schedules/1/seats"))?.code == "queue_token_inactive"
                })
            case .timedOut:
                try await owner.enter()
                try await Self.expectGatedOpen(owner)
                let current = try await owner.send("GET", "/api/v1/queue/tokens/current")
                let end = try #require(Self.date(current["expiresAt"]), "\(current.body)")
                // Used again just before its end, so the gateway remembers it as active: that memory
                // must stop at the token's end, not a second later.
                try await Task.sleep(for: .milliseconds(max(0, Int(end.timeIntervalSinceNow * 1000) - 300)))
                _ = try await owner.send("GET", "/api/v1/schedules/1/seats")
                try await Task.sleep(for: .milliseconds(max(0, Int(end.timeIntervalSinceNow * 1000) + 100)))
            }

            try await Self.expectGatedRefused(owner, code: "queue_token_inactive", "\(state)")
            let status = try await owner.send("GET", "/api/v1/queue/tokens/current")
            #expect(status.status == 200 && status["status"] as? String == state.status, "\(status.body)")

            try await Self.expectAtRestConsistent(stack)
        }
    }

    // MARK: 3. The admin API

    static let concertBody = #"""
        {"title": "관리자 공연", "description": "admin", "schedules": [{"startsAt": "2030-04-01T19:00:00Z",
         "reservationStartAt": "2026-01-01T00:00:00Z", "reservationEndAt": "2030-03-31T00:00:00Z", "seatCount": 2, "price": 1000}]}
        """#

    @Test("the admin API answers 401 unauthorized to any credential but Bearer ADMIN_TOKEN, and creates nothing")
    func adminRefusesEveryOtherCredential() async throws {
        let secret = "s3cret-admin"
        try await withStack(extra: Self.fast.merging(["ADMIN_TOKEN": secret]) { $1 }) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            let fan = try await Fan.signUp(stack)
            let before = try await Self.concertCount(stack)
            let refused: [(String, String?)] = [
                ("no Authorization", nil),
                ("a wrong bearer", "Bearer wrong"),
                ("the token's prefix", "Bearer \(secret.dropLast())"),
                ("the token and more", "Bearer \(secret)x"),
                ("a user's own API key", "Bearer \(fan.apiKey)"),
                ("Basic with the token as password", "Basic \(Data("admin:\(secret)".utf8).base64EncodedString())"),
                ("Basic with the token", "Basic \(secret)"),
                ("the token without a scheme", secret),
                ("an empty bearer", "Bearer "),
                ("the scheme alone", "Bearer"),
            ]
            for (label, authorization) in refused {
                let headers = authorization.map { ["Authorization": $0] } ?? [:]
                let answer = try await stack.send("POST", "/api/v1/admin/concerts", headers: headers, body: Self.concertBody)
                #expect(answer.status == 401 && answer.code == "unauthorized", "\(label): \(answer.status) \(answer.body)")
                #expect(answer.headers["content-type"] == "application/problem+json", "\(label)")
            }
            #expect(try await Self.concertCount(stack) == before, "a refused request created a concert")
            // The right token does create one, so the count above could have moved.
            let created = try await stack.send("POST", "/api/v1/admin/concerts", headers: ["Authorization": "Bearer \(secret)"], body: Self.concertBody)
            #expect(created.status == 201, "\(created.body)")
            #expect(try await Self.concertCount(stack) == before + 1)

            try await Self.expectAtRestConsistent(stack)
        }
    }

    @Test("with ADMIN_TOKEN unset or empty the admin API is not there: 404 whatever the credential, and nothing created",
          arguments: [nil, ""] as [String?])
    func adminAPIIsOffWithoutItsToken(_ token: String?) async throws {
        try await withStack(extra: Self.fast.merging(token.map { ["ADMIN_TOKEN": $0] } ?? [:]) { $1 }) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            let before = try await Self.concertCount(stack)
            for authorization in [nil, "Bearer ", "Bearer", "Bearer anything"] as [String?] {
                let headers = authorization.map { ["Authorization": $0] } ?? [:]
                let answer = try await stack.send("POST", "/api/v1/admin/concerts", headers: headers, body: Self.concertBody)
                #expect(answer.status == 404 && answer.code == "not_found", "\(authorization ?? "none"): \(answer.status) \(answer.body)")
            }
            #expect(try await Self.concertCount(stack) == before)

            try await Self.expectAtRestConsistent(stack)
        }
    }

    // MARK: 4. API keys at rest

    @Test("API keys are kept only as the SHA-256 of their UTF-8 bytes: no column of any table, no file and no log (at trace level) holds one")
    func apiKeysAreStoredOnlyAsHashes() async throws {
        try await withStack(extra: Self.fast.merging(["LOG_LEVEL": "trace"]) { $1 }) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fans: [Fan] = []
            for index in 0..<5 {
                let fan = try await Fan.signUp(stack, name: "key \(index)")
                // Each key is used too, so the authentication paths have run (and logged) with it.
                #expect(try await fan.send("GET", "/api/v1/users/me").status == 200)
                #expect(try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000}"#, key: "k").status == 200)
                fans.append(fan)
            }
            #expect(Set(fans.map(\.apiKey)).count == fans.count)
            await stack.stopAll()
            let data = try #require(stack.environment["DATA_DIR"])

            // Every text and blob value of every table and column of every service's file, found generically.
            var leaks: [String] = []
            var scanned: Set<String> = []
            for service in ["payment", "queue", "concert", "reservation"] {
                var configuration = Configuration()
                configuration.readonly = true
                let database = try DatabaseQueue(path: "\(data)/\(service).sqlite", configuration: configuration)
                let cells = try await database.read { db in
                    var cells: [(column: String, bytes: Data?)] = []
                    for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") {
                        for column in try Row.fetchAll(db, sql: "PRAGMA table_info(\(table.quotedDatabaseIdentifier))").map({ $0["name"] as String }) {
                            cells.append(("\(service).\(table).\(column)", nil))
                            let values = try DatabaseValue.fetchAll(
                                db, sql: "SELECT \(column.quotedDatabaseIdentifier) FROM \(table.quotedDatabaseIdentifier)")
                            for value in values {
                                switch value.storage {
                                case .string(let text): cells.append(("\(service).\(table).\(column)", Data(text.utf8)))
                                case .blob(let blob): cells.append(("\(service).\(table).\(column)", blob))
                                default: continue
                                }
                            }
                        }
                    }
                    return cells
                }
                try database.close()
                for (column, bytes) in cells {
                    scanned.insert(column)
                    guard let bytes else { continue }
                    for fan in fans where Self.holdsKey(fan.apiKey, bytes) {
                        leaks.append("\(column) holds the key of user \(fan.id)")
                    }
                }
            }
            #expect(leaks.isEmpty, "\(leaks)")
            #expect(scanned.isSuperset(of: ["payment.user.name", "payment.user.api_key_hash", "payment.wallet_transaction.idempotency_key"]),
                    "the scan must have seen the user table: \(scanned.sorted())")

            // The whole of every file, WAL and free pages included.
            for file in try FileManager.default.contentsOfDirectory(atPath: data) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(data)/\(file)"))
                for fan in fans {
                    #expect(!Self.holdsKey(fan.apiKey, bytes), "\(file) holds the key of user \(fan.id)")
                }
            }

            // The key column holds exactly SHA-256(UTF-8 of the key) as 32 raw bytes (Services/Payment/APIKey.swift),
            // checked against coreutils' sha256sum rather than the service's own code.
            var configuration = Configuration()
            configuration.readonly = true
            let payment = try DatabaseQueue(path: "\(data)/payment.sqlite", configuration: configuration)
            let stored = try await payment.read { db in
                try Row.fetchAll(db, sql: #"SELECT id, typeof(api_key_hash) AS type, api_key_hash FROM "user""#).map { row in
                    (id: row["id"] as Int, type: row["type"] as String, hash: row["api_key_hash"] as Data?)
                }
            }
            try payment.close()
            #expect(stored.count == fans.count)
            for fan in fans {
                let row = try #require(stored.first { $0.id == fan.id })
                #expect(row.type == "blob")
                let expected = try await Self.sha256(fan.apiKey)
                #expect(expected.count == 32 && row.hash == expected, "user \(fan.id): \(row.hash?.map { String(format: "%02x", $0) }.joined() ?? "null")")
            }

            // No process logs a key, even at trace level.
            let logs = stack.logs
            for name in TestStack.all { #expect(logs.contains("--- \(name)"), "no log of \(name)") }
            for fan in fans {
                #expect(!Self.holdsKey(fan.apiKey, Data(logs.utf8)), "a log holds the key of user \(fan.id)")
            }

            let violations = try StorageInvariants(dataDirectory: data).violations()
            #expect(violations.isEmpty, "\(violations)")
        }
    }

    // MARK: 5. The per-user hold cap

    @Test("MAX_HOLDS_PER_USER=2: a third hold is 409 hold_limit and leaves nothing; 10 at once, exactly 2 succeed; a cancel frees a place; a paid reservation is no live hold")
    func holdCapHolds() async throws {
        try await withStack(extra: Self.fast.merging(["MAX_HOLDS_PER_USER": "2"]) { $1 }) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack, name: "greedy")
            try await fan.enter()
            _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "top-up")

            // Ten holds at once on ten free seats: the count and the insert are one transaction, so exactly two.
            let racer = fan
            let answers = try await withThrowingTaskGroup(of: HTTPAnswer.self) { group in
                for seat in 11...20 {
                    group.addTask { try await racer.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(seat)}"#) }
                }
                return try await group.reduce(into: [HTTPAnswer]()) { $0.append($1) }
            }
            let granted = answers.filter { $0.status == 201 }
            #expect(granted.count == 2, "\(answers.map { "\($0.status) \($0.code ?? "")" })")
            #expect(answers.filter { $0.status == 409 && $0.code == "hold_limit" }.count == 8, "\(answers.map { "\($0.status) \($0.code ?? "")" })")
            let holds = granted.compactMap { $0["id"] as? Int }
            try #require(holds.count == 2)
            #expect(try await Self.reservationIds(fan) == Set(holds), "the refused attempts left nothing in the list")

            // A third, one at a time: refused, and the list is unchanged.
            let third = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 21}"#)
            #expect(third.status == 409 && third.code == "hold_limit", "\(third.body)")
            #expect(try await Self.reservationIds(fan) == Set(holds))
            // Asking again for a seat already held answers that hold, not hold_limit.
            let seatOfFirst = try #require(granted.first?["seatId"] as? Int)
            let again = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(seatOfFirst)}"#)
            #expect(again.status == 200 && again["id"] as? Int == holds.first, "\(again.body)")
            // The cap is per user: someone else still holds.
            var neighbour = try await Fan.signUp(stack, name: "neighbour")
            try await neighbour.enter()
            #expect(try await neighbour.send("POST", "/api/v1/reservations", body: #"{"seatId": 21}"#).status == 201)

            // Canceling one frees its place.
            #expect(try await fan.send("DELETE", "/api/v1/reservations/\(holds[0])")["status"] as? String == "canceled")
            let afterCancel = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 22}"#)
            #expect(afterCancel.status == 201, "\(afterCancel.body)")
            #expect(try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 23}"#).code == "hold_limit")

            // Paying one turns it into a reservation, not a live hold ("live holds", CONTRACT §2): one
            // more hold fits, and then the cap again.
            let paid = try await fan.send("POST", "/api/v1/reservations/\(holds[1])/payment", key: "pay")
            #expect(paid.status == 201, "\(paid.body)")
            // Paying expires the token (within a second); a new one is needed to hold again.
            let payer = fan
            #expect(await eventually(timeout: .seconds(2)) {
                (try? await payer.send("GET", "/api/v1/queue/tokens/current"))?["status"] as? String == "expired"
            })
            try await fan.enter()
            let afterPay = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 24}"#)
            #expect(afterPay.status == 201, "\(afterPay.body)")
            let over = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 25}"#)
            #expect(over.status == 409 && over.code == "hold_limit", "\(over.body)")
            let statuses = try #require(try await fan.send("GET", "/api/v1/reservations").json as? [[String: Any]]).compactMap { $0["status"] as? String }
            #expect(statuses.sorted() == ["canceled", "reserved", "reserving", "reserving"], "\(statuses)")

            try await Self.expectAtRestConsistent(stack)
        }
    }

    @Test("MAX_HOLDS_PER_USER=2: once a hold lapses (HOLD_SECONDS=1.5) its place is free again")
    func lapsedHoldFreesItsPlace() async throws {
        try await withStack(extra: ["QUEUE_ADMIT_PER_SECOND": "1000", "HOLD_SECONDS": "1.5", "MAX_HOLDS_PER_USER": "2"]) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack, name: "patient")
            try await fan.enter()
            let first = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 31}"#)
            #expect(try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 32}"#).status == 201)
            #expect(try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 33}"#).code == "hold_limit")
            let end = try #require(Self.date(first["expiresAt"]), "\(first.body)")
            try await Task.sleep(for: .milliseconds(max(0, Int(end.timeIntervalSinceNow * 1000) + 600)))
            let after = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 33}"#)
            #expect(after.status == 201, "\(after.body)")

            // At rest only once the new hold has lapsed and been swept too.
            let waiter = fan
            #expect(await eventually(timeout: .seconds(10), interval: .milliseconds(200)) {
                let list = (try? await waiter.send("GET", "/api/v1/reservations"))?.json as? [[String: Any]]
                return list?.count == 3 && list?.allSatisfy { $0["status"] as? String == "canceled" } == true
            })
            // And the sweepers have had their turn since (CONTRACT §4's "at rest").
            try await Task.sleep(for: .seconds(1))
            try await Self.expectAtRestConsistent(stack)
        }
    }

    // MARK: Helpers

    /// Everything a user can read of their own: the given reservations, their list, wallet and ledger, verbatim.
    static func everything(of fan: Fan, reservations ids: [Int]) async throws -> [String] {
        let paths = ids.map { "/api/v1/reservations/\($0)" } + ["/api/v1/reservations", "/api/v1/wallet", "/api/v1/wallet/transactions"]
        var seen: [String] = []
        for path in paths {
            let answer = try await fan.send("GET", path)
            seen.append("\(answer.status) \(path) \(answer.body)")
        }
        return seen
    }

    /// A schedule's seats by id: their status, as a user with an active token sees them.
    static func seatStatuses(_ fan: Fan, schedule: Int) async throws -> [Int: String] {
        let answer = try await fan.send("GET", "/api/v1/schedules/\(schedule)/seats")
        let seats = try #require(answer["seats"] as? [[String: Any]], "\(answer.body)")
        return Dictionary(uniqueKeysWithValues: seats.compactMap { seat in
            (seat["id"] as? Int).flatMap { id in (seat["status"] as? String).map { (id, $0) } }
        })
    }

    static func reservationIds(_ fan: Fan) async throws -> Set<Int> {
        Set(try #require(try await fan.send("GET", "/api/v1/reservations").json as? [[String: Any]]).compactMap { $0["id"] as? Int })
    }

    static func concertCount(_ stack: TestStack) async throws -> Int {
        let answer = try await stack.send("GET", "/api/v1/concerts")
        return try #require(answer.json as? [Any], "\(answer.body)").count
    }

    static func expectGatedRefused(_ fan: Fan, code: String, _ label: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (method, path, body) in gated {
            let answer = try await fan.send(method, path, body: body)
            #expect(answer.status == 403 && answer.code == code, "\(label): \(method) \(path) answered \(answer.status) \(answer.body)",
                    sourceLocation: sourceLocation)
        }
    }

    /// The token works before it is spent, so the refusal afterwards is the spending's doing.
    static func expectGatedOpen(_ fan: Fan, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (method, path, _) in gated where method == "GET" {
            let answer = try await fan.send(method, path)
            #expect(answer.status == 200, "\(method) \(path) before: \(answer.body)", sourceLocation: sourceLocation)
        }
    }

    /// Whether `bytes` contain the key: as text, its random part alone, or that part's raw 32 bytes.
    static func holdsKey(_ key: String, _ bytes: Data) -> Bool {
        let random = String(key.dropFirst("ctk_".count))
        var base64 = random.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let needles = [Data(key.utf8), Data(random.utf8)] + (Data(base64Encoded: base64).map { [$0] } ?? [])
        return needles.contains { bytes.range(of: $0) != nil }
    }

    /// SHA-256 of the key's UTF-8 bytes, by coreutils (the key travels in the environment, not a command line).
    static func sha256(_ key: String) async throws -> Data {
        let run = try await runToCompletion("/bin/sh", ["-c", #"printf %s "$KEY" | sha256sum"#], environment: ["KEY": key])
        try #require(run.status == 0, "\(run.output)")
        let hex = Array(run.output.prefix(64).utf8)
        return Data(stride(from: 0, to: hex.count, by: 2).compactMap { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16) })
    }

    static func date(_ value: Any?) -> Date? {
        guard let text = value as? String else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }

    /// Stops the stack (so nothing is in flight) and checks CONTRACT §4 on its files.
    static func expectAtRestConsistent(_ stack: TestStack, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        await stack.stopAll()
        let violations = try StorageInvariants(dataDirectory: try #require(stack.environment["DATA_DIR"])).violations()
        #expect(violations.isEmpty, "\(violations)", sourceLocation: sourceLocation)
    }
}

/// A queue token that is not the presenter's own: made up, or the owner's real one altered or taken.
enum TokenForgery: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case randomString, wellFormedRandomMac, userId, seq, issuedAtMs, nonce, mac, flippedChar, stolen

    var testDescription: String { rawValue }

    /// The two attacks another user would make with the owner's token; the rest the owner tries on their own.
    var presentedByOther: Bool { self == .userId || self == .stolen }

    var isWellFormed: Bool { self != .randomString }

    /// `q1.<userId>.<seq>.<issuedAtMs>.<nonce>.<mac>` (docs/services.md): one part changed, or none.
    func make(from token: String, otherUser: Int) -> String {
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6 else { return token }
        switch self {
        case .randomString: return "forged-" + Self.random(24)
        case .wellFormedRandomMac:
            return "q1.\(parts[1]).1.\(Int64(Date().timeIntervalSince1970 * 1000)).\(Self.random(QueueToken.nonceBytes)).\(Self.random(QueueToken.macBytes))"
        case .userId: parts[1] = "\(otherUser)"
        case .seq: parts[2] = "\((Int64(parts[2]) ?? 0) + 1)"
        // Later, so it would live longer.
        case .issuedAtMs: parts[3] = "\((Int64(parts[3]) ?? 0) + 60_000)"
        case .nonce: parts[4] = Self.random(QueueToken.nonceBytes)
        case .mac: parts[5] = Self.random(QueueToken.macBytes)
        case .flippedChar:
            // A middle character: every one of its bits counts, so the text stays canonical base64url.
            var mac = Array(parts[5])
            mac[10] = mac[10] == "A" ? "B" : "A"
            parts[5] = String(mac)
        case .stolen: break
        }
        return parts.joined(separator: ".")
    }

    static func random(_ count: Int) -> String {
        Data((0..<count).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// A token of the owner's own that is not active, and the status its owner reads for it.
enum InactiveToken: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case waiting, leftTheLine, ownerPaid, timedOut

    var testDescription: String { rawValue }

    var environment: [String: String] {
        switch self {
        case .waiting: ["QUEUE_MAX_ACTIVE": "1"]
        case .timedOut: ["QUEUE_ACTIVE_SECONDS": "3"]
        case .leftTheLine, .ownerPaid: [:]
        }
    }

    var status: String { self == .waiting ? "waiting" : "expired" }
}
