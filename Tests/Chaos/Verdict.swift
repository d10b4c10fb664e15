import Foundation
import GRDB
import TestSupport

/// What a chaos run found once the stack settled: each promise checked, with what broke it.
struct Verdict: Codable, Sendable {
    struct Check: Codable, Sendable {
        let name: String
        let violations: [String]
    }

    var checks: [Check] = []
    /// How long after the load stopped the stack was at rest (every saga ended, every hold paid,
    /// canceled or lapsed, §4 true), the users' last questions under their keys included.
    var settleSeconds = 0.0

    var passed: Bool { checks.allSatisfy { $0.violations.isEmpty } }
    var firstViolation: String? { checks.lazy.compactMap { check in check.violations.first.map { "\(check.name): \($0)" } }.first }

    mutating func check(_ name: String, _ violations: [String]) {
        checks.append(Check(name: name, violations: violations))
    }

    /// Waits (bounded) for the stack to come to rest, then checks everything.
    static func reach(stack: TestStack, acks: Acknowledgements, exchanges: [Exchange], monkey: Monkey,
                      settings: ChaosSettings, loadStarted: ContinuousClock.Instant, loadEnded: ContinuousClock.Instant) async throws -> Verdict {
        var verdict = Verdict()
        let dataDirectory = stack.folder.file("data")
        let files = try StorageInvariants(dataDirectory: dataDirectory)
        // At rest: no saga in flight, and no hold left at all, since nobody will pay any more (the
        // last ones left to lapse take HOLD_SECONDS). A generous bound: sagas retry with backoff up
        // to 2 s, sweepers run every second.
        _ = await eventually(timeout: .seconds(60), interval: .milliseconds(250)) {
            let holds = try? files.reservation.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM reservation WHERE status = 'reserving'")
            }
            return holds == 0 && ((try? files.violations() + files.tokenExpiriesPending()) ?? ["unreadable"]).isEmpty
        }
        verdict.settleSeconds = seconds(ContinuousClock.now - loadEnded)
        // A moment more for the sweepers, so a hold that lapsed just now is not read half swept.
        try await Task.sleep(for: .seconds(1.5))

        verdict.check("every saga finished or compensated, every payer's token expiry done",
                      try files.sagasFinished() + files.tokenExpiriesPending())
        verdict.check("§4 every seat counted once, remain_ticket = available", try files.seatCounts())
        verdict.check("§4 no seat sold twice; each sold seat has one reserved reservation and one payment", try files.soldSeats())
        verdict.check("§4 reservations and payments agree", try files.reservations() + files.payments())
        verdict.check("§4 charges − payments + refunds = balance, row by row", try files.ledgers())
        verdict.check("§4 no reservation reserving after its hold lapsed", try files.lapsedHolds(now: Date()))

        let told = acks.snapshot
        verdict.check("every payment acknowledged exists (refunded only if its cancel was acknowledged)",
                      try acknowledgedPayments(told, files))
        verdict.check("every charge acknowledged is in the balance", try acknowledgedCharges(told, files))
        verdict.check("every acknowledged cancel and lapsed hold is canceled, holding no seat", try canceledOnes(told, files))
        verdict.check("every payer's token is expired",
                      try StorageInvariants.payersWithLiveTokens(dataDirectory: dataDirectory, alsoPaid: Set(told.payments.keys.map(Int64.init))))
        verdict.check("every answer a contract answer, within the deadline, none dropped with the gateway up",
                      answers(exchanges, outages: monkey.gatewayOutages, settings: settings, since: loadStarted))
        verdict.check("no answer wrong for its asker (401 for a valid key, 404 for one's own)", told.wrongAnswers)
        verdict.check("every unknown outcome learned by asking again under the same key", told.unresolved)
        monkey.noteCrashes()  // through the settling and the checks too
        verdict.check("no process exited unless killed", monkey.unexpectedExits)
        verdict.check("PRAGMA integrity_check on every file",
                      StorageInvariants.integrity(dataDirectory: dataDirectory).filter { $0.value != "ok" }.map { "\($0.key): \($0.value)" })
        let reconcile = try await stack.run("reservation", ["reconcile"], timeout: .seconds(30))
        verdict.check("reservation reconcile finds the services in agreement",
                      reconcile.status == 0 ? [] : ["exit \(reconcile.status): \(reconcile.output.suffix(1500))"])
        return verdict
    }

    private static func acknowledgedPayments(_ told: Acknowledgements.State, _ files: StorageInvariants) throws -> [String] {
        var found: [String] = []
        for (reservationId, acked) in told.payments.sorted(by: { $0.key < $1.key }) {
            let row = try files.payment.read { db in
                try Row.fetchOne(db, sql: "SELECT id, user_id, amount, refunded_at FROM payment WHERE reservation_id = ?",
                                 arguments: ["\(reservationId)"])
            }
            guard let row else {
                found.append("reservation \(reservationId): payment \(acked.paymentId) was acknowledged but does not exist")
                continue
            }
            if (row["id"] as Int64) != acked.paymentId || (row["amount"] as Int64) != acked.amount || (row["user_id"] as Int64) != acked.userId {
                found.append("reservation \(reservationId): acknowledged payment \(acked.paymentId) of \(acked.amount) by user \(acked.userId), stored \(row)")
            }
            let refunded = (row["refunded_at"] as Date?) != nil
            let status = try files.reservation.read { db in
                try String.fetchOne(db, sql: "SELECT status FROM reservation WHERE id = ?", arguments: [reservationId])
            }
            if told.canceled.contains(reservationId) {
                if !refunded { found.append("reservation \(reservationId): its cancel was acknowledged but its payment was not refunded") }
            } else if refunded || status != "reserved" {
                found.append("reservation \(reservationId): paid and never canceled by its owner, yet \(refunded ? "refunded" : "not refunded") and \(status ?? "missing")")
            }
        }
        return found
    }

    private static func acknowledgedCharges(_ told: Acknowledgements.State, _ files: StorageInvariants) throws -> [String] {
        try files.payment.read { db in
            try told.charged.sorted(by: { $0.key < $1.key }).compactMap { user, acked in
                let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM wallet_transaction WHERE user_id = ? AND kind = 'charge'",
                                           arguments: [user])
                let (count, total): (Int, Int) = (row?["n"] ?? 0, row?["total"] ?? 0)
                // Every outcome was learned, so the ledger holds exactly the acknowledged charges.
                guard count != acked.count || total != acked.amount else { return nil }
                return "user \(user): \(acked.count) charges of \(acked.amount) won acknowledged, the ledger has \(count) of \(total)"
            }
        }
    }

    private static func canceledOnes(_ told: Acknowledgements.State, _ files: StorageInvariants) throws -> [String] {
        var found: [String] = []
        for reservationId in told.canceled.union(told.lapsed).sorted() {
            let status = try files.reservation.read { db in
                try String.fetchOne(db, sql: "SELECT status FROM reservation WHERE id = ?", arguments: [reservationId])
            }
            if status != "canceled" {
                found.append("reservation \(reservationId): \(told.canceled.contains(reservationId) ? "cancel acknowledged" : "left to lapse") but it is \(status ?? "missing")")
            }
            let owns = try files.concert.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM concert_seat WHERE reservation_id = ? AND status = 'sold'", arguments: ["\(reservationId)"]) ?? 0
            }
            if status == "canceled" && owns > 0 { found.append("reservation \(reservationId): canceled but its seat is sold to it") }
        }
        for (reservationId, user) in told.holds.sorted(by: { $0.key < $1.key }) {
            let owner = try files.reservation.read { db in
                try Int.fetchOne(db, sql: "SELECT user_id FROM reservation WHERE id = ?", arguments: [reservationId])
            }
            if owner != user { found.append("reservation \(reservationId): hold acknowledged to user \(user), stored for \(owner.map(String.init) ?? "nobody")") }
        }
        return found
    }

    /// Every answer a contract answer; none later than the deadline; none missing while the gateway was up.
    private static func answers(_ exchanges: [Exchange], outages: [Range<ContinuousClock.Instant>], settings: ChaosSettings,
                                since start: ContinuousClock.Instant) -> [String] {
        let deadline = Duration.milliseconds(Int((settings.deadlineSeconds + settings.deadlineMargin) * 1000))
        // A request that overlapped a gateway outage (with a second's grace for pooled connections
        // the dead gateway left behind) may go unanswered: that is what a dead server means.
        let excused = outages.map { $0.lowerBound..<($0.upperBound + .seconds(1)) }
        func duringOutage(_ exchange: Exchange) -> Bool {
            excused.contains { $0.overlaps(exchange.started..<max(exchange.ended, exchange.started + .milliseconds(1))) }
        }
        var found: [String] = []
        for exchange in exchanges {
            let when = String(format: "sent %.2f s into the load", seconds(exchange.started - start))
            if exchange.status != nil && !exchange.isContractAnswer {
                found.append("\(exchange.what), \(when): \(exchange.outcome) is not a contract answer")
            } else if exchange.status == nil && !duringOutage(exchange) {
                found.append("\(exchange.what), \(when): dropped with the gateway up after \(String(format: "%.2f", seconds(exchange.elapsed))) s (\(exchange.error ?? ""))")
            } else if exchange.elapsed > deadline && !duringOutage(exchange) {
                found.append("\(exchange.what), \(when): answered \(exchange.outcome) after \(String(format: "%.2f", seconds(exchange.elapsed))) s, past the \(settings.deadlineSeconds) s deadline")
            }
        }
        return found
    }
}
