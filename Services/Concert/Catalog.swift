import Contracts
import Foundation
import Messaging
import ServiceKit
import Synchronization

/// A seat change worth telling others about, published after its transaction has committed.
enum SeatEvent: Sendable, Equatable {
    case held(SeatHeld)
    case sold(SeatSold)
    case released(SeatReleased)

    func publish(on publisher: EventPublisher) throws {
        switch self {
        case .held(let body): try publisher.publish(ConcertAPI.Event.seatHeld, body)
        case .sold(let body): try publisher.publish(ConcertAPI.Event.seatSold, body)
        case .released(let body): try publisher.publish(ConcertAPI.Event.seatReleased, body)
        }
    }
}

/// The concert service's domain: validates requests, reads the time from its clock, runs the
/// database's intent methods and announces what changed.
struct Catalog: Sendable {
    let database: ConcertDatabase
    let clock: any WallClock
    /// Called once per change, after its commit. Correctness never depends on it (DESIGN §3).
    let announce: @Sendable (SeatEvent) -> Void

    init(database: ConcertDatabase, clock: any WallClock, announce: @escaping @Sendable (SeatEvent) -> Void = { _ in }) {
        self.database = database
        self.clock = clock
        self.announce = announce
    }

    // MARK: Reads

    /// `concert.listConcerts`: every concert.
    func listConcerts() async throws -> [ConcertSummary] {
        try await database.concerts()
    }

    /// `concert.schedules`: a concert's schedules open for reservation now, with seats left.
    func schedules(_ request: ConcertRef) async throws -> [ScheduleView] {
        try await database.openSchedules(concertId: request.concertId, now: clock.now())
    }

    /// `concert.seats`, as its reply body: a schedule's seat map and its version, without the seats
    /// when the caller's `knownVersion` is current. Answered from memory while the map kept there is
    /// the one shown (`seatsAtOnce`); otherwise read, encoded and kept (`ShownSeatMaps`).
    func seats(_ request: ScheduleRef) async throws -> Data {
        if let answer = try seatsAtOnce(request) { return answer }
        let maps = database.shownMaps
        let mark = maps.mark(of: request.scheduleId)
        let read = try await database.seatMap(scheduleId: request.scheduleId, now: clock.now())
        let body = try WireCodec.encoder.encode(read.map)
        // A millisecond early, so the kept map is never shown once any reader would count the lapse.
        let until = read.firstLapse.map { $0.addingTimeInterval(-0.001) }
        maps.keep(.init(version: read.map.version, body: body, until: until), of: request.scheduleId, readSince: mark)
        return read.map.version == request.knownVersion ? try Self.unchanged(request.scheduleId, read.map.version) : body
    }

    /// `concert.seats` from memory, on the server's socket thread; nil when the map must be read.
    func seatsAtOnce(_ request: ScheduleRef) throws -> Data? {
        guard let shown = database.shownMaps.shown(of: request.scheduleId, at: clock.now()) else { return nil }
        guard shown.version == request.knownVersion else { return shown.body }
        return try Self.unchanged(request.scheduleId, shown.version)
    }

    /// The answer for a caller that has the current version: the version without the seats.
    private static func unchanged(_ scheduleId: Int64, _ version: Int64) throws -> Data {
        try WireCodec.encoder.encode(SeatMap(scheduleId: scheduleId, version: version, seats: nil))
    }

    /// `concert.seat`: one seat with its schedule's window.
    func seat(_ request: SeatRef) async throws -> SeatDetail {
        try await database.seat(id: request.seatId, now: clock.now())
    }

    /// `concert.claims`: seats held or sold, a page at a time.
    func claims(_ request: PageQuery) async throws -> [ClaimedSeat] {
        let limit = request.limit ?? PageQuery.defaultLimit
        guard PageQuery.limits.contains(limit) else { throw Self.invalid("limit must be from 1 to \(PageQuery.limits.upperBound)") }
        return try await database.claims(after: request.after ?? 0, limit: limit, now: clock.now())
    }

    // MARK: Seat writes

    /// `concert.hold`: holds a free or lapsed seat for a reservation.
    func hold(_ request: HoldSeat) async throws -> SeatDetail {
        try await holdUntil(request, write: database.hold(seatId:reservationId:until:now:))
    }

    /// `concert.extend`: moves the end of a reservation's live hold later.
    func extend(_ request: HoldSeat) async throws -> SeatDetail {
        try await holdUntil(request, write: database.extend(seatId:reservationId:until:now:))
    }

    /// Validates a hold or extension, writes it, and announces the new end if it changed.
    private func holdUntil(
        _ request: HoldSeat,
        write: (_ seatId: Int64, _ reservationId: String, _ until: Date, _ now: Date) async throws -> ConcertDatabase.Outcome
    ) async throws -> SeatDetail {
        let now = clock.now()
        try Self.validate(reservationId: request.reservationId)
        // `until` is checked by the write itself, after its replay checks: a retry that arrives
        // after the time it asked for must still get its original answer.
        let outcome = try await write(request.seatId, request.reservationId, request.until, now)
        if outcome.changed, let until = outcome.seat.heldUntil {
            announce(.held(SeatHeld(seatId: outcome.seat.id, scheduleId: outcome.seat.scheduleId,
                                    reservationId: request.reservationId, until: until)))
        }
        return outcome.seat
    }

    /// `concert.confirm`: sells a seat to the reservation that holds it.
    func confirm(_ request: SeatClaim) async throws -> SeatDetail {
        try Self.validate(reservationId: request.reservationId)
        let outcome = try await database.confirm(seatId: request.seatId, reservationId: request.reservationId, now: clock.now())
        if outcome.changed {
            announce(.sold(SeatSold(seatId: outcome.seat.id, scheduleId: outcome.seat.scheduleId, reservationId: request.reservationId)))
        }
        return outcome.seat
    }

    /// `concert.release`: frees a seat the reservation holds or bought; otherwise changes nothing.
    func release(_ request: SeatClaim) async throws -> SeatDetail {
        try Self.validate(reservationId: request.reservationId)
        let outcome = try await database.release(seatId: request.seatId, reservationId: request.reservationId, now: clock.now())
        if outcome.changed {
            announce(.released(SeatReleased(seatId: outcome.seat.id, scheduleId: outcome.seat.scheduleId,
                                            reservationId: request.reservationId, lapsed: false)))
        }
        return outcome.seat
    }

    /// Makes every lapsed hold available again; answers how many it swept.
    @discardableResult
    func sweepLapsedHolds(batch: Int = 500) async throws -> Int {
        var swept = 0
        while true {
            let lapsed = try await database.sweepLapsedHolds(now: clock.now(), limit: batch)
            for hold in lapsed {
                announce(.released(SeatReleased(seatId: hold.seatId, scheduleId: hold.scheduleId, reservationId: hold.reservationId, lapsed: true)))
            }
            swept += lapsed.count
            if lapsed.count < batch { return swept }
        }
    }

    // MARK: Catalog writes

    /// `concert.createConcert`: validates and creates a concert with its schedules and seats.
    func createConcert(_ request: CreateConcert) async throws -> ConcertDetail {
        try await database.createConcert(try Self.draft(request), now: clock.now())
    }

    /// Seeds the demo catalog into a database that has no concerts; answers whether it did.
    func seedDemoIfEmpty() async throws -> Bool {
        let now = clock.now()
        return try await database.seedIfEmpty(DemoCatalog.drafts(now: now), now: now)
    }

    // MARK: Validation

    static func invalid(_ message: String) -> RemoteError {
        RemoteError(ConcertAPI.Code.invalidRequest, message)
    }

    static func validate(reservationId: String) throws {
        guard ConcertAPI.Limits.reservationIdLength.contains(reservationId.count) else {
            throw invalid("reservationId must be \(ConcertAPI.Limits.reservationIdLength.lowerBound)–\(ConcertAPI.Limits.reservationIdLength.upperBound) characters")
        }
    }

    /// A hold must end in the future, and not absurdly far in it: a seat must never be kept forever.
    static func validate(until: Date, now: Date) throws {
        guard until > now else { throw invalid("until must be in the future") }
        guard until.timeIntervalSince(now) <= ConcertAPI.Limits.longestHoldSeconds else {
            throw invalid("until must be at most \(Int(ConcertAPI.Limits.longestHoldSeconds)) seconds from now")
        }
    }

    /// Dates the catalog accepts. Far-off years are typing mistakes, and four-digit years keep the
    /// stored timestamps in the order SQL compares them.
    static let plausibleDates = Date(timeIntervalSince1970: 946_684_800)..<Date(timeIntervalSince1970: 32_503_680_000)

    /// Checks a `createConcert` request and turns it into what the database inserts.
    static func draft(_ request: CreateConcert) throws -> ConcertDatabase.ConcertDraft {
        let limits = ConcertAPI.Limits.self
        let title = request.title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard limits.titleLength.contains(title.count) else {
            throw invalid("title must be \(limits.titleLength.lowerBound)–\(limits.titleLength.upperBound) characters")
        }
        let description = request.description.trimmingCharacters(in: .whitespacesAndNewlines)
        guard limits.descriptionLength.contains(description.count) else {
            throw invalid("description must be at most \(limits.descriptionLength.upperBound) characters")
        }
        if let requestId = request.requestId, !limits.requestIdLength.contains(requestId.count) {
            throw invalid("requestId must be \(limits.requestIdLength.lowerBound)–\(limits.requestIdLength.upperBound) characters")
        }
        guard limits.schedulesPerConcert.contains(request.schedules.count) else {
            throw invalid("a concert has \(limits.schedulesPerConcert.lowerBound)–\(limits.schedulesPerConcert.upperBound) schedules")
        }
        let schedules = try request.schedules.enumerated().map { index, schedule in
            let at = "schedules.\(index)"
            for date in [schedule.startsAt, schedule.reservationStartAt, schedule.reservationEndAt] where !plausibleDates.contains(date) {
                throw invalid("\(at): dates must fall in the years 2000–2999")
            }
            guard schedule.reservationStartAt < schedule.reservationEndAt else {
                throw invalid("\(at): reservationStartAt must be before reservationEndAt")
            }
            guard limits.seatsPerSchedule.contains(schedule.seatCount) else {
                throw invalid("\(at): seatCount must be \(limits.seatsPerSchedule.lowerBound)–\(limits.seatsPerSchedule.upperBound)")
            }
            guard limits.price.contains(schedule.price) else {
                throw invalid("\(at): price must be a whole number of won, \(limits.price.lowerBound)–\(limits.price.upperBound)")
            }
            return ConcertDatabase.ConcertDraft.Schedule(
                startsAt: schedule.startsAt, reservationStartAt: schedule.reservationStartAt,
                reservationEndAt: schedule.reservationEndAt, prices: Array(repeating: schedule.price, count: schedule.seatCount))
        }
        return ConcertDatabase.ConcertDraft(title: title, description: description, requestId: request.requestId, schedules: schedules)
    }
}
