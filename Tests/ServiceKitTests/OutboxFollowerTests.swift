import Contracts
import Foundation
import GRDB
import Messaging
import Synchronization
import Testing
import TestSupport
@testable import ServiceKit

/// A stand-in for a service that publishes from an outbox, over real sockets: the outbox in an
/// in-memory database, a PUB socket the test publishes from by hand (so it can skip, repeat and
/// lose events at will), and `reservation.events` answered by a real RPC server.
final class OutboxStandIn: Sendable {
    let folder: TemporaryDirectory
    let served: ServedHandlers
    var eventsEndpoint: String { folder.ipc("events") }
    private let database: Slot
    private let publisher: Mutex<EventPublisher?> = Mutex(nil)

    /// The database the handler answers from, swapped when the service gets a new one.
    private final class Slot: Sendable {
        let queue: Mutex<DatabaseQueue>
        init(_ queue: DatabaseQueue) { self.queue = Mutex(queue) }
    }

    init() throws {
        let database = Slot(try Self.outbox())
        self.database = database
        var handlers = RPCHandlers()
        handlers.on(ServiceName.reservation.events) { query in try await Outbox.answer(query, from: database.queue.withLock { $0 }) }
        served = try ServedHandlers(service: "reservation", handlers: handlers)
        folder = try TemporaryDirectory("follow")
        try startPublisher()
    }

    static func outbox() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { try Outbox.createTables($0) }
        return queue
    }

    var epoch: String { (try? Outbox.numbering(current).epoch) ?? "" }
    private var current: DatabaseQueue { database.queue.withLock { $0 } }

    /// Commits `count` events to the outbox (none published); answers their numbers.
    @discardableResult
    func append(_ count: Int) throws -> ClosedRange<UInt64> {
        try current.write { db in
            for _ in 0..<count { try Outbox.append("test.happened", ["at": Date().timeIntervalSince1970], in: db, at: Date()) }
            let last = UInt64(try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM outbox") ?? 0)
            return (last + 1 - UInt64(count))...last
        }
    }

    /// Publishes these outbox events live, as a relay would (again, if they went out before).
    func publish(_ numbers: ClosedRange<UInt64>) throws {
        let page = try Outbox.page(current, after: numbers.lowerBound - 1, limit: numbers.count)
        let live = publisher.withLock { $0 }
        for event in page.events { live?.publish(sequence: event.seq, type: event.type, body: Data(event.body.utf8)) }
    }

    /// The publisher restarted: the same endpoint, the outbox's epoch, `lastSequence` in its heartbeats.
    func restartPublisher(lastSequence: UInt64) async throws {
        await publisher.withLock { $0 }?.stop()
        try startPublisher(lastSequence: lastSequence)
    }

    /// Swaps in a new database (a new epoch: the numbering begins again) and restarts the publisher on it.
    func replaceDatabase() async throws {
        let fresh = try Self.outbox()
        database.queue.withLock { $0 = fresh }
        try await restartPublisher(lastSequence: 0)
    }

    func follower(from position: EventPosition = .beginning, idleCheck: Duration = .seconds(60),
                  patience: Duration = .seconds(10)) -> OutboxFollower {
        var settings = OutboxFollower.Settings()
        settings.idleCheck = idleCheck
        settings.patience = patience
        return OutboxFollower(service: .reservation, eventsEndpoint: eventsEndpoint, client: served.client, from: position,
                              settings: settings, logger: ServedHandlers.logger)
    }

    func stop() async {
        await publisher.withLock { $0 }?.stop()
        await served.stop()
        folder.remove()
    }

    private func startPublisher(lastSequence: UInt64 = 0) throws {
        let started = EventPublisher(source: "reservation", endpoint: eventsEndpoint, logger: ServedHandlers.logger, epoch: epoch,
                                     lastSequence: lastSequence, heartbeatInterval: .milliseconds(100))
        try started.start()
        publisher.withLock { $0 = started }
    }
}

/// What a follower handed on, in order.
final class Delivered: Sendable {
    private let events = Mutex<[FollowedEvent]>([])

    var all: [FollowedEvent] { events.withLock { $0 } }
    var numbers: [UInt64] { all.map(\.seq) }

    func add(_ event: FollowedEvent) { events.withLock { $0.append(event) } }
}

@Suite("Following an outbox publisher: every event once, in order", .timeLimit(.minutes(1)))
struct OutboxFollowerTests {
    /// Publishes an event a time until the follower has taken `count` of them live (the subscription
    /// is then connected) and has handed on everything; answers the last number.
    @discardableResult
    func warmUp(_ standIn: OutboxStandIn, _ follower: OutboxFollower, live count: Int) async throws -> UInt64 {
        var last: UInt64 = 0
        let connected = try await eventually(timeout: .seconds(5), interval: .milliseconds(50)) {
            let appended = try standIn.append(1)
            try standIn.publish(appended)
            last = appended.upperBound
            return follower.statistics.live >= count
        }
        try #require(connected, "no event arrived live: \(follower.statistics)")
        let handedOn = await eventually(timeout: .seconds(5)) {
            let done = follower.statistics
            return UInt64(done.live + done.caughtUp) == last
        }
        try #require(handedOn, "\(follower.statistics)")
        return last
    }

    @Test("a follower that starts while the relay is behind catches the backlog up over request/reply, drops those events when they then come live, and takes new ones live")
    func backlogThenLive() async throws {
        let standIn = try OutboxStandIn()
        // Committed before the follower starts, published only after it has caught up.
        let backlog = try standIn.append(5)
        let follower = standIn.follower()
        let delivered = Delivered()
        let following = Task { try await follower.follow { delivered.add($0) } }
        #expect(await eventually(timeout: .seconds(5)) { delivered.all.count == 5 })
        #expect(delivered.all.allSatisfy { $0.arrival == .caughtUp && $0.epoch == standIn.epoch })

        // Sent until the subscription is connected (PUB/SUB drops what goes out before that).
        let dropped = try await eventually(timeout: .seconds(5), interval: .milliseconds(100)) {
            try standIn.publish(backlog)
            return follower.statistics.alreadyHad >= 1
        }
        #expect(dropped, "\(follower.statistics)")
        let last = try await warmUp(standIn, follower, live: 2)

        following.cancel()
        let reached = try await following.value
        #expect(delivered.numbers == Array(1...last), "every number once, in order")
        #expect(reached == EventPosition(epoch: standIn.epoch, seq: last))
        let body = try #require(delivered.all.first?.body)
        #expect(body.hasPrefix("{\"at\":"), "the body as the outbox holds it: \(body)")
        print("follower: \(follower.statistics)")
        await standIn.stop()
    }

    @Test("a number skipped live, and a lost tail that only a heartbeat shows, are fetched over request/reply at once")
    func gapsAreFetched() async throws {
        let standIn = try OutboxStandIn()
        // The idle check is a minute away: only the gaps themselves can bring these events in time.
        let follower = standIn.follower(idleCheck: .seconds(60))
        let delivered = Delivered()
        let following = Task { try await follower.follow { delivered.add($0) } }
        try await warmUp(standIn, follower, live: 1)

        let hadBefore = follower.statistics.alreadyHad
        let skipped = try standIn.append(2)
        try standIn.publish(skipped.upperBound...skipped.upperBound)
        // The skipped-to event itself came with the catch-up it set off, so its live copy is dropped
        // (counted once the catch-up is done: wait for both, not just the delivery).
        #expect(await eventually(timeout: .seconds(3)) {
            delivered.numbers.last == skipped.upperBound && follower.statistics.alreadyHad >= hadBefore + 1
        })
        #expect(follower.statistics.alreadyHad == hadBefore + 1)
        let caughtUpBefore = follower.statistics.caughtUp

        // The relay commits an event and dies before publishing it; restarted, it heartbeats its number.
        let tail = try standIn.append(1)
        try await standIn.restartPublisher(lastSequence: tail.upperBound)
        #expect(await eventually(timeout: .seconds(3)) { delivered.numbers.last == tail.upperBound }, "\(follower.statistics)")

        following.cancel()
        _ = try await following.value
        #expect(delivered.numbers == Array(1...tail.upperBound))
        #expect(delivered.all.first { $0.seq == skipped.lowerBound }?.arrival == .caughtUp)
        #expect(delivered.all.last?.arrival == .caughtUp)
        #expect(follower.statistics.caughtUp > caughtUpBefore)
        await standIn.stop()
    }

    @Test("a recorded epoch that is not the publisher's stops the follower with the reason, in a catch-up and while following")
    func epochChangeIsReported() async throws {
        let standIn = try OutboxStandIn()
        try standIn.append(3)
        let stale = standIn.follower(from: EventPosition(epoch: "an-older-database", seq: 3))
        await #expect(throws: FollowError.epochChanged(recorded: "an-older-database", publisher: standIn.epoch)) {
            try await stale.catchUp { _ in Issue.record("nothing of another numbering is handed on") }
        }

        let follower = standIn.follower()
        let delivered = Delivered()
        let following = Task { try await follower.follow { delivered.add($0) } }
        try await warmUp(standIn, follower, live: 1)
        let first = standIn.epoch
        let count = delivered.all.count
        try await standIn.replaceDatabase()
        try standIn.publish(try standIn.append(2))
        let outcome = await following.result
        #expect(throws: FollowError.epochChanged(recorded: first, publisher: standIn.epoch)) { try outcome.get() }
        #expect(delivered.all.count == count && delivered.all.allSatisfy { $0.epoch == first })
        await standIn.stop()
    }

    @Test("a publisher that does not answer is asked again with backoff; one back in time is caught up, one away too long is given up on")
    func publisherAway() async throws {
        let folder = try TemporaryDirectory("away")
        defer { folder.remove() }
        let endpoint = folder.ipc("rpc")
        let client = try RPCClient(endpoint: endpoint, logger: ServedHandlers.logger)
        var settings = OutboxFollower.Settings()
        settings.callTimeout = .milliseconds(200)
        // Long enough for a retry or two even at the suite's start, when every test starts at once on
        // two cores and a 200 ms call has been seen to take 1.5 s; the point is that it gives up, in bounded time.
        settings.patience = .seconds(4)
        let impatient = OutboxFollower(service: .reservation, eventsEndpoint: folder.ipc("events"), client: client, from: .beginning,
                                       settings: settings, logger: ServedHandlers.logger)
        let started = ContinuousClock.now
        let refusal = await #expect(throws: FollowError.self) { try await impatient.catchUp { _ in } }
        guard case .unreachable(let target, _, _)? = refusal else {
            Issue.record("expected unreachable, got \(String(describing: refusal))")
            return
        }
        #expect(target == endpoint)
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(impatient.statistics.retries >= 1)

        // Back after a second: the same calls, retried, get their answer.
        let outbox = try OutboxStandIn.outbox()
        try await outbox.write { db in
            for n in 1...3 { try Outbox.append("test.happened", ["n": n], in: db, at: Date()) }
        }
        var handlers = RPCHandlers()
        handlers.on(ServiceName.reservation.events) { try await Outbox.answer($0, from: outbox) }
        let server = RPCServer(service: "reservation", endpoint: endpoint, handlers: handlers, logger: ServedHandlers.logger)
        let late = Task {
            try await Task.sleep(for: .seconds(1))
            try server.start()
        }
        settings.patience = .seconds(10)
        let patient = OutboxFollower(service: .reservation, eventsEndpoint: folder.ipc("events"), client: client, from: .beginning,
                                     settings: settings, logger: ServedHandlers.logger)
        let delivered = Delivered()
        let reached = try await patient.catchUp { delivered.add($0) }
        #expect(delivered.numbers == [1, 2, 3] && reached.seq == 3)
        #expect(patient.statistics.retries >= 1)
        try await late.value
        await client.close()
        await server.stop()
    }
}

@Suite("Where a follower stands: live events judged, catch-up pages checked")
struct EventCursorTests {
    func page(_ numbers: [UInt64], epoch: String = "e", last: UInt64? = nil, oldest: UInt64 = 1) -> EventPage {
        EventPage(epoch: epoch, events: numbers.map { StoredEvent(seq: $0, type: "t", body: "{}") },
                  lastSequence: last ?? numbers.last ?? 0, oldest: oldest)
    }

    @Test("the next number is taken, one already had is dropped, one further on or of another epoch calls for a catch-up")
    func verdicts() {
        let cursor = EventCursor(position: EventPosition(epoch: "e", seq: 5))
        #expect(cursor.judge(epoch: "e", seq: 6) == .next)
        #expect(cursor.judge(epoch: "e", seq: 5) == .seen)
        #expect(cursor.judge(epoch: "e", seq: 1) == .seen)
        #expect(cursor.judge(epoch: "e", seq: 8) == .ahead)
        #expect(cursor.judge(epoch: "f", seq: 6) == .otherEpoch)
        #expect(EventCursor(position: .beginning).judge(epoch: "e", seq: 1) == .ahead)
    }

    @Test("a page gives what follows the position, in order; a first start takes the numbering from the oldest event kept")
    func pages() throws {
        var cursor = EventCursor(position: EventPosition(epoch: "e", seq: 2))
        #expect(try cursor.unseen(in: page([3, 4, 5])).map(\.seq) == [3, 4, 5])
        #expect(try cursor.unseen(in: page([], last: 2)).isEmpty)

        var fresh = EventCursor(position: .beginning)
        #expect(try fresh.unseen(in: page([40, 41], oldest: 40)).map(\.seq) == [40, 41])
        #expect(fresh.position == EventPosition(epoch: "e", seq: 39))
        var empty = EventCursor(position: .beginning)
        #expect(try empty.unseen(in: page([], last: 7, oldest: 8)).isEmpty)
        #expect(empty.position == EventPosition(epoch: "e", seq: 7))
    }

    @Test("a page of another epoch, one that skips numbers, one that was purged past the position, or one behind it is refused")
    func refusals() {
        var cursor = EventCursor(position: EventPosition(epoch: "e", seq: 2))
        #expect(throws: FollowError.epochChanged(recorded: "e", publisher: "f")) { try cursor.unseen(in: page([3], epoch: "f")) }
        #expect(throws: FollowError.lost(3...4, epoch: "e")) { try cursor.unseen(in: page([5, 6], oldest: 5)) }
        #expect(throws: FollowError.lost(4...4, epoch: "e")) { try cursor.unseen(in: page([3, 5])) }
        #expect(throws: FollowError.lost(3...9, epoch: "e")) { try cursor.unseen(in: page([], last: 9, oldest: 10)) }
        #expect(throws: FollowError.behind(position: 2, publisherLast: 1, epoch: "e")) { try cursor.unseen(in: page([], last: 1)) }
        #expect(cursor.position == EventPosition(epoch: "e", seq: 2), "a refused page moves nothing")
    }
}
