import Contracts
import GRDB
import Logging
import Messaging
import ServiceKit

/// The catalog: concerts, their schedules and seats, and seat holds.
enum ConcertService: BackendService {
    static let name = ServiceName.concert
    static let abstract = "The catalog: concerts, their schedules and seats, and seat holds."

    static var migrator: DatabaseMigrator { ConcertDatabase.migrator }

    static func assemble(_ context: AssemblyContext) async throws -> ServiceAssembly {
        let publisher = context.publisher
        let logger = context.logger
        let catalog = Catalog(database: ConcertDatabase(context.database), clock: SystemClock()) { event in
            do {
                try event.publish(on: publisher)
            } catch {
                logger.warning("event not published", metadata: ["concert.error": .string("\(error)")])
            }
        }
        try await seed(catalog, when: context.configuration.seedDemo, logger: logger)
        return ServiceAssembly(handlers: ConcertHandlers.handlers(catalog),
                               loops: [HoldSweeper(catalog: catalog, logger: logger)])
    }

    /// Seeds the demo catalog when `SEED_DEMO` asks for it and there are no concerts yet.
    static func seed(_ catalog: Catalog, when seedDemo: Bool, logger: Logger) async throws {
        guard seedDemo, try await catalog.seedDemoIfEmpty() else { return }
        logger.info("seeded the demo catalog", metadata: ["concert.concerts": .stringConvertible(DemoCatalog.concerts.count)])
    }
}
