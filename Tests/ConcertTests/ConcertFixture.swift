import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Synchronization
import Testing
@testable import ConcertService

/// The seat events a `Catalog` announced, in order.
final class SeatEvents: Sendable {
    private let events = Mutex<[SeatEvent]>([])

    var all: [SeatEvent] { events.withLock { $0 } }

    func record(_ event: SeatEvent) {
        events.withLock { $0.append(event) }
    }
}

/// A catalog over a migrated database with a clock the test moves, and the events it announced.
struct ConcertFixture {
    let clock: ManualClock
    let events = SeatEvents()
    let writer: any DatabaseWriter
    let catalog: Catalog

    /// Over a fresh in-memory database.
    init(clock: ManualClock = ManualClock()) throws {
        try self.init(writer: DatabaseOpener.openInMemory(migrator: ConcertService.migrator), clock: clock)
    }

    /// Over `writer`, already migrated (a real file pool in the race test).
    init(writer: any DatabaseWriter, clock: ManualClock = ManualClock()) {
        self.clock = clock
        self.writer = writer
        let events = self.events
        catalog = Catalog(database: ConcertDatabase(writer), clock: clock) { events.record($0) }
    }

    var now: Date { clock.now() }

    /// A schedule whose reservation window opened an hour ago and closes in a day.
    func openSchedule(_ seatCount: Int = 5, price: Int = 100_000, startingIn hours: Double = 48) -> NewSchedule {
        NewSchedule(startsAt: now.addingTimeInterval(hours * 3600), reservationStartAt: now.addingTimeInterval(-3600),
                    reservationEndAt: now.addingTimeInterval(86_400), seatCount: seatCount, price: price)
    }

    /// A new concert with one open schedule of `seatCount` seats; answers the schedule and its seats.
    func schedule(seats seatCount: Int = 5, price: Int = 100_000) async throws -> (schedule: ScheduleView, seats: [SeatView]) {
        let concert = try await catalog.createConcert(CreateConcert(title: "Test", description: "", schedules: [openSchedule(seatCount, price: price)]))
        let schedule = try #require(concert.schedules.first)
        return (schedule, try await seatMap(schedule.id).seats)
    }

    func hold(_ seatId: Int64, for reservationId: String, seconds: Double = 300) async throws -> SeatDetail {
        try await catalog.hold(HoldSeat(seatId: seatId, reservationId: reservationId, until: now.addingTimeInterval(seconds)))
    }

    func extend(_ seatId: Int64, for reservationId: String, seconds: Double) async throws -> SeatDetail {
        try await catalog.extend(HoldSeat(seatId: seatId, reservationId: reservationId, until: now.addingTimeInterval(seconds)))
    }

    func confirm(_ seatId: Int64, for reservationId: String) async throws -> SeatDetail {
        try await catalog.confirm(SeatClaim(seatId: seatId, reservationId: reservationId))
    }

    func release(_ seatId: Int64, for reservationId: String) async throws -> SeatDetail {
        try await catalog.release(SeatClaim(seatId: seatId, reservationId: reservationId))
    }

    /// A whole seat map (asked without a known version, so its seats are always there).
    func seatMap(_ scheduleId: Int64) async throws -> ShownMap {
        try ShownMap(try WireCodec.decoder.decode(SeatMap.self, from: try await catalog.seats(ScheduleRef(scheduleId: scheduleId))))
    }

    func status(_ seatId: Int64) async throws -> SeatStatus {
        try await catalog.seat(SeatRef(seatId: seatId)).status
    }

    /// The stored counters of a schedule.
    func stored(_ scheduleId: Int64) throws -> (remainTicket: Int, version: Int64) {
        let schedule = try #require(try writer.read { try ScheduleRecord.fetchOne($0, key: scheduleId) })
        return (schedule.remainTicket, schedule.version)
    }

    /// CONTRACT §4 for every schedule, as far as it holds before the sweeper has run: every seat
    /// counted once, `remain_ticket` = stored available seats, and the seats shown available =
    /// `remain_ticket` + lapsed holds = what `schedules` reports.
    func expectCountsTrue(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let now = self.now
        let rows = try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.id, s.remain_ticket,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id) AS seats,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id AND status = 'available') AS available,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id AND status = 'reserving') AS reserving,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id AND status = 'sold') AS sold,
                       (SELECT COUNT(*) FROM concert_seat WHERE concert_schedule_id = s.id AND status = 'reserving' AND expired_at <= ?) AS lapsed
                FROM concert_schedule s
                """, arguments: [now])
        }
        for row in rows {
            let (id, remain, seats, available, reserving, sold, lapsed): (Int64, Int, Int, Int, Int, Int, Int) =
                (row["id"], row["remain_ticket"], row["seats"], row["available"], row["reserving"], row["sold"], row["lapsed"])
            #expect(available + reserving + sold == seats, "schedule \(id): every seat counted once", sourceLocation: sourceLocation)
            #expect(remain == available, "schedule \(id): remain_ticket = stored available seats", sourceLocation: sourceLocation)
            let shown = try await seatMap(id).seats.count(where: { $0.status == .available })
            #expect(shown == remain + lapsed, "schedule \(id): shown available = remain_ticket + lapsed", sourceLocation: sourceLocation)
        }
    }
}

/// Expects `body` to be refused with the given `RemoteError` code.
func expectRefusal<T>(_ code: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async {
    do {
        let value = try await body()
        Issue.record("expected refusal \(code), got \(value)", sourceLocation: sourceLocation)
    } catch let error as RemoteError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected refusal \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A seat map with its seats: what `concert.seats` answers when the caller knows no version.
struct ShownMap: Equatable {
    let scheduleId: Int64
    let version: Int64
    let seats: [SeatView]

    init(_ map: SeatMap) throws {
        scheduleId = map.scheduleId
        version = map.version
        seats = try #require(map.seats, "a seat map asked for without a known version has its seats")
    }
}
