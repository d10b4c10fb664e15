import Contracts
import Foundation
import Logging
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import ConcertService

/// The concert service's real handler table behind a real `RPCServer`, called over sockets.
@Suite("Concert over the wire", .timeLimit(.minutes(2)))
struct ConcertServiceTests {
    static let logger: Logger = {
        var logger = Logger(label: "concert-test")
        logger.logLevel = .warning
        return logger
    }()

    /// A running server over a fresh in-memory catalog, a connected client, and a way to stop both.
    struct Running {
        let fixture: ConcertFixture
        let served: ServedHandlers
        var server: RPCServer { served.server }
        var client: RPCClient { served.client }

        init() throws {
            fixture = try ConcertFixture()
            served = try ServedHandlers(service: ServiceName.concert.rawValue, handlers: ConcertHandlers.handlers(fixture.catalog))
        }

        func stop() async { await served.stop() }

        func errorCode(_ method: String, _ body: String) async throws -> String? {
            try await served.errorCode(method, body)
        }

        func refusal<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async -> String? {
            await served.refusal(method, request)
        }
    }

    @Test("every method answers over the wire: catalog reads, a hold's life, and creating a concert")
    func everyMethod() async throws {
        let running = try Running()
        let client = running.client
        let now = running.fixture.now
        #expect(try await client.call(ServiceName.concert.ping, Empty()).service == "concert")

        let created = try await client.call(ConcertAPI.createConcert, CreateConcert(
            title: "서울 재즈 나이트 · Seoul Jazz Night", description: "jazz",
            schedules: [running.fixture.openSchedule(3, price: 88_000)], requestId: "admin-1"))
        #expect(try await client.call(ConcertAPI.createConcert, CreateConcert(title: "other", description: "", schedules: [
            running.fixture.openSchedule(1)], requestId: "admin-1")) == created)
        let concerts = try await client.call(ConcertAPI.listConcerts, Empty())
        #expect(concerts == [ConcertSummary(id: created.id, title: "서울 재즈 나이트 · Seoul Jazz Night", description: "jazz")])

        let schedules = try await client.call(ConcertAPI.schedules, ConcertRef(concertId: created.id))
        #expect(schedules == created.schedules)
        let schedule = try #require(schedules.first)
        #expect(schedule.remainingSeats == 3)

        let map = try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id)))
        #expect(map.seats.map(\.number) == [1, 2, 3])
        #expect(map.seats.allSatisfy { $0.price == 88_000 && $0.status == .available })
        let seatId = map.seats[1].id

        let seat = try await client.call(ConcertAPI.seat, SeatRef(seatId: seatId))
        #expect(seat.scheduleId == schedule.id && seat.concertId == created.id && seat.number == 2 && seat.price == 88_000)
        #expect(seat.reservationStartAt == schedule.reservationStartAt && seat.reservationEndAt == schedule.reservationEndAt)

        let until = now.addingTimeInterval(300)
        let held = try await client.call(ConcertAPI.hold, HoldSeat(seatId: seatId, reservationId: "res-1", until: until))
        #expect(held.status == .reserving && held.heldUntil == until && held.reservationId == "res-1")
        #expect(try await client.call(ConcertAPI.hold, HoldSeat(seatId: seatId, reservationId: "res-1", until: until.addingTimeInterval(5))) == held)
        #expect(await running.refusal(ConcertAPI.hold, HoldSeat(seatId: seatId, reservationId: "res-2", until: until)) == "seat_unavailable")

        let extended = try await client.call(ConcertAPI.extend, HoldSeat(seatId: seatId, reservationId: "res-1", until: until.addingTimeInterval(30)))
        #expect(extended.heldUntil == until.addingTimeInterval(30))
        #expect(await running.refusal(ConcertAPI.extend, HoldSeat(seatId: seatId, reservationId: "res-2", until: until)) == "hold_lapsed")

        #expect(await running.refusal(ConcertAPI.confirm, SeatClaim(seatId: seatId, reservationId: "res-2")) == "seat_unavailable")
        let sold = try await client.call(ConcertAPI.confirm, SeatClaim(seatId: seatId, reservationId: "res-1"))
        #expect(sold.status == .sold)
        #expect(try await client.call(ConcertAPI.confirm, SeatClaim(seatId: seatId, reservationId: "res-1")) == sold)
        #expect(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id)).seats?[1].status == .sold)
        #expect(try await client.call(ConcertAPI.schedules, ConcertRef(concertId: created.id)).first?.remainingSeats == 2)

        #expect(try await client.call(ConcertAPI.release, SeatClaim(seatId: seatId, reservationId: "res-2")) == sold)
        let released = try await client.call(ConcertAPI.release, SeatClaim(seatId: seatId, reservationId: "res-1"))
        #expect(released.status == .available && released.reservationId == nil)
        #expect(try await client.call(ConcertAPI.release, SeatClaim(seatId: seatId, reservationId: "res-1")) == released)
        let after = try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id)))
        #expect(after.version > map.version)
        try await running.fixture.expectCountsTrue()
        await running.stop()
    }

    @Test("concert.seats leaves the seats out for a version the caller has, and answers a kept map exactly as a fresh read")
    func seatMapVersions() async throws {
        let running = try Running()
        let client = running.client
        let fixture = running.fixture
        let (schedule, seats) = try await fixture.schedule(seats: 3)
        let first = try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id)))
        // Asked again, the kept body answers; with the version the caller has, only the version comes back.
        #expect(try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id))) == first)
        let unchanged = try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id, knownVersion: first.version))
        #expect(unchanged.seats == nil && unchanged.version == first.version && unchanged.scheduleId == schedule.id)

        // A hold is a new version, whatever the caller says it knows; then the hold lapses with time alone.
        _ = try await fixture.hold(seats[1].id, for: "r1", seconds: 30)
        let held = try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id, knownVersion: first.version)))
        #expect(held.version > first.version && held.seats.map(\.status) == [.available, .reserving, .available])
        #expect(held == (try await fixture.seatMap(schedule.id)))
        fixture.clock.advance(by: 31)
        let lapsed = try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id, knownVersion: held.version)))
        #expect(lapsed.version > held.version && lapsed.seats.map(\.status) == [.available, .available, .available])
        #expect(lapsed == (try await fixture.seatMap(schedule.id)))
        #expect(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id, knownVersion: lapsed.version)).seats == nil)
        // The body as concert encoded it, for a caller that passes it on; refusals are thrown as by `call`.
        let raw = try await client.callForBody(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id))
        #expect(try ShownMap(WireCodec.decoder.decode(SeatMap.self, from: raw)) == lapsed)
        await #expect(throws: RemoteError.self) { try await client.callForBody(ConcertAPI.seats, ScheduleRef(scheduleId: 424_242)) }
        // An unknown version (newer, or from another schedule's tag) gets the whole map.
        #expect(try ShownMap(try await client.call(ConcertAPI.seats, ScheduleRef(scheduleId: schedule.id, knownVersion: lapsed.version + 7))) == lapsed)
        await running.stop()
    }

    @Test("a seat map kept in memory is dropped by its schedule's next commit, never kept from a read older than one, and shown until just before its first lapse")
    func shownMapsFollowCommits() async throws {
        let fixture = try ConcertFixture()
        let maps = fixture.catalog.database.shownMaps
        let (schedule, seats) = try await fixture.schedule(seats: 3)
        let (other, otherSeats) = try await fixture.schedule(seats: 2)
        let first = try await fixture.seatMap(schedule.id)
        _ = try await fixture.seatMap(other.id)
        let kept = try #require(maps.shown(of: schedule.id, at: fixture.now))
        #expect(kept.version == first.version && kept.until == nil)

        // A read that began before a commit (its mark taken then) cannot keep what it read.
        let mark = maps.mark(of: schedule.id)
        _ = try await fixture.hold(seats[1].id, for: "r1", seconds: 30)
        #expect(maps.shown(of: schedule.id, at: fixture.now) == nil)
        maps.keep(kept, of: schedule.id, readSince: mark)
        #expect(maps.shown(of: schedule.id, at: fixture.now) == nil)
        // Another schedule's commit leaves this one's map alone.
        #expect(maps.shown(of: other.id, at: fixture.now) != nil)

        let held = try await fixture.seatMap(schedule.id)
        let heldKept = try #require(maps.shown(of: schedule.id, at: fixture.now))
        #expect(heldKept.version == held.version && held.version > first.version)
        let until = try #require(heldKept.until)
        #expect(abs(until.timeIntervalSince(fixture.now) - (30 - 0.001)) < 0.000_01)
        // Answered from memory right up to a millisecond before the hold lapses, then read again.
        fixture.clock.advance(by: 30 - 0.002)
        #expect(try fixture.catalog.seatsAtOnce(ScheduleRef(scheduleId: schedule.id)) != nil)
        fixture.clock.advance(by: 0.001)
        #expect(try fixture.catalog.seatsAtOnce(ScheduleRef(scheduleId: schedule.id)) == nil)
        fixture.clock.advance(by: 0.001)
        let lapsed = try await fixture.seatMap(schedule.id)
        #expect(lapsed.version > held.version && lapsed.seats.map(\.status) == [.available, .available, .available])

        // Each kind of seat write drops the map, so the next answer shows it.
        for write in ["hold", "extend", "confirm", "release"] {
            let before = try await fixture.seatMap(other.id)
            #expect(try fixture.catalog.seatsAtOnce(ScheduleRef(scheduleId: other.id, knownVersion: before.version)) != nil)
            switch write {
            case "hold": _ = try await fixture.hold(otherSeats[0].id, for: "r2", seconds: 60)
            case "extend": _ = try await fixture.extend(otherSeats[0].id, for: "r2", seconds: 120)
            case "confirm": _ = try await fixture.confirm(otherSeats[0].id, for: "r2")
            default: _ = try await fixture.release(otherSeats[0].id, for: "r2")
            }
            #expect(try fixture.catalog.seatsAtOnce(ScheduleRef(scheduleId: other.id)) == nil, "\(write) drops the kept map")
            #expect(try await fixture.seatMap(other.id).version > before.version, "\(write) shows a new version")
        }
    }

    @Test("unknown ids are not_found and business refusals keep their codes")
    func refusals() async throws {
        let running = try Running()
        let until = running.fixture.now.addingTimeInterval(60)
        #expect(await running.refusal(ConcertAPI.schedules, ConcertRef(concertId: 42)) == "not_found")
        #expect(await running.refusal(ConcertAPI.seats, ScheduleRef(scheduleId: 42)) == "not_found")
        #expect(await running.refusal(ConcertAPI.seat, SeatRef(seatId: 42)) == "not_found")
        #expect(await running.refusal(ConcertAPI.hold, HoldSeat(seatId: 42, reservationId: "r", until: until)) == "not_found")
        #expect(await running.refusal(ConcertAPI.extend, HoldSeat(seatId: 42, reservationId: "r", until: until)) == "not_found")
        #expect(await running.refusal(ConcertAPI.confirm, SeatClaim(seatId: 42, reservationId: "r")) == "not_found")
        #expect(await running.refusal(ConcertAPI.release, SeatClaim(seatId: 42, reservationId: "r")) == "not_found")
        let (_, seats) = try await running.fixture.schedule()
        let past = running.fixture.now.addingTimeInterval(-1)
        #expect(await running.refusal(ConcertAPI.hold, HoldSeat(seatId: seats[0].id, reservationId: "r", until: past)) == "invalid_request")
        #expect(await running.refusal(ConcertAPI.createConcert, CreateConcert(title: "", description: "", schedules: [])) == "invalid_request")
        await running.stop()
    }

    /// Bodies that are not what a method takes: each must get `bad_request`, never a crash.
    static let malformed: [(method: String, body: String)] = [
        ("concert.schedules", #"{}"#),
        ("concert.schedules", #"{"concertId": "1"}"#),
        ("concert.schedules", #"{"concertId": null}"#),
        ("concert.schedules", #"{"concertId": 1.5}"#),
        ("concert.seats", #"{"scheduleId": 1e30}"#),
        ("concert.seats", #"{"scheduleId": 99999999999999999999}"#),
        ("concert.seat", #"{"seatId": [1]}"#),
        ("concert.seat", #"[]"#),
        ("concert.hold", #"{"seatId": 1, "reservationId": "r"}"#),
        ("concert.hold", #"{"seatId": 1, "reservationId": 7, "until": "2027-01-15T08:00:00Z"}"#),
        ("concert.hold", #"{"seatId": 1, "reservationId": "r", "until": "tomorrow"}"#),
        ("concert.hold", #"{"seatId": 1, "reservationId": "r", "until": 1800000000}"#),
        ("concert.extend", #"{"seatId": true, "reservationId": "r", "until": "2027-01-15T08:00:00Z"}"#),
        ("concert.confirm", #"{"seatId": 1}"#),
        ("concert.release", #"{"reservationId": "r"}"#),
        ("concert.createConcert", #"{"title": 5, "schedules": []}"#),
        ("concert.createConcert", #"{"title": "t"}"#),
        ("concert.createConcert", #"{"title": "t", "schedules": [{"startsAt": "2027-01-15T08:00:00Z", "price": 1}]}"#),
        ("concert.createConcert", #"{"title": "t", "schedules": [{"startsAt": "2027-01-15T08:00:00Z", "reservationStartAt": "2027-01-15T08:00:00Z", "reservationEndAt": "2027-01-16T08:00:00Z", "price": "free"}]}"#),
        ("concert.createConcert", #"{"title": "t", "schedules": [{"startsAt": "2027-01-15T08:00:00Z", "reservationStartAt": "2027-01-15T08:00:00Z", "reservationEndAt": "2027-01-16T08:00:00Z", "price": 1, "seatCount": 1e100}]}"#),
    ]

    @Test("wrong types, missing fields and absurd numbers get bad_request", arguments: malformed.indices)
    func badRequests(index: Int) async throws {
        let (method, body) = Self.malformed[index]
        let running = try Running()
        #expect(try await running.errorCode(method, body) == "bad_request", "\(method) \(body)")
        await running.stop()
    }

    @Test("a request body may be omitted for listConcerts, and an unknown method is named")
    func envelopeEdges() async throws {
        let running = try Running()
        let reply = try await running.client.callRaw(method: "concert.listConcerts", body: Data("null".utf8), idempotent: true)
        #expect(try WireCodec.decodeReplyHead(reply).ok)
        #expect(try await running.errorCode("concert.nothing", "{}") == "unknown_method")
        await running.stop()
    }

    @Test("seat changes are published as seat.held, seat.sold and seat.released, in order")
    func eventsGoOut() async throws {
        let folder = try TemporaryDirectory("concert-events")
        defer { folder.remove() }
        let publisher = EventPublisher(source: "concert", endpoint: folder.ipc("events"), logger: Self.logger)
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [folder.ipc("events")], topics: ["seat."], logger: Self.logger)
        try subscriber.start()
        let fixture = try ConcertFixture()
        let catalog = Catalog(database: ConcertDatabase(fixture.writer), clock: fixture.clock) { event in
            try? event.publish(on: publisher)
        }
        let (schedule, seats) = try await fixture.schedule()
        // A subscriber misses what is sent before it has joined: announce until one arrives.
        var iterator = subscriber.events.makeAsyncIterator()
        let joined = Task {
            for attempt in 0..<200 {
                _ = try? publisher.publish("seat.joined", ["attempt": attempt])
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        while let next = await iterator.next() {
            if case .event = next { break }
        }
        joined.cancel()
        _ = await joined.result

        let until = fixture.now.addingTimeInterval(60)
        _ = try await catalog.hold(HoldSeat(seatId: seats[0].id, reservationId: "r1", until: until))
        _ = try await catalog.confirm(SeatClaim(seatId: seats[0].id, reservationId: "r1"))
        _ = try await catalog.release(SeatClaim(seatId: seats[0].id, reservationId: "r1"))
        var received: [(String, Data)] = []
        while received.count < 3, let next = await iterator.next() {
            if case .event(let event) = next, event.head.type != "seat.joined" { received.append((event.head.type, event.frame)) }
        }
        #expect(received.map(\.0) == ["seat.held", "seat.sold", "seat.released"])
        if received.count == 3 {
            #expect(try WireCodec.decodeBody(SeatHeld.self, from: received[0].1)
                == SeatHeld(seatId: seats[0].id, scheduleId: schedule.id, reservationId: "r1", until: until))
            #expect(try WireCodec.decodeBody(SeatSold.self, from: received[1].1)
                == SeatSold(seatId: seats[0].id, scheduleId: schedule.id, reservationId: "r1"))
            #expect(try WireCodec.decodeBody(SeatReleased.self, from: received[2].1)
                == SeatReleased(seatId: seats[0].id, scheduleId: schedule.id, reservationId: "r1", lapsed: false))
        }
        await subscriber.stop()
        await publisher.stop()
    }
}
