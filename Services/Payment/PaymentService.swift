import Contracts
import GRDB
import Messaging
import ServiceKit

/// Users, API keys, wallets and payments.
enum PaymentService: BackendService {
    static let name = ServiceName.payment
    static let abstract = "Users, API keys, wallets and payments."

    static var migrator: DatabaseMigrator { PaymentDatabase.migrator }

    static func assemble(_ context: AssemblyContext) async throws -> ServiceAssembly {
        let publisher = context.publisher
        let logger = context.logger
        let cashier = Cashier(database: PaymentDatabase(context.database), clock: SystemClock()) { type, event in
            do {
                try publisher.publish(type, event)
            } catch {
                // The change has committed; a lost event is a gap subscribers can see and recover.
                logger.error("event not published", metadata: ["event.type": .string(type), "event.error": .string("\(error)")])
            }
        }
        let purge = IdempotencyPurgeLoop(writer: context.database, clock: SystemClock(), logger: logger)
        return ServiceAssembly(handlers: PaymentHandlers.handlers(cashier), loops: [purge])
    }
}
