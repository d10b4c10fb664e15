import Logging
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
    }

    /// How ServiceLifecycle names it in logs.
    var description: String { "HoldSweeper" }

    func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "sweeping lapsed holds failed") { [catalog, logger] in
            let swept = try await catalog.sweepLapsedHolds()
            if swept > 0 { logger.debug("swept lapsed holds", metadata: ["concert.swept": .stringConvertible(swept)]) }
        }
    }
}
