import Foundation
import Messaging

// Reconciling the services after a restore (DESIGN §6): files of different services are not copies
// of one instant, so `reservation.reconcile` compares what concert, payment and reservation each
// say about every reservation, and repairs a difference by the saga's own compensations. These are
// the listings it reads, a page at a time, and its report.

/// A page of a listing ordered by id: rows with an id above `after` (nil: from the start), at most
/// `limit` of them (1…1000, default 500).
package struct PageQuery: Codable, Sendable, Equatable {
    package let after: Int64?
    package let limit: Int?
    package init(after: Int64? = nil, limit: Int? = nil) {
        self.after = after
        self.limit = limit
    }

    package static let limits = 1...1000
    package static let defaultLimit = 500
}

/// A seat some reservation holds or bought (`concert.claims`).
package struct ClaimedSeat: Codable, Sendable, Equatable {
    package let seatId: Int64
    package let scheduleId: Int64
    package let number: Int
    /// `reserving` or `sold`.
    package let status: SeatStatus
    package let reservationId: String
    /// When a hold lapses; nil once sold.
    package let heldUntil: Date?
    package init(seatId: Int64, scheduleId: Int64, number: Int, status: SeatStatus, reservationId: String, heldUntil: Date?) {
        self.seatId = seatId
        self.scheduleId = scheduleId
        self.number = number
        self.status = status
        self.reservationId = reservationId
        self.heldUntil = heldUntil
    }
}

/// `reservation.reconcile`: compare only (`repair` false), or compare and repair.
package struct ReconcileRequest: Codable, Sendable, Equatable {
    package let repair: Bool
    package init(repair: Bool) { self.repair = repair }
}

/// `reservation.reconcile`'s reply: what was compared, every difference found, and what was done.
package struct ReconcileReport: Codable, Sendable, Equatable {
    /// Reservations, claimed seats and payments compared.
    package let reservations: Int
    package let claimedSeats: Int
    package let payments: Int
    /// Reservations a saga was working on: left to it, since it finishes or compensates by itself.
    package let inProgress: Int
    package let findings: [ReconcileFinding]
    /// True when nothing is left to repair: no findings, or every one repaired.
    package let consistent: Bool
    package init(reservations: Int, claimedSeats: Int, payments: Int, inProgress: Int, findings: [ReconcileFinding], consistent: Bool) {
        self.reservations = reservations
        self.claimedSeats = claimedSeats
        self.payments = payments
        self.inProgress = inProgress
        self.findings = findings
        self.consistent = consistent
    }
}

/// One difference between the services about one reservation, the compensation that repairs it,
/// and how that went (`proposed` when only comparing).
package struct ReconcileFinding: Codable, Sendable, Equatable {
    package enum Outcome: String, Codable, Sendable { case proposed, repaired, failed }
    package let reservationId: String
    package let problem: String
    package let repair: String
    package let outcome: Outcome
    package init(reservationId: String, problem: String, repair: String, outcome: Outcome) {
        self.reservationId = reservationId
        self.problem = problem
        self.repair = repair
        self.outcome = outcome
    }
}
