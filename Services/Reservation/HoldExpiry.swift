import Foundation
import Logging
import Messaging
import Metrics
import ServiceKit
import ServiceLifecycle

/// Cancels reservations whose hold has lapsed, about twice a second, and starts their compensation
/// (release the seat, only if the hold is still this reservation's). A reservation a payment is
/// working on is left alone: the payment's saga decides its fate (DESIGN §4).
struct HoldExpiry: Service, CustomStringConvertible {
    let database: ReservationDatabase
    let runner: SagaRunner
    let relay: OutboxRelay?
    let interval: Duration
    let logger: Logger

    init(database: ReservationDatabase, runner: SagaRunner, relay: OutboxRelay?, interval: Duration = .milliseconds(500), logger: Logger) {
        self.database = database
        self.runner = runner
        self.relay = relay
        self.interval = interval
        self.logger = logger
        _ = Self.lapsedCount
    }

    var description: String { "HoldExpiry" }

    /// Reservations canceled because their hold lapsed (`reservation_holds_lapsed_total`).
    private static let lapsedCount = StackMetrics.counter("reservation_holds_lapsed_total")

    func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "expiring lapsed holds failed") { try await sweep() }
    }

    /// Cancels every lapsed hold now and starts releasing their seats; answers how many.
    @discardableResult
    func sweep() async throws -> Int {
        var total = 0
        while true {
            let lapsed = try await database.expireLapsedHolds(now: runner.clock.now())
            if !lapsed.isEmpty {
                relay?.nudge()
                for id in lapsed { runner.drive(id) }
                logger.debug("holds lapsed", metadata: ["saga.count": .stringConvertible(lapsed.count)])
                Self.lapsedCount.increment(by: Int64(lapsed.count))
            }
            total += lapsed.count
            if lapsed.count < 500 { return total }
        }
    }
}
