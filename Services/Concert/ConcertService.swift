import Contracts
import GRDB
import Messaging
import ServiceKit

/// The catalog: concerts, their schedules and seats, and seat holds.
enum ConcertService: BackendService {
    static let name = ServiceName.concert
    static let abstract = "The catalog: concerts, their schedules and seats, and seat holds."

    /// The tables arrive with the service's business methods; until then the file is only opened.
    static var migrator: DatabaseMigrator { DatabaseMigrator() }

    static func assemble(_ context: ServiceContext) async throws -> ServiceAssembly {
        // `concert.ping` is answered by the RPC server itself.
        ServiceAssembly(handlers: RPCHandlers())
    }
}
