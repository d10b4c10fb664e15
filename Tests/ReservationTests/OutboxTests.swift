import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Synchronization
import Testing
import TestSupport
@testable import ReservationService

/// What a subscriber received, in order.
final class Received: Sendable {
    private let events = Mutex<[ReceivedEvent]>([])
    private let gaps = Mutex<[EventGap]>([])

    var all: [ReceivedEvent] { events.withLock { $0 } }
    var gapsSeen: [EventGap] { gaps.withLock { $0 } }

    func collect(_ subscriber: EventSubscriber) -> Task<Void, Never> {
        Task {
            for await item in subscriber.events {
                switch item {
                case .event(let event): events.withLock { $0.append(event) }
                case .gap(let gap): gaps.withLock { $0.append(gap) }
                }
            }
        }
    }
}

@Suite("Reservation events go out through the outbox", .timeLimit(.minutes(1)))
struct OutboxTests {
    @Test("events are numbered in the outbox, keep their epoch across a restart, and can be asked for again by number")
    func numberedDurableAndRecoverable() async throws {
        try await withWorld { world in
            let subscriber = EventSubscriber(endpoints: [world.folder.ipc("reservation.events")], logger: SagaWorld.logger)
            try subscriber.start()
            let received = Received()
            let collecting = received.collect(subscriber)
            defer { collecting.cancel() }
            // A subscriber joins late (PUB/SUB's slow joiner): give the connection a moment.
            try await Task.sleep(for: .milliseconds(300))

            let user = try await world.user(balance: 100_000)
            let seats = try await world.seats(3)
            let paid = try await world.reserve(user, seats[0])
            _ = try await world.pay(user, paid.id)
            let canceled = try await world.reserve(user, seats[1])
            _ = try await world.cancel(user, canceled.id)
            try await world.settle()
            #expect(await eventually(timeout: .seconds(3)) { received.all.count >= 2 })
            let epoch = try Outbox.numbering(world.reservationFile).epoch
            #expect(received.all.map(\.head.seq) == [1, 2])
            #expect(received.all.map(\.head.type) == [ReservationAPI.Event.reserved, ReservationAPI.Event.canceled])
            #expect(received.all.allSatisfy { $0.head.epoch == epoch && $0.head.source == "reservation" })
            let first = try received.all[0].body(as: ReservationEvent.self)
            #expect(first == ReservationEvent(reservationId: paid.id, userId: user, seatId: seats[0], scheduleId: paid.scheduleId,
                                              status: .reserved, cancelReason: nil))

            // A new process continues the same numbering. Its first events may go out before the
            // subscriber has reconnected (PUB/SUB drops them); the heartbeat then shows the gap, and
            // the subscriber asks for what it missed by number, as DESIGN §3 has it.
            try await world.restartReservation()
            let third = try await world.reserve(user, seats[2])
            _ = try await world.cancel(user, third.id)
            try await world.settle()
            #expect(await eventually(timeout: .seconds(3)) {
                received.all.contains { $0.head.seq == 3 } || received.gapsSeen.contains { $0.missing?.contains(3) == true }
            })
            var seen = received.all.map(\.head.seq)
            for gap in received.gapsSeen {
                #expect(gap.epoch == epoch && !gap.epochChanged)
                guard let missing = gap.missing else { continue }
                let page = try await world.client.call(ReservationAPI.events, EventsQuery(after: missing.lowerBound - 1))
                seen += page.events.map(\.seq).filter { missing.contains($0) }
            }
            #expect(Array(Set(seen)).sorted() == [1, 2, 3])
            #expect(seen.count == 3, "every event once, however it arrived: \(seen)")

            // A subscriber that missed events asks for them by number.
            let page = try await world.client.call(ReservationAPI.events, EventsQuery(after: 1))
            #expect(page.epoch == epoch && page.lastSequence == 3 && page.oldest == 1)
            #expect(page.events.map(\.seq) == [2, 3])
            let body = try WireCodec.decoder.decode(ReservationEvent.self, from: Data(page.events[1].body.utf8))
            #expect(body.reservationId == third.id && body.status == .canceled && body.cancelReason == .canceledByUser)
            #expect(await refusal { try await world.client.call(ReservationAPI.events, EventsQuery(after: 0, limit: 0)) } == "invalid_request")
            await subscriber.stop()
        }
    }
}
