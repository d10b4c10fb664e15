import Foundation
import Messaging

/// The `concert` service's methods and events: the catalog (concerts, schedules, seats) and seat holds.
///
/// The gateway reads the catalog through it; the reservation service holds, extends, confirms and
/// releases seats through it, always naming the reservation (an id it chose) that owns the hold.
/// Refusals arrive as `RemoteError` with a code from `ConcertAPI.Code`.
package enum ConcertAPI {
    /// Every concert: `[{id, title, description}]`.
    package static let listConcerts = RPCMethod<Empty, [ConcertSummary]>("concert.listConcerts", idempotent: true)
    /// The schedules of a concert that are open for reservation now and still have seats.
    /// Refuses `not_found` for an unknown concert.
    package static let schedules = RPCMethod<ConcertRef, [ScheduleView]>("concert.schedules", idempotent: true)
    /// The seats of a schedule, sorted by number, with the version the gateway uses as its ETag;
    /// without the seats when the request's `knownVersion` is still current (no seat is read then).
    /// Refuses `not_found` for an unknown schedule.
    package static let seats = RPCMethod<ScheduleRef, SeatMap>("concert.seats", idempotent: true)
    /// One seat with its schedule's reservation window and concert. Refuses `not_found`.
    package static let seat = RPCMethod<SeatRef, SeatDetail>("concert.seat", idempotent: true)
    /// Holds a seat for a reservation until a time: it must be available, or held by a hold that
    /// has lapsed. Holding again for the same reservation answers the live hold unchanged.
    /// Refuses `not_found`, `schedule_closed` (outside the reservation window), `seat_unavailable`,
    /// `invalid_request` (`until` not in the future, or more than a day ahead).
    package static let hold = RPCMethod<HoldSeat, SeatDetail>("concert.hold", idempotent: true)
    /// Moves a live hold's expiry later (never earlier), only for the reservation that holds it.
    /// Refuses `not_found`, `hold_lapsed` (not this reservation's, or already expired), `invalid_request`.
    /// A seat already sold to this reservation answers as it is.
    package static let extend = RPCMethod<HoldSeat, SeatDetail>("concert.extend", idempotent: true)
    /// Marks a seat held by this reservation as sold. Answers the seat again when it is already sold
    /// to this reservation. A hold that has lapsed but that nobody else has taken may still be
    /// confirmed. Refuses `not_found`, `seat_unavailable`.
    package static let confirm = RPCMethod<SeatClaim, SeatDetail>("concert.confirm", idempotent: true)
    /// Makes a seat available again if this reservation holds it or bought it (a canceled, refunded
    /// reservation). A seat this reservation does not own is answered as it is, unchanged. Either
    /// way the reservation is done: a later `hold` for it is refused `seat_unavailable`, so a late
    /// copy of an abandoned hold request cannot take a seat for nobody. Refuses `not_found`.
    package static let release = RPCMethod<SeatClaim, SeatDetail>("concert.release", idempotent: true)
    /// Creates a concert with its schedules and their seats, numbered 1…seatCount (the admin API).
    /// Refuses `invalid_request`. With a `requestId`, calling again answers the concert the first
    /// call created; without one, every call creates a new concert, so callers never resend it blindly.
    package static let createConcert = RPCMethod<CreateConcert, ConcertDetail>("concert.createConcert", idempotent: false)
    /// Every seat held or sold, by seat id, a page at a time (`reservation.reconcile` compares them
    /// with the reservations). Lapsed holds are left out: the hold sweeper frees them.
    package static let claims = RPCMethod<PageQuery, [ClaimedSeat]>("concert.claims", idempotent: true)

    /// The refusal codes concert answers with (CONTRACT §3 where one fits).
    package enum Code {
        package static let notFound = "not_found"
        package static let invalidRequest = "invalid_request"
        package static let seatUnavailable = "seat_unavailable"
        package static let scheduleClosed = "schedule_closed"
        package static let holdLapsed = "hold_lapsed"
    }

    /// The event types concert publishes, after the change has committed.
    package enum Event {
        /// A seat was held, or a live hold extended: `SeatHeld`.
        package static let seatHeld = "seat.held"
        /// A held seat was sold: `SeatSold`.
        package static let seatSold = "seat.sold"
        /// A seat became available again, released by its reservation or because its hold lapsed: `SeatReleased`.
        package static let seatReleased = "seat.released"
    }

    /// A `schedule_closed` refusal's message, the same from concert's hold and reservation's own checks.
    package static func closedMessage(seatNumber: Int, from start: Date, until end: Date) -> String {
        "seat \(seatNumber) can be reserved only from \(start) until \(end)"
    }

    /// Limits the service enforces on `createConcert`, published so callers can validate early.
    package enum Limits {
        package static let titleLength = 1...200
        package static let descriptionLength = 0...5000
        package static let schedulesPerConcert = 1...50
        package static let seatsPerSchedule = 1...1000
        package static let defaultSeatCount = 50
        /// At least 1 won: every sold seat has exactly one payment (CONTRACT §4), and a payment moves money.
        package static let price = 1...10_000_000
        package static let reservationIdLength = 1...128
        package static let requestIdLength = 1...255
        /// How far ahead of now a hold may be asked to last.
        package static let longestHoldSeconds: TimeInterval = 86_400
    }
}

/// A seat's state as callers see it. A hold that has lapsed reads as `available`.
package enum SeatStatus: String, Codable, Sendable, Equatable, CaseIterable {
    case available, reserving, sold
}

// MARK: Requests

/// `{concertId}`
package struct ConcertRef: Codable, Sendable, Equatable {
    package let concertId: Int64
    package init(concertId: Int64) { self.concertId = concertId }
}

/// `{scheduleId}`
package struct ScheduleRef: Codable, Sendable, Equatable {
    package let scheduleId: Int64
    /// For `concert.seats`: the map version the caller already has (its ETag); when it is still the
    /// current one, the answer leaves the seats out.
    package let knownVersion: Int64?
    package init(scheduleId: Int64, knownVersion: Int64? = nil) {
        self.scheduleId = scheduleId
        self.knownVersion = knownVersion
    }
}

/// `{seatId}`
package struct SeatRef: Codable, Sendable, Equatable {
    package let seatId: Int64
    package init(seatId: Int64) { self.seatId = seatId }
}

/// `{seatId, reservationId, until}`: hold or extend a seat for a reservation until a time.
package struct HoldSeat: Codable, Sendable, Equatable {
    package let seatId: Int64
    package let reservationId: String
    package let until: Date
    package init(seatId: Int64, reservationId: String, until: Date) {
        self.seatId = seatId
        self.reservationId = reservationId
        self.until = until
    }
}

/// `{seatId, reservationId}`: confirm or release a seat on behalf of the reservation that owns it.
package struct SeatClaim: Codable, Sendable, Equatable {
    package let seatId: Int64
    package let reservationId: String
    package init(seatId: Int64, reservationId: String) {
        self.seatId = seatId
        self.reservationId = reservationId
    }
}

/// `{title, description, schedules, requestId?}`: a new concert (the admin API's body).
package struct CreateConcert: Codable, Sendable, Equatable {
    package let title: String
    /// Optional on the wire; absent reads as empty.
    package let description: String
    package let schedules: [NewSchedule]
    /// A key the caller chose: a repeat with the same key answers the concert it created.
    package let requestId: String?

    package init(title: String, description: String, schedules: [NewSchedule], requestId: String? = nil) {
        self.title = title
        self.description = description
        self.schedules = schedules
        self.requestId = requestId
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        title = try container.decode(String.self, forKey: .title)
        description = try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        schedules = try container.decode([NewSchedule].self, forKey: .schedules)
        requestId = try container.decodeIfPresent(String.self, forKey: .requestId)
    }
}

/// One performance of a new concert: `{startsAt, reservationStartAt, reservationEndAt, seatCount?, price}`.
package struct NewSchedule: Codable, Sendable, Equatable {
    package let startsAt: Date
    package let reservationStartAt: Date
    package let reservationEndAt: Date
    /// Optional on the wire; absent reads as `ConcertAPI.Limits.defaultSeatCount`.
    package let seatCount: Int
    /// The price of every seat, in won.
    package let price: Int

    package init(startsAt: Date, reservationStartAt: Date, reservationEndAt: Date,
                 seatCount: Int = ConcertAPI.Limits.defaultSeatCount, price: Int) {
        self.startsAt = startsAt
        self.reservationStartAt = reservationStartAt
        self.reservationEndAt = reservationEndAt
        self.seatCount = seatCount
        self.price = price
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        startsAt = try container.decode(Date.self, forKey: .startsAt)
        reservationStartAt = try container.decode(Date.self, forKey: .reservationStartAt)
        reservationEndAt = try container.decode(Date.self, forKey: .reservationEndAt)
        seatCount = try container.decodeIfPresent(Int.self, forKey: .seatCount) ?? ConcertAPI.Limits.defaultSeatCount
        price = try container.decode(Int.self, forKey: .price)
    }
}

// MARK: Replies

/// `{id, title, description}`: a concert in the list.
package struct ConcertSummary: Codable, Sendable, Equatable {
    package let id: Int64
    package let title: String
    package let description: String
    package init(id: Int64, title: String, description: String) {
        self.id = id
        self.title = title
        self.description = description
    }
}

/// A concert with its schedules: the answer to `createConcert`.
package struct ConcertDetail: Codable, Sendable, Equatable {
    package let id: Int64
    package let title: String
    package let description: String
    package let schedules: [ScheduleView]
    package init(id: Int64, title: String, description: String, schedules: [ScheduleView]) {
        self.id = id
        self.title = title
        self.description = description
        self.schedules = schedules
    }
}

/// `{id, concertId, startsAt, reservationStartAt, reservationEndAt, remainingSeats}`: one performance.
package struct ScheduleView: Codable, Sendable, Equatable {
    package let id: Int64
    package let concertId: Int64
    package let startsAt: Date
    package let reservationStartAt: Date
    package let reservationEndAt: Date
    /// Seats available now, lapsed holds included.
    package let remainingSeats: Int
    package init(id: Int64, concertId: Int64, startsAt: Date, reservationStartAt: Date, reservationEndAt: Date, remainingSeats: Int) {
        self.id = id
        self.concertId = concertId
        self.startsAt = startsAt
        self.reservationStartAt = reservationStartAt
        self.reservationEndAt = reservationEndAt
        self.remainingSeats = remainingSeats
    }
}

/// `{scheduleId, version, seats}`: a schedule's seats sorted by number.
package struct SeatMap: Codable, Sendable, Equatable {
    package let scheduleId: Int64
    /// Changes whenever any seat's shown status changes, a hold lapsing included; never repeats
    /// for different content, so `"<scheduleId>-<version>"` is a sound ETag.
    package let version: Int64
    /// Sorted by number; nil when the request's `knownVersion` is the current version (unchanged).
    package let seats: [SeatView]?
    package init(scheduleId: Int64, version: Int64, seats: [SeatView]?) {
        self.scheduleId = scheduleId
        self.version = version
        self.seats = seats
    }
}

/// `{id, number, price, status}`: a seat in a seat map.
package struct SeatView: Codable, Sendable, Equatable {
    package let id: Int64
    package let number: Int
    package let price: Int
    package let status: SeatStatus
    package init(id: Int64, number: Int, price: Int, status: SeatStatus) {
        self.id = id
        self.number = number
        self.price = price
        self.status = status
    }
}

/// One seat with what the reservation service needs: its price, schedule, concert and the
/// schedule's reservation window, and who holds or bought it.
package struct SeatDetail: Codable, Sendable, Equatable {
    package let id: Int64
    package let scheduleId: Int64
    package let concertId: Int64
    package let number: Int
    package let price: Int
    /// As shown to users: a lapsed hold is `available`.
    package let status: SeatStatus
    /// The reservation that holds (`reserving`) or bought (`sold`) the seat; nil when available.
    package let reservationId: String?
    /// When the hold lapses; nil unless `reserving`.
    package let heldUntil: Date?
    package let startsAt: Date
    package let reservationStartAt: Date
    package let reservationEndAt: Date

    package init(id: Int64, scheduleId: Int64, concertId: Int64, number: Int, price: Int, status: SeatStatus,
                 reservationId: String?, heldUntil: Date?, startsAt: Date, reservationStartAt: Date, reservationEndAt: Date) {
        self.id = id
        self.scheduleId = scheduleId
        self.concertId = concertId
        self.number = number
        self.price = price
        self.status = status
        self.reservationId = reservationId
        self.heldUntil = heldUntil
        self.startsAt = startsAt
        self.reservationStartAt = reservationStartAt
        self.reservationEndAt = reservationEndAt
    }
}

// MARK: Events

/// `seat.held`: a seat was held, or its hold extended, for a reservation until a time.
package struct SeatHeld: Codable, Sendable, Equatable {
    package let seatId: Int64
    package let scheduleId: Int64
    package let reservationId: String
    package let until: Date
    package init(seatId: Int64, scheduleId: Int64, reservationId: String, until: Date) {
        self.seatId = seatId
        self.scheduleId = scheduleId
        self.reservationId = reservationId
        self.until = until
    }
}

/// `seat.sold`: a held seat was confirmed as sold to its reservation.
package struct SeatSold: Codable, Sendable, Equatable {
    package let seatId: Int64
    package let scheduleId: Int64
    package let reservationId: String
    package init(seatId: Int64, scheduleId: Int64, reservationId: String) {
        self.seatId = seatId
        self.scheduleId = scheduleId
        self.reservationId = reservationId
    }
}

/// `seat.released`: a seat is available again; `lapsed` when its hold ran out rather than being released.
package struct SeatReleased: Codable, Sendable, Equatable {
    package let seatId: Int64
    package let scheduleId: Int64
    package let reservationId: String
    package let lapsed: Bool
    package init(seatId: Int64, scheduleId: Int64, reservationId: String, lapsed: Bool) {
        self.seatId = seatId
        self.scheduleId = scheduleId
        self.reservationId = reservationId
        self.lapsed = lapsed
    }
}
