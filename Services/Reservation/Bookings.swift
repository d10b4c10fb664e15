import Contracts
import Foundation
import Messaging
import ServiceKit

/// The booking rules of CONTRACT §2 the reservation service applies.
struct BookingRules: Sendable {
    /// How long a hold lasts (`HOLD_SECONDS`), at most a day (the longest hold concert grants).
    var holdSeconds: TimeInterval
    /// Live holds one user may have at once (`MAX_HOLDS_PER_USER`).
    var maxHoldsPerUser: Int
    /// How far past its original end a payment may stretch a hold, once: enough for the debit and
    /// the confirmation, never so much that an empty wallet can keep a seat by retrying.
    var extensionSeconds: TimeInterval
    /// How long a request waits for its saga before answering `service_unavailable` (the saga goes
    /// on): under the gateway's 3-second promise.
    var answerWithin: Duration

    init(holdSeconds: TimeInterval, maxHoldsPerUser: Int, answerWithin: Duration = .milliseconds(2500)) {
        self.holdSeconds = min(holdSeconds, ConcertAPI.Limits.longestHoldSeconds)
        self.maxHoldsPerUser = maxHoldsPerUser
        self.extensionSeconds = min(30, self.holdSeconds)
        self.answerWithin = answerWithin
    }

    init(_ configuration: StackConfiguration) {
        self.init(holdSeconds: configuration.holdSeconds, maxHoldsPerUser: configuration.maxHoldsPerUser)
    }
}

/// The reservation service's domain: validates requests, starts sagas and answers once they end.
/// The sagas themselves run in `SagaRunner`, which outlives any one request.
struct Bookings: Sendable {
    let database: ReservationDatabase
    let runner: SagaRunner
    let rules: BookingRules
    let relay: OutboxRelay?

    private var clock: any WallClock { runner.clock }

    // MARK: Reserve

    /// `reservation.reserve`: checks the user's holds, then holds the seat. Concert's hold checks the
    /// seat and its window and answers the seat's details, so the common case is one call to concert.
    /// The refusals keep CONTRACT §3's order (`not_found`, `schedule_closed`, `hold_limit`,
    /// `seat_unavailable`): a user at the limit asks concert about the seat before being told so.
    func reserve(_ request: Reserve) async throws -> ReserveOutcome {
        try Self.validate(userId: request.userId)
        guard request.seatId > 0 else { throw Self.invalid("seatId must be a positive integer") }
        let now = clock.now()
        let start = try await database.beginReserve(userId: request.userId, seatId: request.seatId, holdUntil: now.addingTimeInterval(rules.holdSeconds),
                                                    maxHolds: rules.maxHoldsPerUser, now: now)
        let record: ReservationRecord
        switch start {
        case .existing(let mine):
            guard now < mine.reservationEndAt else { throw Self.scheduleClosed(seatNumber: mine.seatNumber, until: mine.reservationEndAt) }
            return ReserveOutcome(reservation: mine.view, created: false)
        case .atHoldLimit(let count):
            try await refuseClosedOrUnknownSeat(request.seatId, now: now)
            throw RemoteError(ReservationAPI.Code.holdLimit, "you already hold \(count) seats, the most one user may hold at once")
        case .started(let started): record = started
        }
        let id = try record.id.orInternal()
        do {
            let hold = HoldSeat(seatId: request.seatId, reservationId: record.sagaKey, until: record.expiredAt)
            switch try await ask(ConcertAPI.hold, hold) {
            case .success(let seat):
                let recorded = try await database.recordHold(id: id, seat: seat, heldUntil: seat.heldUntil ?? record.expiredAt, now: clock.now())
                return ReserveOutcome(reservation: recorded.view, created: true)
            case .failure(let refusal):
                try await database.dropRefusedHold(id: id, reason: refusal.code, now: clock.now())
                switch refusal.code {
                case ConcertAPI.Code.notFound: throw Self.noSeat(request.seatId)
                // Concert's messages name the seat by its number, as users know it.
                case ConcertAPI.Code.scheduleClosed: throw RemoteError(ReservationAPI.Code.scheduleClosed, refusal.message)
                case ConcertAPI.Code.seatUnavailable: throw RemoteError(ReservationAPI.Code.seatUnavailable, refusal.message)
                default: throw refusal
                }
            }
        } catch let error as RemoteError where error.code != ReservationAPI.Code.serviceUnavailable {
            throw error
        } catch {
            // No answer: whether the seat was held is unknown, and the caller is told it failed, so
            // the runner releases whatever was granted and drops the row.
            try? await database.abandonHold(id: id, now: clock.now())
            runner.drive(id)
            throw error
        }
    }

    /// The refusals that come before `hold_limit`: an unknown seat, or one outside its window.
    private func refuseClosedOrUnknownSeat(_ seatId: Int64, now: Date) async throws {
        switch try await ask(ConcertAPI.seat, SeatRef(seatId: seatId)) {
        case .success(let seat):
            guard seat.reservationStartAt <= now && now < seat.reservationEndAt else {
                throw RemoteError(ReservationAPI.Code.scheduleClosed, ConcertAPI.closedMessage(
                    seatNumber: seat.number, from: seat.reservationStartAt, until: seat.reservationEndAt))
            }
        case .failure(let refusal) where refusal.code == ConcertAPI.Code.notFound: throw Self.noSeat(seatId)
        case .failure(let refusal): throw refusal
        }
    }

    // MARK: Reads

    /// `reservation.get`.
    func get(_ request: ReservationRef) async throws -> ReservationView {
        try Self.validate(userId: request.userId)
        guard let record = try await database.reservation(id: request.reservationId, userId: request.userId) else {
            throw ReservationDatabase.notFound(request.reservationId)
        }
        return record.view
    }

    /// `reservation.list`: newest first.
    func list(_ query: ReservationQuery) async throws -> [ReservationView] {
        try Self.validate(userId: query.userId)
        let limit = query.limit ?? ReservationAPI.maxListLimit
        guard (1...ReservationAPI.maxListLimit).contains(limit) else {
            throw Self.invalid("limit must be from 1 to \(ReservationAPI.maxListLimit)")
        }
        return try await database.reservations(userId: query.userId, limit: limit).map(\.view)
    }

    // MARK: Cancel

    /// `reservation.cancel`: cancels, then waits (bounded) for the seat to be released and any
    /// payment refunded, so the answer usually shows the world already put right.
    func cancel(_ request: ReservationRef) async throws -> ReservationView {
        try Self.validate(userId: request.userId)
        let runId = UUID().uuidString
        runner.watch(runId)
        defer { runner.unwatch(runId) }
        if case .alreadyCanceled(let record) = try await database.beginCancel(request, run: runId, now: clock.now()) {
            return record.view
        }
        relay?.nudge()
        _ = await runner.awaitEnd(request.reservationId, run: runId, within: rules.answerWithin)
        return try await get(request)
    }

    // MARK: Pay

    /// `reservation.pay`: starts the payment saga and answers its outcome, or `service_unavailable`
    /// when it has not ended in time (the same key asked again learns the outcome).
    func pay(_ request: Pay) async throws -> PaymentView {
        try Self.validate(userId: request.userId)
        guard IdempotencyStore.isValidKey(request.idempotencyKey) else {
            throw Self.invalid("idempotencyKey must be \(IdempotencyStore.keyLengths.lowerBound)–\(IdempotencyStore.keyLengths.upperBound) characters")
        }
        let id = request.reservationId
        let runId = UUID().uuidString
        runner.watch(runId)
        defer { runner.unwatch(runId) }
        let started: SagaRows
        switch try await database.beginPay(request, run: runId, extension: rules.extensionSeconds, now: clock.now()) {
        case .replay(let answer):
            return answer
        case .lapsed:
            relay?.nudge()
            runner.drive(id)
            throw ReservationDatabase.expired(id)
        case .started(let rows):
            started = rows
        }
        switch await runner.awaitEnd(id, run: runId, from: started, within: rules.answerWithin) {
        case .paid(let answer):
            return answer
        case .refused(let refusal):
            throw refusal
        case nil, .interrupted:
            throw RemoteError(ReservationAPI.Code.serviceUnavailable,
                              "the payment is still being processed; ask again with the same idempotency key to learn its outcome")
        case .finished:
            if let answer = try await database.storedPayment(userId: request.userId, key: request.idempotencyKey, reservationId: id) {
                return answer
            }
            // The saga ended without a payment: it canceled the reservation and gave back anything taken.
            guard let record = try await database.reservation(id: id, userId: request.userId) else { throw ReservationDatabase.notFound(id) }
            if record.cancelReason == .holdLapsed { throw ReservationDatabase.expired(id) }
            throw ReservationDatabase.notPayable(record)
        }
    }

    // MARK: Events

    /// `reservation.events`: what the outbox holds after a number.
    func events(_ query: EventsQuery) async throws -> EventPage {
        try await Outbox.answer(query, from: database.writer)
    }

    // MARK: Helpers

    /// Calls concert for a request's own checks: a refusal is an answer; no answer is `service_unavailable`.
    private func ask<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async throws -> Result<Response, RemoteError> {
        do {
            return .success(try await runner.peers[.concert].call(method, request, timeout: .seconds(2)))
        } catch let refusal as RemoteError where !SagaRunner.retriedCodes.contains(refusal.code) {
            return .failure(refusal)
        } catch {
            throw RemoteError(ReservationAPI.Code.serviceUnavailable, "the concert service did not answer in time; try again")
        }
    }

    static func invalid(_ message: String) -> RemoteError {
        RemoteError(ReservationAPI.Code.invalidRequest, message)
    }

    static func validate(userId: Int64) throws {
        guard userId > 0 else { throw invalid("userId must be a positive integer") }
    }

    static func scheduleClosed(seatNumber: Int, until end: Date) -> RemoteError {
        RemoteError(ReservationAPI.Code.scheduleClosed, "seat \(seatNumber) could be reserved only until \(end)")
    }

    static func noSeat(_ seatId: Int64) -> RemoteError {
        RemoteError(ReservationAPI.Code.notFound, "no seat \(seatId)")
    }
}
