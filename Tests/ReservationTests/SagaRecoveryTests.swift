import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import ConcertService
@testable import ReservationService

/// Where a test stops the reservation service: which saga, at which step, before the step's
/// request went out or after its answer came back but before it was recorded.
struct CrashPoint: Sendable, CustomTestStringConvertible {
    enum Saga: String, Sendable { case pay, cancelPaid, expire }
    let saga: Saga
    let step: SagaStep
    let moment: SagaRunner.Moment

    var testDescription: String { "\(saga) at \(step), \(moment == .beforeSend ? "before sending" : "after the answer")" }

    static let all: [CrashPoint] = [SagaRunner.Moment.beforeSend, .afterAnswer].flatMap { moment in
        [SagaStep.extend, .debit, .confirm].map { CrashPoint(saga: .pay, step: $0, moment: moment) }
            + [SagaStep.void, .release].map { CrashPoint(saga: .cancelPaid, step: $0, moment: moment) }
            + [CrashPoint(saga: .expire, step: .release, moment: moment)]
    }
}

@Suite("Sagas survive the reservation service stopping anywhere", .serialized, .timeLimit(.minutes(2)))
struct SagaRecoveryTests {
    @Test("stopped between two steps and started again, every saga completes or compensates", arguments: CrashPoint.all)
    func resumesAfterStop(point: CrashPoint) async throws {
        let armed = Gate()
        let reached = Gate()
        let interruption: SagaRunner.Interruption = { _, step, moment in
            guard armed.isClosed, step == point.step, moment == point.moment else { return false }
            reached.close()
            return true
        }
        try await withWorld(holdSeconds: 60, interruption: interruption) { world in
            let user = try await world.user(balance: 100_000)
            let seat = try #require(try await world.seats().first)
            let held = try await world.reserve(user, seat)
            switch point.saga {
            case .pay:
                armed.close()
                _ = await refusal { try await world.pay(user, held.id, key: "k", learnOutcome: false) }
            case .cancelPaid:
                _ = try await world.pay(user, held.id, key: "k")
                armed.close()
                _ = try await world.cancel(user, held.id)
            case .expire:
                armed.close()
                world.clock.advance(by: 61)
                try await world.reservation.parts.expiry.sweep()
            }
            #expect(await eventually(timeout: .seconds(5)) { reached.isClosed }, "the saga never reached \(point.testDescription)")
            armed.open()
            try await world.restartReservation()
            try await world.settle()

            let view = try await world.get(user, held.id)
            switch point.saga {
            case .pay:
                #expect(view.status == .reserved)
                #expect(try await world.pay(user, held.id, key: "k").amount == 50_000)
                #expect(try await world.balance(user) == 50_000)
            case .cancelPaid:
                #expect(view.status == .canceled && view.cancelReason == .canceledByUser)
                #expect(try await world.balance(user) == 100_000)
                #expect(try await world.seat(seat).status == .available)
            case .expire:
                #expect(view.status == .canceled && view.cancelReason == .holdLapsed)
                #expect(try await world.seat(seat).status == .available)
            }
            #expect(try await world.payments(of: held.id) == (point.saga == .expire ? 0 : 1))
            let log = try await world.reservation.runner.database.log(of: held.id)
            #expect(log.last?.contains("done") == true, "\(log)")
            try await world.expectInvariants()
        }
    }

    @Test("a hold granted to a reservation never recorded (the service died mid-request) is released on start, and listed nowhere")
    func abandonsUnrecordedHold() async throws {
        try await withWorld { world in
            let user = try await world.user()
            let seatId = try #require(try await world.seats().first)
            let database = world.reservation.runner.database
            let start = try await database.beginReserve(userId: user, seatId: seatId,
                                                        holdUntil: world.clock.now().addingTimeInterval(300), maxHolds: 4, now: world.clock.now())
            guard case .started(let record) = start else { Issue.record("expected a new reservation"); return }
            _ = try await world.catalog.hold(HoldSeat(seatId: seatId, reservationId: record.sagaKey, until: record.expiredAt))
            #expect(try await world.list(user).isEmpty)

            try await world.restartReservation()
            try await world.settle()
            #expect(try await world.seat(seatId).status == .available)
            #expect(try await world.list(user).isEmpty)
            #expect(try await database.reservation(id: record.id ?? 0) == nil)
            try await world.expectInvariants()
        }
    }

    @Test("1,000 rounds of a payment racing its hold's expiry: exactly one outcome each time, and nothing charged for a seat not sold")
    func payRacesExpiry() async throws {
        // Two worlds of 500 rounds side by side (each has its own clock), on memory-backed files
        // when the machine has them: the race is in the logic, not the disk.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : nil
        let outcomes = try await withThrowingTaskGroup(of: [ReservationStatus: Int].self) { group in
            for lane in 0..<2 {
                group.addTask { try await Self.race(rounds: 500, lane: lane, base: base) }
            }
            return try await group.reduce(into: [:]) { total, lane in total.merge(lane, uniquingKeysWith: +) }
        }
        #expect(outcomes.values.reduce(0, +) == 1000)
        print("pay vs expiry over 1000 rounds: \(outcomes)")
    }

    /// One world's rounds: each holds a fresh seat, then pays just as the hold ends while both
    /// services' sweepers run and the clock crosses the end.
    static func race(rounds: Int, lane: Int, base: String?) async throws -> [ReservationStatus: Int] {
        let price = 1000
        return try await withWorld(holdSeconds: 10, maxHolds: rounds, base: base) { world in
            let user = try await world.user(balance: Int64(rounds * price))
            let seats = try await world.seats(rounds, price: price)
            var outcomes: [ReservationStatus: Int] = [:]
            for (round, seat) in seats.enumerated() {
                let held = try await world.reserve(user, seat)
                world.clock.set(held.expiresAt.addingTimeInterval(-Double.random(in: 0...0.004)))
                async let paid = refusal { try await world.pay(user, held.id, key: "race-\(round)") }
                async let reservationSweep: Int = world.reservation.parts.expiry.sweep()
                async let concertSweep: Int = world.catalog.sweepLapsedHolds()
                async let tick: Void = {
                    try? await Task.sleep(for: .microseconds(Int.random(in: 0...2000)))
                    world.clock.advance(by: 0.004)
                }()
                // `pay` answers an "unknown" (a machine too busy to finish in time) by asking again with the same key.
                let answer = await paid
                _ = try await (reservationSweep, concertSweep)
                await tick
                try await world.settle()

                let view = try await world.get(user, held.id)
                let seatNow = try await world.seat(seat)
                let payments = try await world.payments(of: held.id)
                let at = "lane \(lane) round \(round)"
                switch view.status {
                case .reserved:
                    #expect(answer == nil, "\(at): reserved, but the payment answered \(answer ?? "")")
                    #expect(seatNow.status == .sold && seatNow.reservationId == "\(held.id)", "\(at)")
                    #expect(payments == 1, "\(at)")
                case .canceled:
                    #expect(answer == ReservationAPI.Code.expired, "\(at): canceled, but the payment answered \(answer ?? "ok")")
                    #expect(seatNow.reservationId != "\(held.id)", "\(at): canceled but the seat is still its own")
                case .reserving:
                    Issue.record("\(at): still reserving after its hold lapsed")
                }
                outcomes[view.status, default: 0] += 1
            }
            let violations = try world.invariants.violations(now: world.clock.now())
            #expect(violations.isEmpty, "lane \(lane): \(violations.prefix(5))")
            // Money: each sold seat cost exactly one price, and nothing else was kept.
            #expect(try await world.balance(user) == Int64((rounds - outcomes[.reserved, default: 0]) * price))
            return outcomes
        }
    }
}
