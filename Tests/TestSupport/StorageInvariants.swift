import Foundation
import GRDB

/// The invariants of CONTRACT §4, checked on the services' own SQLite files with plain SQL, the
/// way an operator would: nothing here trusts the services' code. Meant for a stack at rest (no
/// request in flight, sweepers run). Each check returns what it found wrong, in words; empty is good.
package struct StorageInvariants {
    package let concert: any DatabaseReader
    package let payment: any DatabaseReader
    package let reservation: any DatabaseReader

    package init(concert: any DatabaseReader, payment: any DatabaseReader, reservation: any DatabaseReader) {
        self.concert = concert
        self.payment = payment
        self.reservation = reservation
    }

    /// Opens the files of a stack's `DATA_DIR` read-only.
    package init(dataDirectory: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        func open(_ name: String) throws -> DatabasePool {
            try DatabasePool(path: "\(dataDirectory)/\(name).sqlite", configuration: configuration)
        }
        self.init(concert: try open("concert"), payment: try open("payment"), reservation: try open("reservation"))
    }

    /// Opens the three files read-only where they are (services on different hosts keep their own folders).
    package init(concertFile: String, paymentFile: String, reservationFile: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        self.init(concert: try DatabasePool(path: concertFile, configuration: configuration),
                  payment: try DatabasePool(path: paymentFile, configuration: configuration),
                  reservation: try DatabasePool(path: reservationFile, configuration: configuration))
    }

    /// Payers whose queue token outlived their payment, in words (empty is good). A payment expires every
    /// token its payer was issued before it (CONTRACT §3): for every `reserved` reservation, and every
    /// reservation in `alsoPaid` (paid, then canceled by its owner), each of the payer's tokens in
    /// `queue.sqlite` issued (`created_at`) before the payment's `created_at` in `payment.sqlite` must be `expired`.
    package static func payersWithLiveTokens(dataDirectory: String, alsoPaid: Set<Int64> = []) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        func open(_ name: String) throws -> DatabaseQueue {
            try DatabaseQueue(path: "\(dataDirectory)/\(name).sqlite", configuration: configuration)
        }
        let (reservation, payment, queue) = (try open("reservation"), try open("payment"), try open("queue"))
        defer { [reservation, payment, queue].forEach { try? $0.close() } }
        let paid = try reservation.read { db in
            try Row.fetchAll(db, sql: "SELECT id, user_id, status FROM reservation")
                .map { (id: $0["id"] as Int64, user: $0["user_id"] as Int64, status: $0["status"] as String) }
                .filter { $0.status == "reserved" || alsoPaid.contains($0.id) }
        }
        var found: [String] = []
        for (id, user, _) in paid {
            guard let paidAt = try payment.read({ try Date.fetchOne($0, sql: "SELECT created_at FROM payment WHERE reservation_id = ?", arguments: ["\(id)"]) })
            else {
                found.append("reservation \(id): paid without a payment")
                continue
            }
            let live = try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, status FROM token WHERE user_id = ? AND created_at < ? AND status != 'expired'",
                                 arguments: [user, paidAt])
            }
            for token in live {
                found.append("user \(user): token \(token["seq"] as Int64) issued before paying for reservation \(id) is still \(token["status"] as String)")
            }
        }
        return found
    }

    /// `PRAGMA integrity_check` of every service's file in a stack's `DATA_DIR`, by service:
    /// `ok`, or what SQLite found wrong (or why the file could not be opened).
    package static func integrity(dataDirectory: String) -> [String: String] {
        var configuration = Configuration()
        configuration.readonly = true
        var results: [String: String] = [:]
        for name in ["queue", "concert", "payment", "reservation"] {
            do {
                let queue = try DatabaseQueue(path: "\(dataDirectory)/\(name).sqlite", configuration: configuration)
                results[name] = try queue.read { try String.fetchAll($0, sql: "PRAGMA integrity_check").joined(separator: "; ") }
                try queue.close()
            } catch {
                results[name] = "\(error)"
            }
        }
        return results
    }

    /// Every violation found, as of `now`.
    package func violations(now: Date = Date()) throws -> [String] {
        try seatCounts() + sagasFinished() + lapsedHolds(now: now) + soldSeats() + reservations() + payments() + ledgers()
    }

    /// Every seat of a schedule counted once, and `remain_ticket` = available.
    package func seatCounts() throws -> [String] {
        try concert.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.id, s.remain_ticket,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id) AS seats,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id AND status = 'available') AS available,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id AND status IN ('reserving', 'sold')) AS taken
                FROM concert_schedule s
                """).compactMap { row -> String? in
                let (id, remain, seats, available, taken): (Int64, Int, Int, Int, Int) =
                    (row["id"], row["remain_ticket"], row["seats"], row["available"], row["taken"])
                if available + taken != seats { return "schedule \(id): \(available) available + \(taken) taken ≠ \(seats) seats" }
                if remain != available { return "schedule \(id): remain_ticket \(remain) ≠ \(available) available seats" }
                return nil
            }
        }
    }

    /// No saga left half done.
    package func sagasFinished() throws -> [String] {
        try reservation.read { db in
            try Row.fetchAll(db, sql: "SELECT reservation_id, kind, step FROM saga").map { row in
                "reservation \(row["reservation_id"] as Int64): saga \(row["kind"] as String) still at \(row["step"] as String)"
            }
        }
    }

    /// Payers' token expiries still to be done: the saga's last step, run after the payment was
    /// answered and retried until the queue takes it. None once a stack whose queue runs has settled;
    /// not part of `violations()`, since a stack stopped queue first may leave one behind.
    package func tokenExpiriesPending() throws -> [String] {
        try reservation.read { db in
            try Int64.fetchAll(db, sql: "SELECT reservation_id FROM token_expiry").map { "reservation \($0): its payer's token expiry is still pending" }
        }
    }

    /// No reservation is `reserving` once its hold has lapsed.
    package func lapsedHolds(now: Date) throws -> [String] {
        try reservation.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM reservation WHERE status = 'reserving' AND expired_at <= ?", arguments: [now])
                .map { "reservation \($0): still reserving after its hold lapsed" }
        }
    }

    /// Each sold seat has exactly one `reserved` reservation and exactly one unrefunded payment.
    package func soldSeats() throws -> [String] {
        let sold = try concert.read { db in
            try Row.fetchAll(db, sql: "SELECT id, reservation_id FROM concert_seat WHERE status = 'sold'")
                .map { (seat: $0["id"] as Int64, owner: $0["reservation_id"] as String?) }
        }
        var found: [String] = []
        for (seat, owner) in sold {
            let reserved = try reservation.read { db in
                try Int64.fetchAll(db, sql: "SELECT id FROM reservation WHERE concert_seat_id = ? AND status = 'reserved'", arguments: [seat])
            }
            guard reserved.count == 1, let only = reserved.first else {
                found.append("seat \(seat): sold with \(reserved.count) reserved reservations \(reserved)")
                continue
            }
            if owner != "\(only)" { found.append("seat \(seat): sold to \(owner ?? "nobody") but reserved by reservation \(only)") }
            let paid = try payment.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM payment WHERE reservation_id = ? AND refunded_at IS NULL", arguments: ["\(only)"]) ?? 0
            }
            if paid != 1 { found.append("seat \(seat): sold to reservation \(only) with \(paid) unrefunded payments") }
        }
        return found
    }

    /// A `reserved` reservation owns its sold seat and its payment of the price; a canceled one
    /// owns no seat and keeps no money.
    package func reservations() throws -> [String] {
        let rows = try reservation.read { db in
            try Row.fetchAll(db, sql: "SELECT id, user_id, concert_seat_id, price, status FROM reservation WHERE status != 'reserving'")
        }
        var found: [String] = []
        for row in rows {
            let (id, user, seat, price, status): (Int64, Int64, Int64, Int64, String) =
                (row["id"], row["user_id"], row["concert_seat_id"], row["price"], row["status"])
            let seatRow = try concert.read { db in
                try Row.fetchOne(db, sql: "SELECT status, reservation_id FROM concert_seat WHERE id = ?", arguments: [seat])
            }
            let owner: String? = seatRow?["reservation_id"]
            let seatStatus: String? = seatRow?["status"]
            let pay = try payment.read { db in
                try Row.fetchOne(db, sql: "SELECT user_id, amount, refunded_at FROM payment WHERE reservation_id = ?", arguments: ["\(id)"])
            }
            let refunded = (pay?["refunded_at"] as Date?) != nil
            if status == "reserved" {
                if seatStatus != "sold" || owner != "\(id)" { found.append("reservation \(id): reserved but seat \(seat) is \(seatStatus ?? "missing") for \(owner ?? "nobody")") }
                if pay == nil || refunded { found.append("reservation \(id): reserved without an unrefunded payment") }
                if let pay, (pay["amount"] as Int64) != price || (pay["user_id"] as Int64) != user {
                    found.append("reservation \(id): paid \(pay["amount"] as Int64) by user \(pay["user_id"] as Int64), expected \(price) by \(user)")
                }
            } else {
                if owner == "\(id)" { found.append("reservation \(id): canceled but still owns seat \(seat) (\(seatStatus ?? "?"))") }
                if pay != nil && !refunded { found.append("reservation \(id): canceled but its payment was not refunded") }
            }
        }
        return found
    }

    /// No money is kept for a reservation that is not `reserved`: a debit without a sold seat is refunded.
    package func payments() throws -> [String] {
        let unrefunded = try payment.read { db in
            try String.fetchAll(db, sql: "SELECT reservation_id FROM payment WHERE refunded_at IS NULL")
        }
        var found: [String] = []
        for key in unrefunded {
            let status = try reservation.read { db in
                try String.fetchOne(db, sql: "SELECT status FROM reservation WHERE id = ?", arguments: [Int64(key) ?? -1])
            }
            if status != "reserved" { found.append("payment for reservation \(key): kept while the reservation is \(status ?? "missing")") }
        }
        return found
    }

    /// For every user, charges − payments + refunds = balance, and the ledger says so row by row.
    package func ledgers() throws -> [String] {
        try payment.read { db in
            var found: [String] = []
            for wallet in try Row.fetchAll(db, sql: "SELECT user_id, amount FROM wallet") {
                let (user, balance): (Int64, Int64) = (wallet["user_id"], wallet["amount"])
                var running: Int64 = 0
                for entry in try Row.fetchAll(db, sql: "SELECT id, kind, amount, balance_after FROM wallet_transaction WHERE user_id = ? ORDER BY id",
                                              arguments: [user]) {
                    let (kind, amount, after): (String, Int64, Int64) = (entry["kind"], entry["amount"], entry["balance_after"])
                    running += kind == "payment" ? -amount : amount
                    if running != after { found.append("user \(user): ledger row \(entry["id"] as Int64) says \(after), the sum is \(running)") }
                }
                if running != balance { found.append("user \(user): charges − payments + refunds = \(running), the wallet holds \(balance)") }
            }
            return found
        }
    }
}
