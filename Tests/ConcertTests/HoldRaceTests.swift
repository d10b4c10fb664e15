import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import ConcertService

/// Concurrent callers against the real database code on a real file (WAL, one writer).
@Suite("Hold races", .timeLimit(.minutes(2)))
struct HoldRaceTests {
    /// Holds `seatId` for 100 different reservations at once; answers the winners and the refusal codes.
    static func race(_ fixture: ConcertFixture, seatId: Int64, tag: String) async -> (winners: [String], refusals: [String]) {
        await withTaskGroup(of: Result<String, RemoteError>.self) { group in
            for index in 0..<100 {
                group.addTask {
                    let reservationId = "\(tag)-\(index)"
                    do {
                        let seat = try await fixture.hold(seatId, for: reservationId, seconds: 60)
                        #expect(seat.reservationId == reservationId)
                        return .success(reservationId)
                    } catch let error as RemoteError {
                        return .failure(error)
                    } catch {
                        return .failure(RemoteError("unexpected", "\(error)"))
                    }
                }
            }
            var winners: [String] = []
            var refusals: [String] = []
            for await result in group {
                switch result {
                case .success(let id): winners.append(id)
                case .failure(let error): refusals.append(error.code)
                }
            }
            return (winners, refusals)
        }
    }

    @Test("100 concurrent holds of one seat by 100 reservations: exactly one wins, 99 are told seat_unavailable")
    func hundredHoldsOneSeat() async throws {
        let folder = try TemporaryDirectory("concert-race")
        defer { folder.remove() }
        let pool = try DatabaseOpener.openPool(path: folder.file("concert.sqlite"), migrator: ConcertService.migrator)
        let fixture = ConcertFixture(writer: pool)
        let (schedule, seats) = try await fixture.schedule(seats: 10)

        let first = await Self.race(fixture, seatId: seats[3].id, tag: "a")
        #expect(first.winners.count == 1)
        #expect(first.refusals == Array(repeating: ConcertAPI.Code.seatUnavailable, count: 99))
        let seat = try await fixture.catalog.seat(SeatRef(seatId: seats[3].id))
        #expect(seat.reservationId == first.winners.first)
        #expect(try fixture.stored(schedule.id).remainTicket == 9)
        #expect(fixture.events.all.count == 1)
        try await fixture.expectCountsTrue()

        // Once the hold lapses, the race for it is just as strict.
        fixture.clock.advance(by: 60)
        let second = await Self.race(fixture, seatId: seats[3].id, tag: "b")
        #expect(second.winners.count == 1)
        #expect(second.refusals == Array(repeating: ConcertAPI.Code.seatUnavailable, count: 99))
        #expect(try fixture.stored(schedule.id).remainTicket == 9)
        try await fixture.expectCountsTrue()
    }
}
