import Contracts
import Foundation
import Logging
import TestSupport
import Testing
@testable import ConcertService

/// `remain_ticket` and the seat map's version (the gateway's ETag), through every kind of change.
@Suite("Schedule counters")
struct CountersTests {
    @Test("the version rises on every seat change, a lapse included, and not on reads or refusals")
    func versionFollowsChanges() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        var seen: [Int64] = [try await fixture.seatMap(schedule.id).version]
        func expectRose(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let version = try await fixture.seatMap(schedule.id).version
            #expect(version > seen.last!, "\(what) raises the version", sourceLocation: sourceLocation)
            #expect(!seen.contains(version), sourceLocation: sourceLocation)
            seen.append(version)
        }
        func expectSame(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            #expect(try await fixture.seatMap(schedule.id).version == seen.last!, "\(what) keeps the version", sourceLocation: sourceLocation)
        }

        try await expectSame("reading")
        _ = try await fixture.catalog.seat(SeatRef(seatId: seats[0].id))
        _ = try await fixture.catalog.schedules(ConcertRef(concertId: schedule.concertId))
        try await expectSame("reading the seat and the schedules")
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        try await expectRose("a hold")
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 60)
        await expectRefusal(ConcertAPI.Code.seatUnavailable) { try await fixture.hold(seats[0].id, for: "r2") }
        try await expectSame("a repeated or refused hold")
        _ = try await fixture.extend(seats[0].id, for: "r1", seconds: 120)
        try await expectRose("an extension")
        fixture.clock.advance(by: 120)
        try await expectRose("a hold lapsing")
        try await expectSame("reading again")
        _ = try await fixture.hold(seats[0].id, for: "r2", seconds: 60)
        try await expectRose("re-holding a lapsed seat")
        _ = try await fixture.confirm(seats[0].id, for: "r2")
        try await expectRose("a sale")
        _ = try await fixture.release(seats[0].id, for: "r2")
        try await expectRose("releasing a sold seat")
        _ = try await fixture.release(seats[0].id, for: "r2")
        try await expectSame("releasing again")
        _ = try await fixture.hold(seats[1].id, for: "r3", seconds: 10)
        try await expectRose("another hold")
        fixture.clock.advance(by: 10)
        try await expectRose("its lapse")
        #expect(try await fixture.catalog.sweepLapsedHolds() == 1)
        try await expectSame("sweeping a lapse already shown")
        _ = try await fixture.hold(seats[2].id, for: "r4", seconds: 10)
        fixture.clock.advance(by: 10)
        try await expectRose("a third hold and its lapse")
        _ = try await fixture.release(seats[2].id, for: "r4")
        try await expectRose("releasing a lapsed hold")
    }

    @Test("a version seen before a lapse is never seen again after it")
    func versionNeverRepeats() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 10)
        let held = try await fixture.seatMap(schedule.id)
        fixture.clock.advance(by: 10)
        let lapsed = try await fixture.seatMap(schedule.id)
        _ = try await fixture.hold(seats[0].id, for: "r2", seconds: 10)
        let reHeld = try await fixture.seatMap(schedule.id)
        #expect(held.seats != lapsed.seats && lapsed.seats != reHeld.seats)
        #expect(Set([held.version, lapsed.version, reHeld.version]).count == 3)
    }

    @Test("the sweeper makes lapsed holds available, counts them back and says so")
    func sweeperCountsBack() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        for (index, seat) in seats.prefix(3).enumerated() {
            _ = try await fixture.hold(seat.id, for: "r\(index)", seconds: Double(10 * (index + 1)))
        }
        fixture.clock.advance(by: 20)
        let shown = try await fixture.seatMap(schedule.id)
        #expect(try fixture.stored(schedule.id).remainTicket == 2)
        #expect(try await fixture.catalog.sweepLapsedHolds(batch: 1) == 2)
        #expect(try fixture.stored(schedule.id).remainTicket == 4)
        #expect(try await fixture.seatMap(schedule.id) == shown)
        let lapsed = fixture.events.all.filter { if case .released(let body) = $0 { body.lapsed } else { false } }
        #expect(lapsed == [
            .released(SeatReleased(seatId: seats[0].id, scheduleId: schedule.id, reservationId: "r0", lapsed: true)),
            .released(SeatReleased(seatId: seats[1].id, scheduleId: schedule.id, reservationId: "r1", lapsed: true)),
        ])
        #expect(try await fixture.catalog.sweepLapsedHolds() == 0)
        try await fixture.expectCountsTrue()
    }

    @Test("the sweeper loop sweeps lapsed holds on its own, and stops when cancelled")
    func sweeperLoopRuns() async throws {
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule()
        _ = try await fixture.hold(seats[0].id, for: "r1", seconds: 5)
        var logger = Logger(label: "sweeper-test")
        logger.logLevel = .critical
        let sweeper = HoldSweeper(catalog: fixture.catalog, interval: .milliseconds(10), logger: logger)
        let running = Task { try await sweeper.run() }
        fixture.clock.advance(by: 5)
        let swept = await eventually(timeout: .seconds(20)) { (try? fixture.stored(schedule.id).remainTicket) == 5 }
        #expect(swept)
        running.cancel()
        try await running.value
        try await fixture.expectCountsTrue()
    }

    /// One step of a random walk over the seat methods.
    enum Step: CaseIterable { case hold, extend, confirm, release, advance, sweep }

    @Test("remain_ticket equals the stored available seats after every operation, in any order", arguments: 1...8)
    func randomWalk(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let fixture = try ConcertFixture()
        let (schedule, seats) = try await fixture.schedule(seats: 4)
        for _ in 0..<150 {
            let seatId = seats[Int(random.next() % 4)].id
            let reservation = "r\(random.next() % 3)"
            let seconds = Double(random.next() % 30 + 1)
            switch Step.allCases[Int(random.next() % UInt64(Step.allCases.count))] {
            case .hold: _ = try? await fixture.hold(seatId, for: reservation, seconds: seconds)
            case .extend: _ = try? await fixture.extend(seatId, for: reservation, seconds: seconds)
            case .confirm: _ = try? await fixture.confirm(seatId, for: reservation)
            case .release: _ = try await fixture.release(seatId, for: reservation)
            case .advance: fixture.clock.advance(by: seconds)
            case .sweep: try await fixture.catalog.sweepLapsedHolds()
            }
            try await fixture.expectCountsTrue()
        }
        try await fixture.catalog.sweepLapsedHolds()
        let shownAvailable = try await fixture.seatMap(schedule.id).seats.count(where: { $0.status == .available })
        #expect(try fixture.stored(schedule.id).remainTicket == shownAvailable)
    }
}
