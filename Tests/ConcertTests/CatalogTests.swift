import Contracts
import Foundation
import Logging
import Messaging
import Testing
@testable import ConcertService

/// Concerts, schedules and the demo catalog, on in-memory databases.
@Suite("Catalog")
struct CatalogTests {
    @Test("schedules lists only those open for reservation now that still have seats")
    func schedulesFilter() async throws {
        let fixture = try ConcertFixture()
        let now = fixture.now
        let concert = try await fixture.catalog.createConcert(CreateConcert(title: "Filters", description: "d", schedules: [
            fixture.openSchedule(2),
            // Not open yet, closed already, closing exactly now.
            NewSchedule(startsAt: now.addingTimeInterval(9000), reservationStartAt: now.addingTimeInterval(600),
                        reservationEndAt: now.addingTimeInterval(3600), price: 1),
            NewSchedule(startsAt: now.addingTimeInterval(9000), reservationStartAt: now.addingTimeInterval(-7200),
                        reservationEndAt: now.addingTimeInterval(-1), price: 1),
            NewSchedule(startsAt: now.addingTimeInterval(9000), reservationStartAt: now.addingTimeInterval(-7200),
                        reservationEndAt: now, price: 1),
            // Open, starting earlier: listed first.
            fixture.openSchedule(1, startingIn: 24),
        ]))
        // The reply keeps the order given; the list is by performance time.
        let (later, earlier) = (concert.schedules[0], concert.schedules[4])
        #expect(concert.schedules.map(\.remainingSeats) == [2, 50, 50, 50, 1])
        #expect(try await fixture.catalog.schedules(ConcertRef(concertId: concert.id)) == [earlier, later])

        let seat = try await fixture.seatMap(earlier.id).seats[0]
        _ = try await fixture.hold(seat.id, for: "r1", seconds: 60)
        let open = try await fixture.catalog.schedules(ConcertRef(concertId: concert.id))
        #expect(open.map(\.id) == [later.id])
        #expect(open.map(\.remainingSeats) == [2])
        fixture.clock.advance(by: 60)
        #expect(try await fixture.catalog.schedules(ConcertRef(concertId: concert.id)).map(\.id) == [earlier.id, later.id])
    }

    @Test("schedules and seats of unknown ids are not_found; a concert without open schedules lists none")
    func unknownIds() async throws {
        let fixture = try ConcertFixture()
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.catalog.schedules(ConcertRef(concertId: 1)) }
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.seatMap(1) }
        let (schedule, _) = try await fixture.schedule()
        fixture.clock.advance(by: 86_400)
        #expect(try await fixture.catalog.schedules(ConcertRef(concertId: schedule.concertId)).isEmpty)
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.catalog.schedules(ConcertRef(concertId: schedule.concertId + 1)) }
        await expectRefusal(ConcertAPI.Code.notFound) { try await fixture.seatMap(schedule.id + 1) }
    }

    @Test("a new concert gets seats numbered 1…seatCount at its price, 50 by default, and is listed")
    func createConcert() async throws {
        let fixture = try ConcertFixture()
        let now = fixture.now
        let body = """
            {"title": "  New Year Gala  ", "schedules": [
              {"startsAt": "2027-02-01T19:00:00Z", "reservationStartAt": "2027-01-01T00:00:00Z", "reservationEndAt": "2027-01-31T00:00:00Z", "price": 70000},
              {"startsAt": "2027-02-02T19:00:00Z", "reservationStartAt": "2027-01-01T00:00:00Z", "reservationEndAt": "2027-01-31T00:00:00Z", "price": 1, "seatCount": 3}]}
            """
        let request = try WireCodecFixtures.decode(CreateConcert.self, body)
        let concert = try await fixture.catalog.createConcert(request)
        #expect(concert.title == "New Year Gala")
        #expect(concert.description == "")
        #expect(concert.schedules.map(\.remainingSeats) == [50, 3])
        let first = try await fixture.seatMap(concert.schedules[0].id)
        #expect(first.seats.map(\.number) == Array(1...50))
        #expect(Set(first.seats.map(\.price)) == [70000])
        #expect(Set(first.seats.map(\.status)) == [.available])
        #expect(try await fixture.seatMap(concert.schedules[1].id).seats.map(\.price) == [1, 1, 1])
        #expect(try await fixture.catalog.listConcerts() == [ConcertSummary(id: concert.id, title: "New Year Gala", description: "")])
        #expect(concert.schedules[0].startsAt > now)
        try await fixture.expectCountsTrue()
    }

    @Test("creating again with the same requestId answers the first concert")
    func createIsKeyed() async throws {
        let fixture = try ConcertFixture()
        let request = CreateConcert(title: "Keyed", description: "", schedules: [fixture.openSchedule(2)], requestId: "admin-1")
        let first = try await fixture.catalog.createConcert(request)
        #expect(try await fixture.catalog.createConcert(request) == first)
        let other = try await fixture.catalog.createConcert(CreateConcert(title: "Keyed", description: "", schedules: [fixture.openSchedule(2)]))
        #expect(other.id != first.id)
        #expect(try await fixture.catalog.listConcerts().count == 2)
    }

    /// Ways a `createConcert` request can be wrong, each refused with `invalid_request`.
    static let invalidConcerts: [(String, @Sendable (NewSchedule) -> CreateConcert)] = [
        ("empty title", { CreateConcert(title: "", description: "", schedules: [$0]) }),
        ("blank title", { CreateConcert(title: " \n\t ", description: "", schedules: [$0]) }),
        ("title over 200", { CreateConcert(title: String(repeating: "가", count: 201), description: "", schedules: [$0]) }),
        ("description over 5000", { CreateConcert(title: "t", description: String(repeating: "d", count: 5001), schedules: [$0]) }),
        ("no schedules", { _ in CreateConcert(title: "t", description: "", schedules: []) }),
        ("51 schedules", { CreateConcert(title: "t", description: "", schedules: Array(repeating: $0, count: 51)) }),
        ("empty requestId", { CreateConcert(title: "t", description: "", schedules: [$0], requestId: "") }),
        ("window ends at its start", { CreateConcert(title: "t", description: "", schedules: [
            NewSchedule(startsAt: $0.startsAt, reservationStartAt: $0.reservationEndAt, reservationEndAt: $0.reservationEndAt, price: 1)]) }),
        ("window ends before its start", { CreateConcert(title: "t", description: "", schedules: [
            NewSchedule(startsAt: $0.startsAt, reservationStartAt: $0.reservationEndAt, reservationEndAt: $0.reservationStartAt, price: 1)]) }),
        ("no seats", { CreateConcert(title: "t", description: "", schedules: [with($0, seatCount: 0)]) }),
        ("1001 seats", { CreateConcert(title: "t", description: "", schedules: [with($0, seatCount: 1001)]) }),
        ("negative price", { CreateConcert(title: "t", description: "", schedules: [with($0, price: -1)]) }),
        ("free seats", { CreateConcert(title: "t", description: "", schedules: [with($0, price: 0)]) }),
        ("price over 10,000,000", { CreateConcert(title: "t", description: "", schedules: [with($0, price: 10_000_001)]) }),
        ("a date in the year 9999", { CreateConcert(title: "t", description: "", schedules: [
            NewSchedule(startsAt: Date(timeIntervalSince1970: 253_402_000_000), reservationStartAt: $0.reservationStartAt,
                        reservationEndAt: $0.reservationEndAt, price: 1)]) }),
    ]

    static func with(_ schedule: NewSchedule, seatCount: Int? = nil, price: Int? = nil) -> NewSchedule {
        NewSchedule(startsAt: schedule.startsAt, reservationStartAt: schedule.reservationStartAt,
                    reservationEndAt: schedule.reservationEndAt, seatCount: seatCount ?? schedule.seatCount, price: price ?? schedule.price)
    }

    @Test("createConcert refuses what is out of bounds, and creates nothing", arguments: invalidConcerts.indices)
    func createRefusesInvalid(index: Int) async throws {
        let (_, make) = Self.invalidConcerts[index]
        let fixture = try ConcertFixture()
        await expectRefusal(ConcertAPI.Code.invalidRequest) { try await fixture.catalog.createConcert(make(fixture.openSchedule())) }
        #expect(try await fixture.catalog.listConcerts().isEmpty)
    }

    @Test("the limits themselves are accepted: 200-character title, 50 schedules, 1000 seats, prices 1 and 10,000,000")
    func createAcceptsLimits() async throws {
        let fixture = try ConcertFixture()
        let base = fixture.openSchedule()
        let schedules = [Self.with(base, seatCount: 1000, price: 10_000_000), Self.with(base, seatCount: 1, price: 1)]
            + Array(repeating: base, count: 48)
        let concert = try await fixture.catalog.createConcert(CreateConcert(title: String(repeating: "가", count: 200), description: "", schedules: schedules))
        #expect(concert.schedules.count == 50)
        #expect(try await fixture.seatMap(concert.schedules[0].id).seats.count == 1000)
    }

    @Test("the demo catalog is seeded into an empty database when asked: 3+ concerts, 2+ open schedules of 50 priced seats")
    func seedsDemo() async throws {
        let fixture = try ConcertFixture()
        try await ConcertService.seed(fixture.catalog, when: true, logger: Logger(label: "test"))
        let concerts = try await fixture.catalog.listConcerts()
        #expect(concerts.count >= 3)
        for concert in concerts {
            #expect(!concert.title.isEmpty && !concert.description.isEmpty)
            let schedules = try await fixture.catalog.schedules(ConcertRef(concertId: concert.id))
            #expect(schedules.count >= 2)
            for schedule in schedules {
                #expect(schedule.reservationStartAt <= fixture.now)
                #expect(schedule.reservationEndAt >= fixture.now.addingTimeInterval(30 * 86_400))
                #expect(schedule.remainingSeats == 50)
                let seats = try await fixture.seatMap(schedule.id).seats
                #expect(seats.map(\.number) == Array(1...50))
                #expect(seats.allSatisfy { (50_000...150_000).contains($0.price) })
            }
        }
        // Still open, with every seat, on the last day of the window.
        fixture.clock.advance(by: 30 * 86_400 - 1)
        #expect(try await fixture.catalog.schedules(ConcertRef(concertId: concerts[0].id)).count >= 2)
        try await fixture.expectCountsTrue()
    }

    @Test("seeding happens only into an empty database, and only with the flag")
    func seedsOnlyWhenEmptyAndAsked() async throws {
        let logger = Logger(label: "test")
        let unflagged = try ConcertFixture()
        try await ConcertService.seed(unflagged.catalog, when: false, logger: logger)
        #expect(try await unflagged.catalog.listConcerts().isEmpty)

        let seeded = try ConcertFixture()
        try await ConcertService.seed(seeded.catalog, when: true, logger: logger)
        let first = try await seeded.catalog.listConcerts()
        try await ConcertService.seed(seeded.catalog, when: true, logger: logger)
        #expect(try await seeded.catalog.listConcerts() == first)

        let busy = try ConcertFixture()
        _ = try await busy.schedule()
        #expect(try await busy.catalog.seedDemoIfEmpty() == false)
        #expect(try await busy.catalog.listConcerts().count == 1)
    }
}

/// Decoding request bodies the way the RPC server does.
enum WireCodecFixtures {
    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try WireCodec.decoder.decode(T.self, from: Data(json.utf8))
    }
}
