import Contracts
import GRDB
import Messaging
import ServiceKit

/// Users, API keys, wallets and payments.
enum PaymentService: BackendService {
    static let name = ServiceName.payment
    static let abstract = "Users, API keys, wallets and payments."

    /// The tables arrive with the service's business methods; until then the file is only opened.
    static var migrator: DatabaseMigrator { DatabaseMigrator() }

    static func assemble(_ context: ServiceContext) async throws -> ServiceAssembly {
        // `payment.ping` is answered by the RPC server itself.
        ServiceAssembly(handlers: RPCHandlers())
    }
}
