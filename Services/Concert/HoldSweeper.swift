import Logging
import Messaging
import Metrics
import ServiceKit
import ServiceLifecycle

/// Makes lapsed holds available again about once a second, so that at rest every schedule's
/// `remain_ticket` equals its available seats (CONTRACT §4). Reads never wait for it: they already
/// show a lapsed hold as available.
struct HoldSweeper: Service, CustomStringConvertible {
    let catalog: Catalog
    let interval: Duration
    let logger: Logger

    init(catalog: Catalog, interval: Duration = .seconds(1), logger: Logger) {
        self.catalog = catalog
        self.interval = interval
        self.logger = logger
        _ = Self.lapsed
    }

    /// Seats whose hold lapsed and that the sweeper made available again (`concert_holds_lapsed_total`).
    private static let lapsed = StackMetrics.counter("concert_holds_lapsed_total")

    /// How ServiceLifecycle names it in logs.
    var description: String { "HoldSweeper" }

    func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "sweeping lapsed holds failed") { [catalog, logger] in
            let swept = try await catalog.sweepLapsedHolds()
            if swept > 0 {
                logger.debug("swept lapsed holds", metadata: ["concert.swept": .stringConvertible(swept)])
                Self.lapsed.increment(by: Int64(swept))
            }
        }
    }
}
