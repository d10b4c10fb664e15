import Foundation
import Messaging

/// The reservation service's methods and events: the saga that holds a seat, takes the payment and
/// compensates lapsed holds and failures (DESIGN §4, CONTRACT §3 "Reservations").
///
/// Every method acts for one user (`userId`, already authenticated by the gateway): another user's
/// reservation is `not_found`. Refusals arrive as `RemoteError` with a code from `ReservationAPI.Code`,
/// the CONTRACT §3 word the gateway turns into an HTTP status.
package enum ReservationAPI {
    /// Holds a seat for the user for `HOLD_SECONDS` and records the reservation. Refuses, in this
    /// order, `not_found` (no such seat), `schedule_closed`, `hold_limit`, `seat_unavailable`; a
    /// refused attempt leaves no reservation behind. A user who already holds this seat gets that
    /// reservation back (`created` false), so a resent request never costs the user their own seat.
    package static let reserve = RPCMethod<Reserve, ReserveOutcome>("reservation.reserve", idempotent: true)
    /// One of the user's reservations, or `not_found`.
    package static let get = RPCMethod<ReservationRef, ReservationView>("reservation.get", idempotent: true)
    /// The user's reservations, newest first.
    package static let list = RPCMethod<ReservationQuery, [ReservationView]>("reservation.list", idempotent: true)
    /// Cancels a reservation: a held one releases its seat; a paid one, while its schedule's
    /// reservation window is open, releases the seat and refunds the price. A canceled one is
    /// answered as it is. Refuses `not_found`, `reservation_not_cancelable` (a payment is in
    /// progress, or the window has closed).
    package static let cancel = RPCMethod<ReservationRef, ReservationView>("reservation.cancel", idempotent: true)
    /// Pays for a held reservation: the saga of DESIGN §4. Keyed by the caller's idempotency key
    /// (scoped to the user): a replay answers the first payment, whatever happened since. Refuses
    /// `invalid_request`, `not_found`, `insufficient_balance` (nothing charged, hold kept),
    /// `reservation_expired` (the hold lapsed; nothing charged), `reservation_not_payable`
    /// (canceled by its owner, or paid under another key), `idempotency_key_reused`,
    /// `request_in_progress`, and `service_unavailable` when the saga could not finish in time:
    /// it goes on, and the same key asked again later learns the outcome.
    package static let pay = RPCMethod<Pay, PaymentView>("reservation.pay", idempotent: true)
    /// The events published after `after`, from the outbox, for a subscriber that saw a gap or
    /// started late (DESIGN §3, the Clone pattern).
    package static let events = ServiceName.reservation.events
    /// Compares every reservation with the seats concert says are held or sold and the payments
    /// payment holds, and with `repair` compensates each difference as the saga would (release the
    /// seat, void the payment, cancel the reservation). For operators, after restoring a backup
    /// (`reservation reconcile`); not exposed over HTTP. Not idempotent in effect, but safe to repeat.
    package static let reconcile = RPCMethod<ReconcileRequest, ReconcileReport>("reservation.reconcile", idempotent: false)

    /// The refusal codes (CONTRACT §3 where one fits).
    package enum Code {
        package static let invalidRequest = "invalid_request"
        package static let notFound = "not_found"
        package static let scheduleClosed = "schedule_closed"
        package static let holdLimit = "hold_limit"
        package static let seatUnavailable = "seat_unavailable"
        package static let notCancelable = "reservation_not_cancelable"
        package static let insufficientBalance = "insufficient_balance"
        package static let expired = "reservation_expired"
        package static let notPayable = "reservation_not_payable"
        package static let keyReused = "idempotency_key_reused"
        package static let inProgress = "request_in_progress"
        /// A service the saga needs did not answer in time; the outcome of a payment is then unknown
        /// until asked again with the same key.
        package static let serviceUnavailable = "service_unavailable"
    }

    /// The event types, published from the outbox after the change commits.
    package enum Event {
        /// A reservation was paid: `ReservationEvent`.
        package static let reserved = "reservation.reserved"
        /// A reservation was canceled, by its owner, because its hold lapsed, or because its
        /// payment could not complete: `ReservationEvent`.
        package static let canceled = "reservation.canceled"
    }

    /// The most reservations one `list` answers.
    package static let maxListLimit = 1000
}

/// Where a reservation stands (CONTRACT §4 `reservation.status`).
package enum ReservationStatus: String, Codable, Sendable, Equatable, CaseIterable {
    case reserving, reserved, canceled
}

/// Why a reservation was canceled.
package enum CancelReason: String, Codable, Sendable, Equatable, CaseIterable {
    /// Its owner canceled it.
    case canceledByUser = "canceled_by_user"
    /// Its hold lapsed before it was paid (every later payment answers `reservation_expired`).
    case holdLapsed = "hold_lapsed"
    /// The payment could not complete (the seat was lost after the debit, which was refunded, or
    /// the payer's account refused it).
    case paymentFailed = "payment_failed"
}

// MARK: Requests

/// `reservation.reserve`.
package struct Reserve: Codable, Sendable, Equatable {
    package let userId: Int64
    package let seatId: Int64
    package init(userId: Int64, seatId: Int64) {
        self.userId = userId
        self.seatId = seatId
    }
}

/// `reservation.get`, `reservation.cancel`.
package struct ReservationRef: Codable, Sendable, Equatable {
    package let userId: Int64
    package let reservationId: Int64
    package init(userId: Int64, reservationId: Int64) {
        self.userId = userId
        self.reservationId = reservationId
    }
}

/// `reservation.list`: the newest `limit` (1…1000, default 1000).
package struct ReservationQuery: Codable, Sendable, Equatable {
    package let userId: Int64
    package let limit: Int?
    package init(userId: Int64, limit: Int? = nil) {
        self.userId = userId
        self.limit = limit
    }
}

/// `reservation.pay`: `idempotencyKey` 1–255 characters, scoped to the user.
package struct Pay: Codable, Sendable, Equatable {
    package let userId: Int64
    package let reservationId: Int64
    package let idempotencyKey: String
    package init(userId: Int64, reservationId: Int64, idempotencyKey: String) {
        self.userId = userId
        self.reservationId = reservationId
        self.idempotencyKey = idempotencyKey
    }
}

// MARK: Replies

/// A reservation as its owner sees it (CONTRACT §3), with why it was canceled when it was.
package struct ReservationView: Codable, Sendable, Equatable {
    package let id: Int64
    package let userId: Int64
    package let seatId: Int64
    package let scheduleId: Int64
    package let concertId: Int64
    package let seatNumber: Int
    package let price: Int64
    package let status: ReservationStatus
    /// When the hold lapses (or lapsed): the end of the time to pay.
    package let expiresAt: Date
    package let createdAt: Date
    /// Null unless canceled.
    package let cancelReason: CancelReason?

    package init(id: Int64, userId: Int64, seatId: Int64, scheduleId: Int64, concertId: Int64, seatNumber: Int, price: Int64,
                 status: ReservationStatus, expiresAt: Date, createdAt: Date, cancelReason: CancelReason?) {
        self.id = id
        self.userId = userId
        self.seatId = seatId
        self.scheduleId = scheduleId
        self.concertId = concertId
        self.seatNumber = seatNumber
        self.price = price
        self.status = status
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.cancelReason = cancelReason
    }

    // `cancelReason` is written as an explicit null, so the gateway can pass the view on as it is.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(userId, forKey: .userId)
        try container.encode(seatId, forKey: .seatId)
        try container.encode(scheduleId, forKey: .scheduleId)
        try container.encode(concertId, forKey: .concertId)
        try container.encode(seatNumber, forKey: .seatNumber)
        try container.encode(price, forKey: .price)
        try container.encode(status, forKey: .status)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(cancelReason, forKey: .cancelReason)
    }
}

/// `reservation.reserve`'s reply: the reservation, and whether this call created it (HTTP 201 vs 200).
package struct ReserveOutcome: Codable, Sendable, Equatable {
    package let reservation: ReservationView
    package let created: Bool
    package init(reservation: ReservationView, created: Bool) {
        self.reservation = reservation
        self.created = created
    }
}

/// A reservation's payment (CONTRACT §3: `{id, reservationId, amount, balance, paidAt}`):
/// `balance` is the wallet's right after the payment, so a replay answers exactly the same.
package struct PaymentView: Codable, Sendable, Equatable {
    package let id: Int64
    package let reservationId: Int64
    package let amount: Int64
    package let balance: Int64
    package let paidAt: Date
    package init(id: Int64, reservationId: Int64, amount: Int64, balance: Int64, paidAt: Date) {
        self.id = id
        self.reservationId = reservationId
        self.amount = amount
        self.balance = balance
        self.paidAt = paidAt
    }
}

// MARK: Events

/// The body of `reservation.reserved` and `reservation.canceled`.
package struct ReservationEvent: Codable, Sendable, Equatable {
    package let reservationId: Int64
    package let userId: Int64
    package let seatId: Int64
    package let scheduleId: Int64
    package let status: ReservationStatus
    package let cancelReason: CancelReason?
    package init(reservationId: Int64, userId: Int64, seatId: Int64, scheduleId: Int64, status: ReservationStatus, cancelReason: CancelReason?) {
        self.reservationId = reservationId
        self.userId = userId
        self.seatId = seatId
        self.scheduleId = scheduleId
        self.status = status
        self.cancelReason = cancelReason
    }
}
