import Contracts
import Foundation
import Messaging
import Testing
@testable import ConcertService

/// Holding, extending, confirming and releasing seats (issue 3, DESIGN §4), on in-memory databases.
@Suite("Seat holds")
struct SeatHoldTests {
    @Test("holding an available seat reserves it for the reservation until the given time")
    func holdAvailableSeat() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        let seat = try await fixture.hold(seats[0].id, for: "r1", seconds: 300)
        #expect(seat.status == .reserving)
        #expect(seat.reservationId == "r1")
        #expect(seat.heldUntil == fixture.now.addingTimeInterval(300))
        #expect(try fixture.stored(schedule.id).remainTicket == 4)
        #expect(fixture.events.all == [.held(SeatHeld(seatId: seat.id, scheduleId: schedule.id, reservationId: "r1",
                                                      until: fixture.now.addingTimeInterval(300)))])
        try await fixture.expectCountsTrue()
    }

    @Test("holding again for the same reservation answers the same hold and changes nothing")
    func holdIsIdempotent() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        let first = try await fixture.hold(seats[0].id, for: "r1", seconds: 300)
        let before = try fixture.stored(schedule.id)
        fixture.clock.advance(by: 10)
        let again = try await fixture.hold(seats[0].id, for: "r1", seconds: 300)
        #expect(again == first)
        #expect(try fixture.stored(schedule.id) == before)
        #expect(fixture.events.all.count == 1)
    }

    @Test("a seat held by another live hold, or sold, cannot be held")
    func heldOrSoldSeatIsUnavailable() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1")
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[0].id, for: "r2") }
        _ = try await fixture.confirm(seats[0].id, for: "r1")
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[0].id, for: "r2") }
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[0].id, for: "r1") }
        try await fixture.expectCountsTrue()
    }

    @Test("a hold that has lapsed shows available at once, in the seat map, the seat and the schedules")
    func lapsedHoldShowsAvailable() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule(seats: 1)
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        #expect(try await fixture.catalog.schedules(ConcertRef(concertId: schedule.concertId)).isEmpty)
        fixture.clock.advance(by: 60)
        #expect(try await fixture.seatMap(schedule.id).seats.map(\.status) == [.available])
        let seat = try await fixture.catalog.seat(SeatRef(seatId: seats[0].id))
        #expect(seat.status == .available)
        #expect(seat.reservationId == nil)
        #expect(seat.heldUntil == nil)
        let open = try await fixture.catalog.schedules(ConcertRef(concertId: schedule.concertId))
        #expect(open.map(\.remainingSeats) == [1])
        try await fixture.expectCountsTrue()
    }

    @Test("after a hold lapses anyone may hold the seat, and remain_ticket stays exact")
    func reHoldAfterLapse() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        fixture.clock.advance(by: 61)
        let seat = try await fixture.hold(seats[0].id, for: "r2", seconds: 60)
        #expect(seat.reservationId == "r2")
        #expect(try fixture.stored(schedule.id).remainTicket == 4)
        try await fixture.expectCountsTrue()
        // The first reservation has lost it for good.
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[0].id, for: "r1") }
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.confirm(seats[0].id, for: "r1") }
        _ = try await fixture.release(seats[0].id, for: "r1")
        #expect(try await fixture.status(seats[0].id) == .reserving)
    }

    @Test("the owner of a lapsed hold may hold the seat again with a new end")
    func ownerReHoldsAfterLapse() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        fixture.clock.advance(by: 120)
        let seat = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        #expect(seat.heldUntil == fixture.now.addingTimeInterval(60))
        try await fixture.expectCountsTrue()
    }

    @Test("a hold must end in the future and within a day", arguments: [0.0, -1, -3600, 86_401, 1e9])
    func holdRefusesBadUntil(seconds: Double) async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        await expectRefusal(ConcertAPI.Code.invalidRequest) { try await fixture.hold(seats[0].id, for: "r1", seconds: seconds) }
        #expect(try await fixture.status(seats[0].id) == .available)
    }

    @Test("a reservation id must be 1–128 characters", arguments: ["", String(repeating: "x", count: 129)])
    func badReservationId(reservationId: String) async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        await expectRefusal(ConcertAPI.Code.invalidRequest) { try await fixture.hold(seats[0].id, for: reservationId) }
        await expectRefusal(ConcertAPI.Code.invalidRequest) { try await fixture.confirm(seats[0].id, for: reservationId) }
        await expectRefusal(ConcertAPI.Code.invalidRequest) { try await fixture.release(seats[0].id, for: reservationId) }
    }

    @Test("a seat can be held only inside its schedule's reservation window")
    func holdOutsideWindow() async throws {
        let fixture = try ConcertFixture()
        let now = fixture.now
        let concert = try await fixture.catalog.createConcert(CreateConcert(title: "Windows", description: "", schedules: [
            NewSchedule(startsAt: now.addingTimeInterval(7200), reservationStartAt: now.addingTimeInterval(60),
                        reservationEndAt: now.addingTimeInterval(3600), seatCount: 1, price: 1000),
        ]))
        let seatId = try await fixture.seatMap(concert.schedules[0].id).seats[0].id
        await expectRefusal(ConcertAPI.Code.scheduleClosed) { try await fixture.hold(seatId, for: "early") }
        fixture.clock.advance(by: 60)
        _ = try await fixture.hold(seatId, for: "in-time", seconds: 10)
        fixture.clock.advance(by: 3600)
        await expectRefusal(ConcertAPI.Code.scheduleClosed) { try await fixture.hold(seatId, for: "late") }
    }

    @Test("every seat method refuses an unknown seat with not_found", arguments: [Int64(0), -1, 999_999, .max])
    func unknownSeat(seatId: Int64) async throws {
        let fixture = try ConcertFixture()
        _ = try await fixture.schedule()
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.catalog.seat(SeatRef(seatId: seatId)) }
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.hold(seatId, for: "r1") }
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.extend(seatId, for: "r1", seconds: 10) }
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.confirm(seatId, for: "r1") }
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.release(seatId, for: "r1") }
    }

    @Test("only the owner's live hold can be extended, and never shortened")
    func extendRules() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        let seatId = seats[0].id
        await expectRefusal(ConcertAPI.Code.holdLapsed) { try await fixture.extend(seatId, for: "r1", seconds: 60) }
        _ = try await fixture.hold(seatId, for: "r1", seconds: 60)
        await expectRefusal(ConcertAPI.Code.holdLapsed) { try await fixture.extend(seatId, for: "r2", seconds: 90) }
        let extended = try await fixture.extend(seatId, for: "r1", seconds: 90)
        #expect(extended.heldUntil == fixture.now.addingTimeInterval(90))
        let shorter = try await fixture.extend(seatId, for: "r1", seconds: 30)
        #expect(shorter.heldUntil == fixture.now.addingTimeInterval(90))
        await expectRefusal(ConcertAPI.Code.invalidRequest) { try await fixture.extend(seatId, for: "r1", seconds: -1) }
        fixture.clock.advance(by: 90)
        await expectRefusal(ConcertAPI.Code.holdLapsed) { try await fixture.extend(seatId, for: "r1", seconds: 60) }
        try await fixture.expectCountsTrue()
    }

    @Test("extending a seat already sold to the reservation answers the sale")
    func extendAfterSale() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1")
        _ = try await fixture.confirm(seats[0].id, for: "r1")
        #expect(try await fixture.extend(seats[0].id, for: "r1", seconds: 60).status == .sold)
        await expectRefusal(ConcertAPI.Code.holdLapsed) { try await fixture.extend(seats[0].id, for: "r2", seconds: 60) }
    }

    @Test("a retry that arrives after the time it asked for still gets its answer: the sale, the hold or hold_lapsed")
    func lateRetries() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        let until = fixture.now.addingTimeInterval(60)
        _ = try await fixture.catalog.hold(HoldSeat(seatId: seats[0].id, reservationId: "r1", until: until))
        _ = try await fixture.confirm(seats[0].id, for: "r1")
        _ = try await fixture.catalog.hold(HoldSeat(seatId: seats[1].id, reservationId: "r2", until: until))
        fixture.clock.advance(by: 61)
        // Sold to r1: the late extend answers the sale, not invalid_request.
        #expect(try await fixture.catalog.extend(HoldSeat(seatId: seats[0].id, reservationId: "r1", until: until)).status == .sold)
        // r2's hold lapsed: the late extend says so.
        await expectRefusal(ConcertAPI.Code.holdLapsed) {
            try await fixture.catalog.extend(HoldSeat(seatId: seats[1].id, reservationId: "r2", until: until))
        }
    }

    @Test("only the owner's hold can be confirmed; confirming again answers the sale")
    func confirmRules() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        let seatId = seats[0].id
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.confirm(seatId, for: "r1") }
        _ = try await fixture.hold(seatId, for: "r1")
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.confirm(seatId, for: "r2") }
        let sold = try await fixture.confirm(seatId, for: "r1")
        #expect(sold.status == .sold)
        #expect(sold.reservationId == "r1")
        #expect(sold.heldUntil == nil)
        let version = try await fixture.seatMap(schedule.id).version
        #expect(try await fixture.confirm(seatId, for: "r1") == sold)
        #expect(try await fixture.seatMap(schedule.id).version == version)
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.confirm(seatId, for: "r2") }
        #expect(fixture.events.all.last == .sold(SeatSold(seatId: seatId, scheduleId: schedule.id, reservationId: "r1")))
        #expect(fixture.events.all.count == 2)
        try await fixture.expectCountsTrue()
    }

    @Test("a lapsed hold nobody has taken since may still be confirmed by its reservation")
    func confirmLapsedUntakenHold() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        fixture.clock.advance(by: 120)
        #expect(try await fixture.confirm(seats[0].id, for: "r1").status == .sold)
        try await fixture.expectCountsTrue()
    }

    @Test("a lapsed hold the sweeper has cleared can no longer be confirmed")
    func confirmAfterSweep() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        fixture.clock.advance(by: 120)
        #expect(try await fixture.catalog.sweepLapsedHolds() == 1)
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.confirm(seats[0].id, for: "r1") }
    }

    @Test("release frees only the owner's seat, is idempotent, and frees a sold seat for a refund")
    func releaseRules() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        let seatId = seats[0].id
        _ = try await fixture.hold(seatId, for: "r1")
        let stranger = try await fixture.release(seatId, for: "r2")
        #expect(stranger.status == .reserving)
        #expect(stranger.reservationId == "r1")
        let released = try await fixture.release(seatId, for: "r1")
        #expect(released.status == .available)
        #expect(released.reservationId == nil)
        let version = try await fixture.seatMap(schedule.id).version
        #expect(try await fixture.release(seatId, for: "r1") == released)
        #expect(try await fixture.seatMap(schedule.id).version == version)
        try await fixture.expectCountsTrue()

        _ = try await fixture.hold(seatId, for: "r3")
        _ = try await fixture.confirm(seatId, for: "r3")
        #expect(try await fixture.release(seatId, for: "r1").status == .sold)
        #expect(try await fixture.release(seatId, for: "r3").status == .available)
        #expect(try fixture.stored(schedule.id).remainTicket == 5)
        let releases = fixture.events.all.filter { if case .released = $0 { true } else { false } }
        #expect(releases == [
            .released(SeatReleased(seatId: seatId, scheduleId: schedule.id, reservationId: "r1", lapsed: false)),
            .released(SeatReleased(seatId: seatId, scheduleId: schedule.id, reservationId: "r3", lapsed: false)),
        ])
        try await fixture.expectCountsTrue()
    }

    @Test("releasing a lapsed hold by its owner counts the seat back")
    func releaseLapsedHold() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        fixture.clock.advance(by: 61)
        #expect(try await fixture.release(seats[0].id, for: "r1").status == .available)
        #expect(try fixture.stored(schedule.id).remainTicket == 5)
        try await fixture.expectCountsTrue()
    }

    @Test("a reservation that released its seat can never hold one again, so a late copy of its hold request takes nothing")
    func releasedReservationCannotHoldAgain() async throws {
        let fixture = try ConcertFixture()
        let (_, seats) = try await fixture.schedule()
        // Released before its (slow) hold request arrived: the release changes no seat, yet ends the reservation.
        _ = try await fixture.release(seats[0].id, for: "abandoned")
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[0].id, for: "abandoned") }
        #expect(try await fixture.status(seats[0].id) == .available)
        // Held, released, then held again: refused too.
        _ = try await fixture.hold(seats[1].id, for: "r1")
        _ = try await fixture.release(seats[1].id, for: "r1")
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[1].id, for: "r1") }
        _ = try await fixture.hold(seats[1].id, for: "r2")
        try await fixture.expectCountsTrue()
    }
}
