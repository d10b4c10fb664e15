import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit

/// The concert service's SQLite file (GRDB's `AppDatabase` style): the migrator, and one method per
/// intent, each a single write transaction.
///
/// Two counters live on `concert_schedule` beside the seats, both kept in the same transaction as
/// every seat change:
/// - `remain_ticket` counts the seats whose stored status is `available`. A hold that has lapsed
///   keeps its stored `reserving` until something touches it (re-held, released, confirmed, or the
///   sweeper, which runs every second), and is counted back then. Reads add the lapsed holds they
///   see, so what callers are shown is exact at once, and at rest `remain_ticket` is exact by itself.
/// - `version` goes up on every seat write. The version callers see is `version` plus the number of
///   lapsed, not yet swept holds; a write on a lapsed hold adds one more, and the sweeper adds one per
///   hold it sweeps. So the shown version rises whenever the shown seat map changes, a hold lapsing
///   with the passing of time included, and never repeats for a different map: a sound ETag.
struct ConcertDatabase: Sendable {
    let writer: any DatabaseWriter
    /// Every write goes through it, so writes that wait commit together (DESIGN §6).
    let commits: GroupCommit

    /// The seat maps shown now, kept in memory until a commit or a lapse changes them.
    let shownMaps = ShownSeatMaps()

    init(_ writer: any DatabaseWriter) {
        self.writer = writer
        self.commits = GroupCommit(writer)
        writer.add(transactionObserver: shownMaps, extent: .databaseLifetime)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "concert") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("title", .text).notNull()
                t.column("description", .text).notNull().defaults(to: "")
                // The caller's key for `createConcert`, so a repeat answers the first concert.
                t.column("request_id", .text).unique()
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "concert_schedule") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("concert_id", .integer).notNull().references("concert", onDelete: .cascade)
                t.column("starts_at", .datetime).notNull()
                t.column("remain_ticket", .integer).notNull().check { $0 >= 0 }
                t.column("reservation_start_at", .datetime).notNull()
                t.column("reservation_end_at", .datetime).notNull()
                t.column("version", .integer).notNull().defaults(to: 1)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(index: "concert_schedule_on_window", on: "concert_schedule",
                          columns: ["concert_id", "reservation_start_at", "reservation_end_at"])
            try db.create(table: "concert_seat") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("concert_schedule_id", .integer).notNull().references("concert_schedule", onDelete: .cascade)
                t.column("number", .integer).notNull().check { $0 >= 1 }
                t.column("price", .integer).notNull().check { $0 >= 0 }
                t.column("status", .text).notNull().defaults(to: "available")
                    .check(sql: "status IN ('available', 'reserving', 'sold')")
                t.column("expired_at", .datetime)
                t.column("reservation_id", .text)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.uniqueKey(["concert_schedule_id", "number"])
                // A seat is owned exactly when it is not available, and a hold always has an end.
                t.check(sql: "(status = 'available') = (reservation_id IS NULL)")
                t.check(sql: "status <> 'reserving' OR expired_at IS NOT NULL")
            }
            // Seats by schedule use the unique key above. Two partial indexes cover the holds only:
            // the sweeper's scan, and the per-schedule count of lapsed holds.
            try db.execute(sql: """
                CREATE INDEX concert_seat_lapsing ON concert_seat(expired_at) WHERE status = 'reserving';
                CREATE INDEX concert_seat_lapsing_by_schedule ON concert_seat(concert_schedule_id, expired_at) WHERE status = 'reserving';
                """)
        }
        migrator.registerMigration("v2-released-reservations") { db in
            // Reservations that released their seat: done for good, so a late copy of their hold
            // request (resent while the first was slow) cannot take a seat for nobody.
            try db.execute(sql: """
                CREATE TABLE released_reservation (
                    reservation_id TEXT PRIMARY KEY,
                    created_at DATETIME NOT NULL
                )
                """)
        }
        return migrator
    }

    // MARK: Reads

    /// Every concert, oldest first.
    func concerts() async throws -> [ConcertSummary] {
        try await writer.read { db in
            try ConcertRecord.order(Column("id")).fetchAll(db).map(\.summary)
        }
    }

    /// The schedules of a concert open for reservation at `now` that have seats left.
    func openSchedules(concertId: Int64, now: Date) async throws -> [ScheduleView] {
        try await writer.read { db in
            guard try ConcertRecord.exists(db, key: concertId) else { throw ConcertDatabase.notFound("concert", concertId) }
            return try Self.scheduleViews(db, concertId: concertId, openAt: now, now: now).filter { $0.remainingSeats > 0 }
        }
    }

    /// A schedule's seats sorted by number, lapsed holds shown available, and its shown version; and
    /// when the first hold it shows held lapses, since the map changes then with time alone.
    func seatMap(scheduleId: Int64, now: Date) async throws -> (map: SeatMap, firstLapse: Date?) {
        try await writer.read { db in
            guard let schedule = try ScheduleRecord.find(scheduleId, db) else {
                throw ConcertDatabase.notFound("schedule", scheduleId)
            }
            let seats = try SeatRecord.fetchAll(db.cachedStatement(sql: """
                SELECT \(SeatRecord.columns) FROM concert_seat WHERE concert_schedule_id = ? ORDER BY number
                """), arguments: [scheduleId])
            // The version is counted from the seats, by the same test that shows each one: SQL
            // compares the rounded stored text, which may differ within half a millisecond.
            let version = schedule.version + Int64(seats.count(where: { $0.isLapsed(at: now) }))
            let firstLapse = seats.lazy.filter { $0.status == .reserving && !$0.isLapsed(at: now) }.compactMap(\.expiredAt).min()
            let map = SeatMap(scheduleId: scheduleId, version: version,
                              seats: seats.map { SeatView(id: $0.id, number: $0.number, price: $0.price, status: $0.shownStatus(at: now)) })
            return (map, firstLapse)
        }
    }

    /// How many of a schedule's holds have lapsed but are not swept yet (shown available).
    static func lapsedHolds(_ db: Database, scheduleId: Int64, now: Date) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: """
            SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = ? AND status = 'reserving' AND expired_at <= ?
            """), arguments: [scheduleId, StoredDate.text(now)]) ?? 0
    }

    /// One seat with its schedule.
    func seat(id: Int64, now: Date) async throws -> SeatDetail {
        try await writer.read { db in try Self.fetchSeat(db, id: id).detail(at: now) }
    }

    /// Seats held (and not lapsed) or sold, by id, after `after`: what reconciliation compares.
    func claims(after: Int64, limit: Int, now: Date) async throws -> [ClaimedSeat] {
        try await writer.read { db in
            try SeatRecord.fetchAll(db, sql: """
                SELECT * FROM concert_seat
                WHERE id > ? AND (status = 'sold' OR (status = 'reserving' AND expired_at > ?))
                ORDER BY id LIMIT ?
                """, arguments: [after, now, limit]).compactMap { seat in
                seat.reservationId.map {
                    ClaimedSeat(seatId: seat.id, scheduleId: seat.concertScheduleId, number: seat.number, status: seat.status,
                                reservationId: $0, heldUntil: seat.status == .reserving ? seat.expiredAt : nil)
                }
            }
        }
    }

    // MARK: Seat writes

    /// What a seat write did: the seat as it is afterwards, and whether anything changed.
    struct Outcome: Sendable, Equatable {
        let seat: SeatDetail
        let changed: Bool
    }

    /// Holds a seat for `reservationId` until `until`, if it is available or its hold has lapsed.
    func hold(seatId: Int64, reservationId: String, until: Date, now: Date) async throws -> Outcome {
        try await commits.write { db in
            let found = try Self.fetchSeat(db, id: seatId)
            if found.seat.isHeld(by: reservationId, at: now) { return Outcome(seat: found.detail(at: now), changed: false) }
            if try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM released_reservation WHERE reservation_id = ?)"),
                                 arguments: [reservationId]) == true {
                throw RemoteError(ConcertAPI.Code.seatUnavailable, "reservation \(reservationId.prefix(64)) released its seat and cannot hold one again")
            }
            try Catalog.validate(until: until, now: now)
            guard found.schedule.isOpen(at: now) else {
                throw RemoteError(ConcertAPI.Code.scheduleClosed, ConcertAPI.closedMessage(
                    seatNumber: found.seat.number, from: found.schedule.reservationStartAt, until: found.schedule.reservationEndAt))
            }
            // The one conditional update that decides who gets the seat.
            try db.cachedStatement(sql: """
                UPDATE concert_seat SET status = 'reserving', reservation_id = ?, expired_at = ?, updated_at = ?
                WHERE id = ? AND (status = 'available' OR (status = 'reserving' AND expired_at <= ?))
                """).execute(arguments: [reservationId, StoredDate.text(until), StoredDate.text(now), seatId, StoredDate.text(now)])
            guard db.changesCount == 1 else {
                throw RemoteError(ConcertAPI.Code.seatUnavailable, "seat \(found.seat.number) is held or sold")
            }
            try Self.seatChanged(db, found, now: now)
            return Outcome(seat: try Self.fetchSeat(db, id: seatId).detail(at: now), changed: true)
        }
    }

    /// Moves the end of `reservationId`'s live hold to `until`, never earlier.
    func extend(seatId: Int64, reservationId: String, until: Date, now: Date) async throws -> Outcome {
        try await commits.write { db in
            let found = try Self.fetchSeat(db, id: seatId)
            let seat = found.seat
            // A retry arriving after the sale must not read as a lapse: the seat is this reservation's for good.
            if seat.status == .sold && seat.reservationId == reservationId { return Outcome(seat: found.detail(at: now), changed: false) }
            guard seat.isHeld(by: reservationId, at: now), let current = seat.expiredAt else {
                throw RemoteError(ConcertAPI.Code.holdLapsed, "seat \(seatId) has no live hold for reservation \(reservationId)")
            }
            try Catalog.validate(until: until, now: now)
            guard until > current else { return Outcome(seat: found.detail(at: now), changed: false) }
            try db.cachedStatement(sql: """
                UPDATE concert_seat SET expired_at = ?, updated_at = ?
                WHERE id = ? AND status = 'reserving' AND reservation_id = ? AND expired_at > ?
                """).execute(arguments: [StoredDate.text(until), StoredDate.text(now), seatId, reservationId, StoredDate.text(now)])
            try Self.seatChanged(db, found, now: now)
            return Outcome(seat: try Self.fetchSeat(db, id: seatId).detail(at: now), changed: true)
        }
    }

    /// Sells a seat to the reservation that holds it. A lapsed hold nobody has taken since is
    /// still this reservation's and may be confirmed: by then the saga has taken the money, and
    /// refusing would only force a refund for a seat nobody else wanted.
    func confirm(seatId: Int64, reservationId: String, now: Date) async throws -> Outcome {
        try await commits.write { db in
            let found = try Self.fetchSeat(db, id: seatId)
            if found.seat.status == .sold && found.seat.reservationId == reservationId {
                return Outcome(seat: found.detail(at: now), changed: false)
            }
            try db.cachedStatement(sql: """
                UPDATE concert_seat SET status = 'sold', expired_at = NULL, updated_at = ?
                WHERE id = ? AND status = 'reserving' AND reservation_id = ?
                """).execute(arguments: [StoredDate.text(now), seatId, reservationId])
            guard db.changesCount == 1 else {
                throw RemoteError(ConcertAPI.Code.seatUnavailable, "seat \(seatId) is not held by reservation \(reservationId)")
            }
            try Self.seatChanged(db, found, now: now)
            return Outcome(seat: try Self.fetchSeat(db, id: seatId).detail(at: now), changed: true)
        }
    }

    /// Makes a seat available again if `reservationId` holds it or bought it; otherwise changes the
    /// seat not at all. Either way the reservation can never hold a seat again.
    func release(seatId: Int64, reservationId: String, now: Date) async throws -> Outcome {
        try await commits.write { db in
            let found = try Self.fetchSeat(db, id: seatId)
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO released_reservation (reservation_id, created_at) VALUES (?, ?)")
                .execute(arguments: [reservationId, StoredDate.text(now)])
            try db.cachedStatement(sql: """
                UPDATE concert_seat SET status = 'available', reservation_id = NULL, expired_at = NULL, updated_at = ?
                WHERE id = ? AND status IN ('reserving', 'sold') AND reservation_id = ?
                """).execute(arguments: [StoredDate.text(now), seatId, reservationId])
            guard db.changesCount == 1 else { return Outcome(seat: found.detail(at: now), changed: false) }
            try Self.seatChanged(db, found, now: now)
            return Outcome(seat: try Self.fetchSeat(db, id: seatId).detail(at: now), changed: true)
        }
    }

    /// A hold the sweeper made available again.
    struct LapsedHold: Sendable, Equatable {
        let seatId: Int64
        let scheduleId: Int64
        let reservationId: String
    }

    /// Makes up to `limit` lapsed holds available, counting them back into `remain_ticket`.
    func sweepLapsedHolds(now: Date, limit: Int = 500) async throws -> [LapsedHold] {
        try await commits.write { db in
            // The status is spelled out, not bound, so that SQLite can use the partial index of holds.
            let lapsed = try SeatRecord.fetchAll(db, sql: """
                SELECT * FROM concert_seat WHERE status = 'reserving' AND expired_at <= ? ORDER BY expired_at LIMIT ?
                """, arguments: [now, limit])
            guard !lapsed.isEmpty else { return [] }
            try SeatRecord.filter(keys: lapsed.map(\.id)).updateAll(db, [
                Column("status").set(to: SeatStatus.available.rawValue),
                Column("reservation_id").set(to: nil),
                Column("expired_at").set(to: nil),
                Column("updated_at").set(to: now),
            ])
            // One per swept hold, so the shown version, which already counted the lapse, stays put.
            for (scheduleId, seats) in Dictionary(grouping: lapsed, by: \.concertScheduleId) {
                try Self.adjustSchedule(db, id: scheduleId, remain: seats.count, version: seats.count, now: now)
            }
            return lapsed.map { LapsedHold(seatId: $0.id, scheduleId: $0.concertScheduleId, reservationId: $0.reservationId ?? "") }
        }
    }

    // MARK: Catalog writes

    /// A validated new concert; each schedule's seats are numbered 1…prices.count.
    struct ConcertDraft: Sendable, Equatable {
        struct Schedule: Sendable, Equatable {
            let startsAt: Date
            let reservationStartAt: Date
            let reservationEndAt: Date
            let prices: [Int]
        }

        let title: String
        let description: String
        let requestId: String?
        let schedules: [Schedule]
    }

    /// Creates a concert with its schedules and seats, or answers the one created under the same `requestId`.
    func createConcert(_ draft: ConcertDraft, now: Date) async throws -> ConcertDetail {
        try await commits.write { db in
            if let requestId = draft.requestId,
               let existing = try ConcertRecord.filter(Column("request_id") == requestId).fetchOne(db) {
                return try Self.detail(db, of: existing, now: now)
            }
            return try Self.insert(db, draft, now: now)
        }
    }

    /// Creates the given concerts, all or none, only if there are no concerts yet. Answers whether it did.
    func seedIfEmpty(_ drafts: [ConcertDraft], now: Date) async throws -> Bool {
        try await commits.write { db in
            guard try ConcertRecord.fetchCount(db) == 0 else { return false }
            for draft in drafts { _ = try Self.insert(db, draft, now: now) }
            return true
        }
    }

    // MARK: Helpers (inside a transaction)

    static func notFound(_ what: String, _ id: Int64) -> RemoteError {
        RemoteError(ConcertAPI.Code.notFound, "no \(what) with id \(id)")
    }

    struct FoundSeat {
        let seat: SeatRecord
        let schedule: ScheduleRecord

        func detail(at now: Date) -> SeatDetail {
            let status = seat.shownStatus(at: now)
            return SeatDetail(
                id: seat.id, scheduleId: schedule.id, concertId: schedule.concertId, number: seat.number, price: seat.price,
                status: status, reservationId: status == .available ? nil : seat.reservationId,
                heldUntil: status == .reserving ? seat.expiredAt : nil, startsAt: schedule.startsAt,
                reservationStartAt: schedule.reservationStartAt, reservationEndAt: schedule.reservationEndAt)
        }
    }

    static func fetchSeat(_ db: Database, id: Int64) throws -> FoundSeat {
        guard let seat = try SeatRecord.find(id, db), let schedule = try ScheduleRecord.find(seat.concertScheduleId, db)
        else { throw notFound("seat", id) }
        return FoundSeat(seat: seat, schedule: schedule)
    }

    /// Keeps the schedule's counters true after one seat left the state `before` had it in.
    static func seatChanged(_ db: Database, _ before: FoundSeat, now: Date) throws {
        let after = try fetchSeat(db, id: before.seat.id).seat
        let remain = (after.status == .available ? 1 : 0) - (before.seat.status == .available ? 1 : 0)
        // A write on a lapsed hold also ends the lapse that the shown version was counting.
        let version = 1 + (before.seat.isLapsed(at: now) ? 1 : 0)
        try adjustSchedule(db, id: before.schedule.id, remain: remain, version: version, now: now)
    }

    static func adjustSchedule(_ db: Database, id: Int64, remain: Int, version: Int, now: Date) throws {
        try db.cachedStatement(sql: """
            UPDATE concert_schedule SET remain_ticket = remain_ticket + ?, version = version + ?, updated_at = ? WHERE id = ?
            """).execute(arguments: [remain, version, StoredDate.text(now), id])
    }

    /// A concert's schedules, with the seats available at `now`: those open at `openAt` by performance
    /// time, or, when nil, all of them in the order they were created.
    static func scheduleViews(_ db: Database, concertId: Int64, openAt: Date?, now: Date) throws -> [ScheduleView] {
        var request = ScheduleRecord.filter(Column("concert_id") == concertId).order(Column("id"))
        if let openAt {
            request = request.filter(Column("reservation_start_at") <= openAt && Column("reservation_end_at") > openAt)
                .order(Column("starts_at"), Column("id"))
        }
        return try request.fetchAll(db).map { schedule in
            schedule.view(remainingSeats: schedule.remainTicket + (try lapsedHolds(db, scheduleId: schedule.id, now: now)))
        }
    }

    static func detail(_ db: Database, of concert: ConcertRecord, now: Date) throws -> ConcertDetail {
        ConcertDetail(id: concert.id, title: concert.title, description: concert.description,
                      schedules: try scheduleViews(db, concertId: concert.id, openAt: nil, now: now))
    }

    static func insert(_ db: Database, _ draft: ConcertDraft, now: Date) throws -> ConcertDetail {
        try db.execute(sql: """
            INSERT INTO concert (title, description, request_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [draft.title, draft.description, draft.requestId, now, now])
        let concertId = db.lastInsertedRowID
        let insertSeat = try db.cachedStatement(sql: """
            INSERT INTO concert_seat (concert_schedule_id, number, price, status, created_at, updated_at)
            VALUES (?, ?, ?, 'available', ?, ?)
            """)
        for schedule in draft.schedules {
            try db.execute(sql: """
                INSERT INTO concert_schedule (concert_id, starts_at, remain_ticket, reservation_start_at, reservation_end_at,
                                              version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                """, arguments: [concertId, schedule.startsAt, schedule.prices.count, schedule.reservationStartAt,
                                 schedule.reservationEndAt, now, now])
            let scheduleId = db.lastInsertedRowID
            for (index, price) in schedule.prices.enumerated() {
                try insertSeat.execute(arguments: [scheduleId, index + 1, price, now, now])
            }
        }
        guard let concert = try ConcertRecord.fetchOne(db, key: concertId) else { throw notFound("concert", concertId) }
        return try detail(db, of: concert, now: now)
    }
}

// MARK: Records

/// A row of `concert`.
struct ConcertRecord: SnakeCaseRecord, Sendable {
    static let databaseTableName = "concert"

    let id: Int64
    let title: String
    let description: String
    let requestId: String?
    let createdAt: Date
    let updatedAt: Date

    var summary: ConcertSummary { ConcertSummary(id: id, title: title, description: description) }
}

/// A row of `concert_schedule`: one performance and its reservation window.
struct ScheduleRecord: SnakeCaseRecord, Sendable {
    static let databaseTableName = "concert_schedule"

    let id: Int64
    let concertId: Int64
    let startsAt: Date
    /// Seats whose stored status is `available` (lapsed holds join once swept; see `ConcertDatabase`).
    let remainTicket: Int
    let reservationStartAt: Date
    let reservationEndAt: Date
    let version: Int64
    let createdAt: Date
    let updatedAt: Date

    func isOpen(at now: Date) -> Bool { reservationStartAt <= now && now < reservationEndAt }

    /// The columns in the table's order, read by index in `init(row:)`.
    static let columns = "id, concert_id, starts_at, remain_ticket, reservation_start_at, reservation_end_at, version, created_at, updated_at"
    private static let selectByID = "SELECT \(columns) FROM concert_schedule WHERE id = ?"

    static func find(_ id: Int64, _ db: Database) throws -> ScheduleRecord? {
        try fetchOne(db.cachedStatement(sql: selectByID), arguments: [id])
    }

    func view(remainingSeats: Int) -> ScheduleView {
        ScheduleView(id: id, concertId: concertId, startsAt: startsAt, reservationStartAt: reservationStartAt,
                     reservationEndAt: reservationEndAt, remainingSeats: remainingSeats)
    }
}

extension ScheduleRecord {
    /// Read by index, in the order of `columns`: every hold reads its seat's schedule.
    init(row: Row) throws {
        id = row[0]
        concertId = row[1]
        startsAt = try row.requiredDate(2)
        remainTicket = row[3]
        reservationStartAt = try row.requiredDate(4)
        reservationEndAt = try row.requiredDate(5)
        version = row[6]
        createdAt = try row.requiredDate(7)
        updatedAt = try row.requiredDate(8)
    }
}

/// A row of `concert_seat`.
struct SeatRecord: SnakeCaseRecord, Sendable {
    static let databaseTableName = "concert_seat"

    let id: Int64
    let concertScheduleId: Int64
    let number: Int
    let price: Int
    let status: SeatStatus
    /// When the hold lapses; set only while `reserving`.
    let expiredAt: Date?
    /// The reservation that holds or bought the seat.
    let reservationId: String?
    let createdAt: Date
    let updatedAt: Date

    /// The columns in the table's order: what `init(row:)` reads by index (`SELECT *` gives the same).
    static let columns = "id, concert_schedule_id, number, price, status, expired_at, reservation_id, created_at, updated_at"
    private static let selectByID = "SELECT \(columns) FROM concert_seat WHERE id = ?"

    /// Read column by column, by index: seat rows are read by the thousand (every seat map, every
    /// hold), and the Codable path, or names and GRDB's date parsing, cost several times more per
    /// row (profiled: `make bench`, docs/benchmarks.md).
    init(row: Row) throws {
        id = row[0]
        concertScheduleId = row[1]
        number = row[2]
        price = row[3]
        status = try row.stored(4, of: Self.databaseTableName)
        expiredAt = row.storedDate(5)
        reservationId = row[6]
        createdAt = try row.requiredDate(7)
        updatedAt = try row.requiredDate(8)
    }

    static func find(_ id: Int64, _ db: Database) throws -> SeatRecord? {
        try fetchOne(db.cachedStatement(sql: selectByID), arguments: [id])
    }

    /// A hold whose time has run out: it reads as available and anyone may take it.
    func isLapsed(at now: Date) -> Bool {
        status == .reserving && (expiredAt ?? now) <= now
    }

    func isHeld(by reservationId: String, at now: Date) -> Bool {
        status == .reserving && self.reservationId == reservationId && !isLapsed(at: now)
    }

    func shownStatus(at now: Date) -> SeatStatus {
        isLapsed(at: now) ? .available : status
    }
}
