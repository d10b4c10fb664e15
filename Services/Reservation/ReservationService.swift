import ArgumentParser
import Contracts
import GRDB
import Logging
import Messaging
import ServiceKit
import ServiceLifecycle

/// The reservation saga: holds a seat, takes the payment, compensates lapsed holds and failures.
enum ReservationService: BackendService {
    static let name = ServiceName.reservation
    static let abstract = "The reservation saga: holds a seat, takes the payment, compensates lapsed holds and failures."

    static var migrator: DatabaseMigrator { ReservationDatabase.migrator }
    static var publishesFromOutbox: Bool { true }
    static var extraCommands: [any ParsableCommand.Type] { [ReconcileCommand.self] }

    static func assemble(_ context: AssemblyContext) async throws -> ServiceAssembly {
        let peers = try PeerClients([.concert, .payment, .queue], configuration: context.configuration, logger: context.logger)
        let parts = try assemble(database: context.database, peers: peers, rules: BookingRules(context.configuration),
                                 publisher: context.publisher, clock: SystemClock(), logger: context.logger)
        // Unfinished sagas resume before the server takes requests, so none is mistaken for a new one's.
        try await parts.runner.resumeAll()
        // The clients close last, after every loop that calls through them has stopped.
        return ServiceAssembly(handlers: parts.handlers, loops: [peers] + parts.loops)
    }

    /// Everything the service runs over an opened database and its peers' clients: what `serve`
    /// runs, and what tests run with their own clock, endpoints and rules.
    struct Parts {
        let bookings: Bookings
        let runner: SagaRunner
        let expiry: HoldExpiry
        let tokenExpiry: PayerTokenExpiry
        let relay: OutboxRelay
        let purge: IdempotencyPurgeLoop
        let reconciler: Reconciler

        var handlers: RPCHandlers { ReservationHandlers.handlers(bookings, reconciler: reconciler) }
        /// In start order; they stop in reverse: the sagas stop before the relay publishes its last events.
        var loops: [any Service] { [relay, purge, tokenExpiry, runner, expiry] }
    }

    static func assemble(database writer: any DatabaseWriter, peers: PeerClients, rules: BookingRules, publisher: EventPublisher,
                         clock: any WallClock, logger: Logger, interruption: SagaRunner.Interruption? = nil) throws -> Parts {
        let database = ReservationDatabase(writer)
        let relay = try OutboxRelay(writer: writer, publisher: publisher, clock: clock, logger: logger)
        let tokenExpiry = PayerTokenExpiry(database: database, peers: peers, logger: logger)
        let runner = SagaRunner(database: database, peers: peers, clock: clock, logger: logger, relay: relay,
                                afterPayment: { tokenExpiry.nudge() }, interruption: interruption)
        let bookings = Bookings(database: database, runner: runner, rules: rules, relay: relay)
        return Parts(bookings: bookings, runner: runner,
                     expiry: HoldExpiry(database: database, runner: runner, relay: relay, logger: logger),
                     tokenExpiry: tokenExpiry, relay: relay,
                     purge: IdempotencyPurgeLoop(writer: writer, clock: clock, logger: logger),
                     reconciler: Reconciler(database: database, runner: runner, relay: relay, logger: logger))
    }
}
