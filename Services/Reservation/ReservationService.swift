import Contracts
import GRDB
import Messaging
import ServiceKit

/// The reservation saga: holds a seat, takes the payment, compensates lapsed holds and failures.
enum ReservationService: BackendService {
    static let name = ServiceName.reservation
    static let abstract = "The reservation saga: holds a seat, takes the payment, compensates lapsed holds and failures."

    /// The tables arrive with the service's business methods; until then the file is only opened.
    static var migrator: DatabaseMigrator { DatabaseMigrator() }

    static func assemble(_ context: ServiceContext) async throws -> ServiceAssembly {
        // `reservation.ping` is answered by the RPC server itself.
        ServiceAssembly(handlers: RPCHandlers())
    }
}
