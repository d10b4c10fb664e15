import Contracts
import Foundation
import Logging
import Messaging
import ServiceKit

/// `reservation.reconcile` (DESIGN §6): after a restore, the services' files are not copies of one
/// instant, so they can disagree about a reservation (a seat sold without its reservation, a
/// payment for a reservation that is canceled). This compares what concert, payment and this
/// service each say about every reservation and repairs each difference with the saga's own
/// compensations: release the seat, void the payment, or cancel the reservation and do both.
///
/// Safe on a live stack: reservations a saga is working on are left to it, and a difference found
/// on this service's side is checked again against fresh answers before anything is done.
struct Reconciler: Sendable {
    let database: ReservationDatabase
    let runner: SagaRunner
    let relay: OutboxRelay?
    let logger: Logger
    /// How long a repair waits for the compensation it started.
    var settleWithin: Duration = .seconds(15)

    private var peers: PeerClients { runner.peers }
    private var clock: any WallClock { runner.clock }

    /// What reconciliation would do about one reservation.
    enum Repair: Equatable {
        case release(ClaimedSeat)
        case void
        case cancel(CancelReason)

        var words: String {
            switch self {
            case .release(let seat): "release seat \(seat.number) of schedule \(seat.scheduleId)"
            case .void: "void the payment (refund it, and refuse any later debit)"
            case .cancel(let reason): "cancel the reservation (\(reason.rawValue)): void any payment and release the seat"
            }
        }
    }

    struct Difference: Equatable {
        let reservationId: String
        let problem: String
        let repair: Repair
    }

    func reconcile(_ request: ReconcileRequest) async throws -> ReconcileReport {
        // Seats and payments first, reservations after: a seat is held and a payment taken only for
        // a reservation row that exists already, so a new booking can never look like an orphan.
        let claims = try await allPages(ConcertAPI.claims, on: .concert, id: \.seatId)
        let payments = try await allPages(PaymentAPI.payments, on: .payment, id: \.paymentId)
        let (reservations, inSaga) = try await database.reconciliationView()
        let now = clock.now()

        let claimsByKey = Dictionary(grouping: claims, by: \.reservationId)
        let paymentsByKey = Dictionary(payments.map { ($0.reservationId, $0) }, uniquingKeysWith: { first, _ in first })
        let recordsByKey = Dictionary(uniqueKeysWithValues: reservations.map { ($0.sagaKey, $0) })
        let sagaKeys = Set(inSaga.map { "\($0)" })
        let keys = Set(claimsByKey.keys).union(paymentsByKey.keys).union(recordsByKey.keys).subtracting(sagaKeys)

        var differences: [Difference] = []
        for key in keys.sorted() {
            differences += Self.differences(key: key, record: recordsByKey[key], claims: claimsByKey[key] ?? [],
                                            payment: paymentsByKey[key], now: now)
        }
        var findings: [ReconcileFinding] = []
        for difference in differences {
            let outcome: ReconcileFinding.Outcome = request.repair ? await apply(difference) : .proposed
            findings.append(ReconcileFinding(reservationId: difference.reservationId, problem: difference.problem,
                                             repair: difference.repair.words, outcome: outcome))
        }
        let report = ReconcileReport(reservations: reservations.count, claimedSeats: claims.count, payments: payments.count,
                                     inProgress: inSaga.count, findings: findings,
                                     consistent: findings.allSatisfy { $0.outcome == .repaired })
        logger.notice("reconciled", metadata: [
            "reconcile.reservations": .stringConvertible(report.reservations), "reconcile.findings": .stringConvertible(findings.count),
            "reconcile.repair": .stringConvertible(request.repair), "reconcile.consistent": .stringConvertible(report.consistent),
        ])
        return report
    }

    /// What is wrong with one reservation, given what each service says of it (CONTRACT §4): a
    /// reservation that is gone or canceled owns no seat and no unrefunded payment; a `reserved` one
    /// owns its sold seat and one payment of its price; a live `reserving` one holds its seat and
    /// has paid nothing. A lapsed hold is the hold sweeper's, not a difference.
    static func differences(key: String, record: ReservationRecord?, claims: [ClaimedSeat], payment: PaymentReceipt?,
                            now: Date) -> [Difference] {
        let paid = payment.flatMap { $0.refundedAt == nil ? $0 : nil }
        guard let record, record.status != .canceled else {
            let why = record == nil ? "which the reservation service does not know" : "which is canceled"
            var found = claims.map { seat in
                Difference(reservationId: key, problem: "seat \(seat.number) of schedule \(seat.scheduleId) is \(seat.status == .sold ? "sold to" : "held for") reservation \(key), \(why)",
                           repair: .release(seat))
            }
            if let paid {
                found.append(Difference(reservationId: key, problem: "payment \(paid.paymentId) of \(paid.amount) won for reservation \(key), \(why), is not refunded",
                                        repair: .void))
            }
            return found
        }
        let mine = claims.first { $0.seatId == record.concertSeatId }
        var found = claims.filter { $0.seatId != record.concertSeatId }.map { seat in
            Difference(reservationId: key, problem: "seat \(seat.number) of schedule \(seat.scheduleId) is claimed by reservation \(key), whose seat is \(record.seatNumber)",
                       repair: .release(seat))
        }
        let seatSays = mine.map { $0.status == .sold ? "sold to it" : "held for it" } ?? "not held for it"
        switch record.status {
        case .reserved:
            var problems: [String] = []
            if mine?.status != .sold { problems.append("its seat \(record.seatNumber) is \(seatSays)") }
            if let paid, paid.amount != record.price {
                problems.append("its payment is \(paid.amount) won, not the price \(record.price)")
            } else if paid == nil {
                problems.append(payment == nil ? "payment has no payment for it" : "its payment was refunded")
            }
            if !problems.isEmpty {
                found.append(Difference(reservationId: key, problem: "reservation \(key) is reserved, but \(problems.joined(separator: " and "))",
                                        repair: .cancel(.paymentFailed)))
            }
        case .reserving:
            if let paid {
                found.append(Difference(reservationId: key, problem: "reservation \(key) is not paid, but payment \(paid.paymentId) of \(paid.amount) won was taken for it",
                                        repair: .cancel(.paymentFailed)))
            } else if mine?.status == .sold {
                found.append(Difference(reservationId: key, problem: "reservation \(key) is not paid, but its seat \(record.seatNumber) is sold to it",
                                        repair: .cancel(.paymentFailed)))
            } else if record.expiredAt > now && mine == nil {
                found.append(Difference(reservationId: key, problem: "reservation \(key) holds seat \(record.seatNumber) until \(record.expiredAt), but concert does not hold it",
                                        repair: .cancel(.holdLapsed)))
            }
        case .canceled:
            break
        }
        return found
    }

    /// Repairs one difference; a cancellation is first checked again against fresh answers, since
    /// the listings were read at different moments.
    private func apply(_ difference: Difference) async -> ReconcileFinding.Outcome {
        let key = difference.reservationId
        do {
            switch difference.repair {
            case .release(let seat):
                _ = try await peers[.concert].call(ConcertAPI.release, SeatClaim(seatId: seat.seatId, reservationId: key), timeout: .seconds(2))
            case .void:
                _ = try await peers[.payment].call(PaymentAPI.void, Refund(reservationId: key), timeout: .seconds(2))
            case .cancel(let reason):
                guard let id = Int64(key), try await stillDiffers(id: id, difference) else { return .repaired }
                if try await database.cancelToReconcile(id: id, reason: reason, note: difference.problem, now: clock.now()) {
                    relay?.nudge()
                    runner.drive(id)
                }
                return try await settled(id) ? .repaired : .failed
            }
            return .repaired
        } catch {
            logger.warning("reconcile repair failed", metadata: ["reconcile.reservation": .string(key), "reconcile.error": .string("\(error)")])
            return .failed
        }
    }

    /// Asks concert and payment again about this reservation alone, after reading it afresh.
    private func stillDiffers(id: Int64, _ difference: Difference) async throws -> Bool {
        guard let record = try await database.reservationWithoutSaga(id: id) else { return false }
        let seat = try await peers[.concert].call(ConcertAPI.seat, SeatRef(seatId: record.concertSeatId), timeout: .seconds(2))
        let claims = seat.reservationId == record.sagaKey && seat.status != .available
            ? [ClaimedSeat(seatId: seat.id, scheduleId: seat.scheduleId, number: seat.number, status: seat.status,
                           reservationId: record.sagaKey, heldUntil: seat.heldUntil)]
            : []
        let payment: PaymentReceipt?
        do {
            payment = try await peers[.payment].call(PaymentAPI.payment, PaymentRef(reservationId: record.sagaKey), timeout: .seconds(2))
        } catch let refusal as RemoteError where refusal.code == "not_found" {
            payment = nil
        }
        return Self.differences(key: record.sagaKey, record: record, claims: claims, payment: payment, now: clock.now())
            .contains { $0.repair == difference.repair }
    }

    /// Waits for the reservation's compensation to finish (bounded).
    private func settled(_ id: Int64) async throws -> Bool {
        let deadline = ContinuousClock.now + settleWithin
        while ContinuousClock.now < deadline {
            if try await database.saga(of: id) == nil { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Every row of a paged listing, page after page.
    private func allPages<Row: Sendable>(_ method: RPCMethod<PageQuery, [Row]>, on service: ServiceName,
                                         id: KeyPath<Row, Int64>) async throws -> [Row] {
        var rows: [Row] = []
        var after: Int64? = nil
        while true {
            let page = try await peers[service].call(method, PageQuery(after: after, limit: PageQuery.limits.upperBound), timeout: .seconds(5))
            rows += page
            guard page.count == PageQuery.limits.upperBound, let last = page.last else { return rows }
            after = last[keyPath: id]
        }
    }
}
