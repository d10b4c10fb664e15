import Contracts
import Foundation
import GRDB
import Logging
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import ConcertService
@testable import PaymentService
@testable import QueueService
@testable import ReservationService

/// One reservation service as a process would run it: its parts over its own SQLite file, its
/// RPC server, its clients to the peers and its event publisher. Stopping it is the "crash" of
/// these tests: its sagas stop where they are, and only the file remains.
struct ReservationInstance {
    let parts: ReservationService.Parts
    let server: RPCServer
    let peers: PeerClients
    let publisher: EventPublisher

    var bookings: Bookings { parts.bookings }
    var runner: SagaRunner { parts.runner }

    func stop() async {
        parts.runner.stop()
        await server.stop()
        await peers.close()
        await publisher.stop()
    }
}

/// The saga's world in one process (DESIGN §4): concert, payment and queue as their real handler
/// tables behind real RPC servers on private `ipc://` endpoints, each over its own SQLite file,
/// all reading one clock the test moves; and a reservation service that calls them over those
/// sockets, started, stopped and started again at will.
final class SagaWorld: @unchecked Sendable {
    let folder: TemporaryDirectory
    let clock: ManualClock
    let rules: BookingRules
    let catalog: Catalog
    let cashier: Cashier
    let concertFile: DatabasePool
    let paymentFile: DatabasePool
    let reservationFile: DatabasePool
    /// The test's own clients to the peers, and to the reservation service.
    let peers: PeerClients
    let client: RPCClient
    private let queueHandlers: RPCHandlers
    private var concertServer: RPCServer?
    private var otherServers: [RPCServer] = []
    private(set) var reservation: ReservationInstance!

    static let logger: Logger = {
        var logger = Logger(label: "saga-world")
        logger.logLevel = .critical
        return logger
    }()

    /// - Parameters:
    ///   - holdSeconds: `HOLD_SECONDS`; the clock is moved by hand, so any value works.
    ///   - base: where the SQLite files go (the race test puts them in memory-backed `/dev/shm`).
    init(holdSeconds: TimeInterval = 300, maxHolds: Int = 4, base: String? = nil,
         interruption: SagaRunner.Interruption? = nil) async throws {
        folder = try base.map { try TemporaryDirectory(in: $0, "saga") } ?? TemporaryDirectory("saga")
        clock = ManualClock(Date())
        rules = BookingRules(holdSeconds: holdSeconds, maxHoldsPerUser: maxHolds)
        let folder = self.folder
        // Opening and migrating a file waits on the disk; that is done off Swift's cooperative
        // threads, which the other suites running meanwhile need for their deadlines.
        (concertFile, paymentFile, reservationFile) = try await offCooperativePool {
            (try DatabaseOpener.openPool(path: folder.file("concert.sqlite"), migrator: ConcertService.migrator),
             try DatabaseOpener.openPool(path: folder.file("payment.sqlite"), migrator: PaymentService.migrator),
             try DatabaseOpener.openPool(path: folder.file("reservation.sqlite"), migrator: ReservationService.migrator))
        }
        let queueFile = try await offCooperativePool { try DatabaseOpener.openPool(path: folder.file("queue.sqlite"), migrator: QueueService.migrator) }
        catalog = Catalog(database: ConcertDatabase(concertFile), clock: clock)
        cashier = Cashier(database: PaymentDatabase(paymentFile), clock: clock) { _, _ in }
        let silent = EventPublisher(source: "queue", endpoint: folder.ipc("queue.events"), logger: Self.logger)
        queueHandlers = try await QueueService.assemble(
            database: queueFile, rules: QueueRules(admitPerSecond: 100, maxActive: 100, activeSeconds: 600, idleSeconds: 600),
            publisher: silent, logger: Self.logger, clock: clock).handlers
        peers = try PeerClients(endpoints: [.concert: folder.ipc("concert"), .payment: folder.ipc("payment"),
                                            .queue: folder.ipc("queue")], logger: Self.logger)
        client = try RPCClient(endpoint: folder.ipc("reservation"), logger: Self.logger, defaultTimeout: .seconds(10))
        try startConcert()
        for (name, handlers) in [("payment", PaymentHandlers.handlers(cashier)), ("queue", queueHandlers)] {
            let server = RPCServer(service: name, endpoint: folder.ipc(name), handlers: handlers, logger: Self.logger)
            try server.start()
            otherServers.append(server)
        }
        try await startReservation(interruption: interruption)
    }

    /// Stops everything and removes the folder.
    func close() async {
        await reservation?.stop()
        await client.close()
        await peers.close()
        await concertServer?.stop()
        for server in otherServers { await server.stop() }
        folder.remove()
    }

    // MARK: Processes coming and going

    /// Starts a reservation service over the file, resuming whatever sagas it holds.
    func startReservation(interruption: SagaRunner.Interruption? = nil) async throws {
        let peers = try PeerClients(endpoints: [.concert: folder.ipc("concert"), .payment: folder.ipc("payment"),
                                                .queue: folder.ipc("queue")], logger: Self.logger)
        let numbering = try Outbox.numbering(reservationFile)
        let publisher = EventPublisher(source: "reservation", endpoint: folder.ipc("reservation.events"), logger: Self.logger,
                                       epoch: numbering.epoch, lastSequence: numbering.publishedThrough)
        try publisher.start()
        let parts = try ReservationService.assemble(database: reservationFile, peers: peers, rules: rules, publisher: publisher,
                                                    clock: clock, logger: Self.logger, interruption: interruption)
        let server = RPCServer(service: "reservation", endpoint: folder.ipc("reservation"), handlers: parts.handlers, logger: Self.logger)
        try server.start()
        reservation = ReservationInstance(parts: parts, server: server, peers: peers, publisher: publisher)
        try await parts.runner.resumeAll()
    }

    /// Stops the reservation service where it is and starts a new one over the same file.
    func restartReservation(interruption: SagaRunner.Interruption? = nil) async throws {
        await reservation.stop()
        try await startReservation(interruption: interruption)
    }

    func startConcert() throws {
        let server = RPCServer(service: "concert", endpoint: folder.ipc("concert"), handlers: ConcertHandlers.handlers(catalog), logger: Self.logger)
        try server.start()
        concertServer = server
    }

    func stopConcert() async {
        await concertServer?.stop()
        concertServer = nil
    }

    // MARK: Setting the scene

    /// A new user whose wallet holds `balance`.
    func user(balance: Int64 = 0) async throws -> Int64 {
        let user = try await cashier.createUser(CreateUser(name: "fan"))
        if balance > 0 { try await charge(user.id, balance) }
        return user.id
    }

    func charge(_ userId: Int64, _ amount: Int64) async throws {
        _ = try await cashier.charge(Charge(userId: userId, amount: amount, idempotencyKey: UUID().uuidString))
    }

    /// A concert with one schedule open now: `seats` seats at `price`; answers their ids by number.
    func seats(_ count: Int = 5, price: Int = 50_000, closesIn: TimeInterval = 86_400) async throws -> [Int64] {
        let now = clock.now()
        let schedule = NewSchedule(startsAt: now.addingTimeInterval(closesIn + 3600), reservationStartAt: now.addingTimeInterval(-3600),
                                   reservationEndAt: now.addingTimeInterval(closesIn), seatCount: count, price: price)
        let concert = try await catalog.createConcert(CreateConcert(title: "Saga", description: "", schedules: [schedule]))
        let map = try WireCodec.decoder.decode(SeatMap.self, from: try await catalog.seats(ScheduleRef(scheduleId: concert.schedules[0].id)))
        return try #require(map.seats).map(\.id)
    }

    // MARK: Calls, over the reservation service's socket

    func reserve(_ userId: Int64, _ seatId: Int64) async throws -> ReservationView {
        try await client.call(ReservationAPI.reserve, Reserve(userId: userId, seatId: seatId)).reservation
    }

    /// Pays, and, like a real client, answers "unknown" (a machine too busy to finish the saga in
    /// time) by waiting for the saga and asking again with the same key, unless `learnOutcome` is off.
    func pay(_ userId: Int64, _ reservationId: Int64, key: String = UUID().uuidString, learnOutcome: Bool = true) async throws -> PaymentView {
        let request = Pay(userId: userId, reservationId: reservationId, idempotencyKey: key)
        do {
            return try await client.call(ReservationAPI.pay, request)
        } catch let error as RemoteError where error.code == ReservationAPI.Code.serviceUnavailable && learnOutcome {
            _ = try await eventually(timeout: .seconds(10)) { try await reservation.runner.database.saga(of: reservationId) == nil }
            return try await client.call(ReservationAPI.pay, request)
        }
    }

    func cancel(_ userId: Int64, _ reservationId: Int64) async throws -> ReservationView {
        try await client.call(ReservationAPI.cancel, ReservationRef(userId: userId, reservationId: reservationId))
    }

    func get(_ userId: Int64, _ reservationId: Int64) async throws -> ReservationView {
        try await client.call(ReservationAPI.get, ReservationRef(userId: userId, reservationId: reservationId))
    }

    func list(_ userId: Int64) async throws -> [ReservationView] {
        try await client.call(ReservationAPI.list, ReservationQuery(userId: userId))
    }

    // MARK: Looking at the world

    func balance(_ userId: Int64) async throws -> Int64 {
        try await cashier.balance(UserRef(userId: userId)).balance
    }

    func ledgerKinds(_ userId: Int64) async throws -> [String] {
        try await cashier.transactions(TransactionsQuery(userId: userId)).reversed().map(\.kind)
    }

    func seat(_ seatId: Int64) async throws -> SeatDetail {
        try await catalog.seat(SeatRef(seatId: seatId))
    }

    func payments(of reservationId: Int64) async throws -> Int {
        try await paymentFile.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM payment WHERE reservation_id = ?", arguments: ["\(reservationId)"]) ?? 0
        }
    }

    func issueToken(_ userId: Int64) async throws -> String {
        try await peers[.queue].call(QueueAPI.issue, IssueToken(userId: userId)).view.token
    }

    func tokenStatus(_ userId: Int64, _ token: String) async throws -> TokenStatus {
        try await peers[.queue].call(QueueAPI.status, TokenQuery(userId: userId, token: token)).status
    }

    /// Lets the world come to rest: sweeps lapsed holds in both services, waits for every saga to
    /// end, and runs the payer-token expiries. Answers whether every saga ended in time.
    @discardableResult
    func settle(timeout: Duration = .seconds(10)) async throws -> Bool {
        try await catalog.sweepLapsedHolds()
        try await reservation.parts.expiry.sweep()
        let ended = try await eventually(timeout: timeout, interval: .milliseconds(10)) {
            try await reservation.parts.runner.database.sagas().isEmpty
        }
        while try await reservation.parts.tokenExpiry.expirePending() {}
        try await reservation.parts.relay.publishPending()
        return ended
    }

    var invariants: StorageInvariants {
        StorageInvariants(concert: concertFile, payment: paymentFile, reservation: reservationFile)
    }

    /// Brings the world to rest and expects every invariant of CONTRACT §4 to hold on the files.
    func expectInvariants(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let settled = try await settle()
        let unfinished = try invariants.sagasFinished()
        #expect(settled, "sagas left unfinished: \(unfinished)", sourceLocation: sourceLocation)
        let violations = try invariants.violations(now: clock.now())
        #expect(violations.isEmpty, "\(violations)", sourceLocation: sourceLocation)
    }
}

/// Runs blocking work (file opening, fsyncs) on a dispatch thread and awaits its result.
func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// Runs `body` in a fresh world and always closes it.
func withWorld<T>(holdSeconds: TimeInterval = 300, maxHolds: Int = 4, base: String? = nil,
                  interruption: SagaRunner.Interruption? = nil, _ body: (SagaWorld) async throws -> T) async throws -> T {
    let world = try await SagaWorld(holdSeconds: holdSeconds, maxHolds: maxHolds, base: base, interruption: interruption)
    do {
        let result = try await body(world)
        await world.close()
        return result
    } catch {
        await world.close()
        throw error
    }
}

/// The code a call is refused with, nil when it succeeds, or a description of any other failure.
func refusal(_ body: () async throws -> some Any) async -> String? {
    do {
        _ = try await body()
        return nil
    } catch let error as RemoteError {
        return error.code
    } catch {
        return "\(error)"
    }
}
