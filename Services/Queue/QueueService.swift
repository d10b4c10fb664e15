import Contracts
import GRDB
import Messaging
import ServiceKit

/// The waiting room: issues queue tokens and admits them in arrival order.
enum QueueService: BackendService {
    static let name = ServiceName.queue
    static let abstract = "The waiting room: issues queue tokens and admits them in arrival order."

    /// The tables arrive with the service's business methods; until then the file is only opened.
    static var migrator: DatabaseMigrator { DatabaseMigrator() }

    static func assemble(_ context: ServiceContext) async throws -> ServiceAssembly {
        // `queue.ping` is answered by the RPC server itself.
        ServiceAssembly(handlers: RPCHandlers())
    }
}
